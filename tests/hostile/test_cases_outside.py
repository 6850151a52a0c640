"""Issue 23, acceptance: malformed scenarios written by an outside tester, who read only the
README, docs/scenarios.md and the shipped scenarios (tests/hostile/cases_outside/).

Each file is refused by ``validate`` and by ``run --out``: exit 2, one line naming the file
and the field (``cases_outside/fields.json``; empty where the problem is the YAML itself and
the line is named instead), no traceback, and nothing written. The cases cover every block
(firms, policies, simulation, market, customers, relationship, sweep, calibrate,
sensitivity, report, execution), out-of-range and non-finite numbers, booleans and dates for
numbers, unknown and misspelt keys, duplicate keys and names, YAML tags, anchors and aliases,
encodings and top-level values that are not a mapping.
"""

import json
import os
import re
from pathlib import Path

import pytest
from hostile_helpers import one_line_error

CASES = Path(__file__).parent / "cases_outside"
FIELDS = json.loads((CASES / "fields.json").read_text(encoding="utf-8"))


def names_field(line: str, field: str) -> bool:
    """Whether ``line`` names the dotted ``field``, written dotted or with brackets."""
    plain = re.sub(r"\['([^']*)'\]", r".\1", line)  # sweep.grid['a.b'] -> sweep.grid.a.b
    return re.search(r"(^|[ .\[])" + re.escape(field) + r"($|[:. \]\[])", plain) is not None


def test_every_case_file_has_its_field():
    assert sorted(FIELDS) == sorted(p.name for p in CASES.glob("*.yaml"))


@pytest.mark.parametrize("name", sorted(FIELDS))
def test_refused_naming_file_and_field_and_writing_nothing(name, cli, tmp_path):
    scenario = CASES / name
    code, _, err = cli("validate", scenario)
    assert code == 2, err
    line = one_line_error(err)
    assert line.startswith(f"{scenario}"), line
    if FIELDS[name]:
        assert names_field(line, FIELDS[name]), line
    else:
        assert line.startswith(f"{scenario}:") or line.startswith(f"{scenario}: "), line
    out = tmp_path / "out"
    code, stdout, err = cli("run", scenario, "--out", out, "-q")
    assert code == 2 and not stdout, err
    assert one_line_error(err) == line
    assert not out.exists() and os.listdir(tmp_path) == []


def special_files(tmp_path: Path) -> dict[str, Path]:
    """What a scenario path may be besides a file: missing, a folder, a pipe, a device."""
    folder = tmp_path / "folder.yaml"
    folder.mkdir()
    pipe = tmp_path / "pipe.yaml"
    os.mkfifo(pipe)
    device = tmp_path / "zero.yaml"
    device.symlink_to("/dev/zero")
    dangling = tmp_path / "dangling.yaml"
    dangling.symlink_to(tmp_path / "nowhere.yaml")
    return {
        "no such file": tmp_path / "missing.yaml",
        "is a directory": folder,
        "not a regular file": pipe,
        "not a regular file ": device,
        "no such file ": dangling,
    }


def test_paths_that_are_not_scenario_files(cli, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    for expected, path in special_files(work).items():
        before = sorted(os.listdir(work))
        for args in (("validate", path), ("run", path, "--out", tmp_path / "out", "-q")):
            code, _, err = cli(*args)
            assert code == 2, err
            assert one_line_error(err).startswith(f"{path}: {expected.strip()}"), err
        assert not (tmp_path / "out").exists() and sorted(os.listdir(work)) == before
