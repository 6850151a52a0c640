"""Bad input: one clear line per problem, exit code 2, no traceback, nothing written."""

import os

import pytest

from cli.main import main

GOOD_HEAD = """\
name: bad
firms:
  - {name: A, strategy: clasp}
  - {name: B, strategy: zipper}
simulation: {customers: 300, periods: 12, replications: 1}
"""

CASES = {
    # case: (file text, expected line, pieces the message must contain)
    "yaml syntax error": (
        "name: bad\nmarket:\n  setting: [traditional\n  repair_window: 4\n",
        4,
        ["YAML syntax error: expected ',' or ']'"],
    ),
    "unknown key": (
        GOOD_HEAD + "market:\n  setting: ecommerce\n  repair_windw: 4\n",
        8,
        ["market.repair_windw: unknown field; did you mean 'repair_window'?"],
    ),
    "wrong type": (
        GOOD_HEAD.replace("customers: 300", "customers: many"),
        5,
        ["simulation.customers: expected an integer, got 'many'"],
    ),
    "out of range": (
        GOOD_HEAD + "market: {repair_window: 500}\n",
        6,
        ["market.repair_window: 500 is out of range; allowed: 0 <= value <= 120"],
    ),
    "unknown strategy": (
        GOOD_HEAD.replace("strategy: zipper", "strategy: zippr"),
        4,
        ["firms.1.strategy: unknown strategy 'zippr'; valid strategies: clasp, zipper, velcro"],
    ),
    "unknown setting": (
        GOOD_HEAD + "market: {setting: online}\n",
        6,
        ["market.setting: unknown setting 'online'; valid settings: traditional, ecommerce"],
    ),
    "unknown swept setting": (
        GOOD_HEAD + "sweep:\n  grid:\n    market.setting: [traditional, onlin]\n",
        8,
        ["market.setting: unknown setting 'onlin'", "valid settings: traditional, ecommerce"],
    ),
    "empty sweep": (GOOD_HEAD + "sweep:\n  grid: {}\n", 6, ["sweep: empty sweep"]),
    "empty sweep list": (
        GOOD_HEAD + "sweep:\n  grid:\n    market.setting: []\n",
        8,
        ["empty sweep: give at least one value"],
    ),
    "sweep path that does not exist": (
        GOOD_HEAD + "sweep:\n  grid:\n    market.repair_windw: [2, 4]\n",
        8,
        ["no such parameter", "did you mean 'repair_window'?"],
    ),
    "sweep index out of range": (
        GOOD_HEAD + "sweep:\n  grid:\n    firms.5.strategy: [clasp]\n",
        8,
        ["firms has 2 entries (indices 0..1)"],
    ),
    "dotted path directly under sweep": (
        GOOD_HEAD + "sweep:\n  market.setting: [traditional, ecommerce]\n",
        7,
        ["put it under 'grid'"],
    ),
    "bad range": (
        GOOD_HEAD + "sweep:\n  zip:\n    market.repair_window: {start: 6, stop: 2, step: 1}\n",
        8,
        ["stop (2) must be at least start (6)"],
    ),
    "not a mapping": ("- just\n- a list\n", 1, ["a scenario must be a mapping"]),
    "empty file": ("", None, ["the file is empty"]),
    "dask without address": (
        GOOD_HEAD + "execution: {engine: dask}\n",
        6,
        ["execution: engine 'dask' needs an address"],
    ),
}


def assert_clean_failure(result, out_dir):
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    assert not out_dir.exists()


def expected_message(path, case) -> tuple[str, list[str]]:
    _, line, pieces = CASES[case]
    return (f"{path}:{line}: " if line else f"{path}: "), pieces


def has_message(lines, prefix, pieces) -> bool:
    return any(line.startswith(prefix) and all(p in line for p in pieces) for line in lines)


@pytest.mark.parametrize("case", list(CASES))
def test_bad_scenario_file(case, write_scenario, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = write_scenario(CASES[case][0], name="bad.yaml")
    out = tmp_path / "out"
    assert main(["run", str(path), "--out", str(out), "--workers", "1"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert has_message(captured.err.splitlines(), *expected_message(path, case)), captured.err
    assert not out.exists()
    assert not (tmp_path / "results").exists()  # nor the default folder


def test_the_command_reports_every_bad_file_without_a_traceback(write_scenario, run_cli):
    paths = {
        case: write_scenario(text, name=f"bad{i}.yaml")
        for i, (case, (text, _, _)) in enumerate(CASES.items())
    }
    result = run_cli("validate", *paths.values())
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    for case, path in paths.items():
        assert has_message(lines, *expected_message(path, case)), (case, result.stderr)


def test_the_run_command_exits_2_without_a_traceback_or_a_folder(write_scenario, run_cli, tmp_path):
    path = write_scenario(CASES["unknown key"][0], name="bad.yaml")
    result = run_cli("run", path)
    assert_clean_failure(result, tmp_path / "results")
    assert result.stderr.strip() == (
        f"{path}:8: market.repair_windw: unknown field; did you mean 'repair_window'?"
    )


def test_every_problem_gets_its_own_line(write_scenario, capsys):
    path = write_scenario(
        GOOD_HEAD.replace("strategy: zipper", "strategy: zippr")
        + "market: {repair_windw: 4, imitation: 2}\n",
        name="bad.yaml",
    )
    assert main(["validate", str(path)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 3, lines
    assert [line.split(":")[1] for line in lines] == ["4", "6", "6"]


def test_missing_file(run_cli, tmp_path):
    result = run_cli("run", "nowhere.yaml", "--out", tmp_path / "out")
    assert_clean_failure(result, tmp_path / "out")
    assert result.stderr.strip() == "nowhere.yaml: no such file"


def test_output_folder_under_a_file(write_scenario, run_cli, tmp_path):
    path = write_scenario()
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    out = blocker / "results"
    result = run_cli("run", path, "--out", out)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip() == (
        f"error: results folder {out}: cannot be created, {blocker} is a file"
    )
    assert blocker.read_text() == "not a folder"


def test_output_path_that_is_a_file(write_scenario, tmp_path, capsys):
    out = tmp_path / "results.txt"
    out.write_text("keep me")
    assert main(["run", str(write_scenario()), "--out", str(out)]) == 2
    assert f"results folder {out}: exists and is not a folder" in capsys.readouterr().err
    assert out.read_text() == "keep me"


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_output_folder_without_write_permission(write_scenario, tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        code = main(["run", str(write_scenario()), "--out", str(locked / "results")])
    finally:
        locked.chmod(0o700)
    assert code == 2
    assert "not writable (permission denied)" in capsys.readouterr().err
    assert not (locked / "results").exists()


@pytest.mark.parametrize("exists", [True, False], ids=["existing folder", "new folder"])
def test_output_folder_the_user_may_not_write(
    exists, write_scenario, tmp_path, capsys, monkeypatch
):
    # as root every folder is writable, so deny write access the way the OS would report it
    locked = tmp_path / "locked"
    locked.mkdir()
    out = locked if exists else locked / "results"
    real_access = os.access
    monkeypatch.setattr(
        os,
        "access",
        lambda path, mode: (
            False if os.fspath(path) == os.fspath(locked) else real_access(path, mode)
        ),
    )
    assert main(["run", str(write_scenario()), "--out", str(out)]) == 2
    assert "not writable (permission denied)" in capsys.readouterr().err
    assert list(locked.iterdir()) == []


def test_invalid_input_leaves_an_existing_results_folder_untouched(
    write_scenario, tmp_path, snapshot, capsys
):
    out = str(tmp_path / "results")
    good = write_scenario(name="good.yaml")
    assert main(["run", str(good), "--out", out, "--workers", "1", "--quiet"]) == 0
    before = snapshot(tmp_path / "results")
    bad = write_scenario(GOOD_HEAD + "market: {repair_window: -1}\n", name="bad.yaml")
    assert main(["run", str(bad), "--out", out, "--workers", "1"]) == 2
    assert snapshot(tmp_path / "results") == before
    # resuming with a different scenario is refused before anything is touched
    other = write_scenario(GOOD_HEAD, name="other.yaml")
    capsys.readouterr()
    assert main(["run", str(other), "--out", out, "--resume", "--workers", "1"]) == 2
    assert "holds runs of a different scenario" in capsys.readouterr().err
    assert snapshot(tmp_path / "results") == before


def test_unreachable_dask_scheduler(write_scenario, tmp_path, capsys):
    out = tmp_path / "results"
    assert (
        main(["run", str(write_scenario()), "--out", str(out), "--dask", "tcp://127.0.0.1:9"]) == 2
    )
    assert "cannot connect to the Dask scheduler at tcp://127.0.0.1:9" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize(
    ("flag", "value"), [("--workers", "0"), ("--seed", "-3"), ("--replications", "x")]
)
def test_bad_command_line_values(flag, value, write_scenario, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["run", str(write_scenario()), "--out", str(tmp_path / "o"), flag, value])
    assert exit_.value.code == 2
    assert f"argument {flag}" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
