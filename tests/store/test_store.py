"""The store on its own: atomic files, the results folder's checks, preparing and provenance.

No model runs here: the store knows files and a scenario's fingerprint (a
string), nothing of scenarios. The parts written by real sweeps, resuming
and combining them are tested end to end in tests/cli/test_cli_sweep.py.
"""

import json

import pandas as pd
import pytest

from store.files import TableAppender, atomic_path, claim, remove_temporary, write_text
from store.parts import PartStore
from store.results import (
    EXPORT_FOLDER,
    OUTPUT_FILES,
    OutputError,
    check_output,
    check_resume,
    environment,
    prepare,
    read_manifest,
    write_manifest,
)


def test_an_atomic_write_that_fails_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "table.txt"
    write_text(target, "old")
    with pytest.raises(RuntimeError), atomic_path(target) as temporary:
        temporary.write_text("half", encoding="utf-8")
        raise RuntimeError("killed mid-write")
    assert target.read_text(encoding="utf-8") == "old"
    assert list(tmp_path.iterdir()) == [target]


def test_remove_temporary_clears_what_a_killed_writer_left(tmp_path):
    (tmp_path / ".runs.parquet.123.tmp").write_text("x")
    (tmp_path / "runs.parquet").write_text("x")
    assert remove_temporary(tmp_path) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["runs.parquet"]


@pytest.mark.parametrize("file_format", ["csv", "parquet"])
def test_table_appender_writes_run_by_run(tmp_path, file_format):
    path = tmp_path / f"t.{file_format}"
    writer = TableAppender(path, file_format)
    writer.append(pd.DataFrame({"a": [1, 2], "b": pd.Categorical(["x", "y"])}))
    writer.append(pd.DataFrame({"a": [3], "b": pd.Categorical(["z"])}))
    writer.close()
    read = pd.read_csv(path) if file_format == "csv" else pd.read_parquet(path)
    assert list(read["a"]) == [1, 2, 3]
    assert list(read["b"].astype(str)) == ["x", "y", "z"]


def test_check_output_refuses_a_file_and_accepts_a_new_folder(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match="exists and is not a folder"):
        check_output(tmp_path / "file")
    with pytest.raises(OutputError, match=r"cannot be created, .* is a file"):
        check_output(tmp_path / "file" / "below")
    check_output(tmp_path / "new" / "deeper")
    assert not (tmp_path / "new").exists()  # nothing written


def test_prepare_clears_earlier_results_unless_resuming(tmp_path):
    folder = tmp_path / "results"
    store = prepare(folder, "abc", resume=False, files={"scenario.yaml": "name: x\n"})
    assert isinstance(store, PartStore)
    assert store.fingerprint() == "abc"
    assert (folder / "scenario.yaml").read_text(encoding="utf-8") == "name: x\n"
    for name in OUTPUT_FILES[:3]:
        write_text(folder / name, "old")  # written by crm-sim: listed as its own
    write_text(claim(folder / EXPORT_FOLDER) / "export.json", "{}")
    (folder / "notes.md").write_text("a user's file")
    (folder / EXPORT_FOLDER / "transactions.csv").write_text("a user's, named like ours")
    prepare(folder, "abc", resume=True)
    assert (folder / OUTPUT_FILES[0]).exists()
    prepare(folder, "def", resume=False)
    assert not any((folder / name).exists() for name in OUTPUT_FILES[:3])
    assert not (folder / EXPORT_FOLDER / "export.json").exists()
    assert (folder / "notes.md").read_text() == "a user's file"
    assert (folder / EXPORT_FOLDER / "transactions.csv").exists()
    assert PartStore(folder / "parts").fingerprint() == "def"


def test_prepare_refuses_a_users_folder(tmp_path):
    (tmp_path / "data.csv").write_text("a user's")
    with pytest.raises(OutputError, match="not made by crm-sim"):
        prepare(tmp_path, "abc", resume=False)
    assert [p.name for p in tmp_path.iterdir()] == ["data.csv"]


def test_check_resume_compares_fingerprints(tmp_path):
    folder = tmp_path / "results"
    assert check_resume(folder, "abc") == 0  # nothing there yet
    prepare(folder, "abc", resume=False)
    assert check_resume(folder, "abc") == 0
    with pytest.raises(OutputError, match="holds runs of a different scenario"):
        check_resume(folder, "other")


def test_the_manifest_round_trips_with_the_environment(tmp_path):
    record = {"scenario": "x", **environment(), "runs": {"total": 0}}
    assert list(environment()) == ["package", "python", "platform", "libraries", "git"]
    write_manifest(tmp_path, record)
    assert read_manifest(tmp_path) == json.loads(json.dumps(record, default=str))
