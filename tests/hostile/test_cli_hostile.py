"""Issue 23, points 5 and 6: the command line refuses, in one line and with nothing written, what
would exhaust the machine or crash it; a bug prints one line and the log of its traceback.

Each case gave a traceback or ran on main.
"""

import os
import tempfile

import pytest
from hostile_helpers import one_line_error

import cli.main as cli_main
from experiments import resources

SMALL = "firms: [{name: A, strategy: clasp}]\nsimulation: {customers: 20, periods: 2, seed: 1}\n"


def test_app_port_out_of_range(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli_main.main(["app", "--port", "99999"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "--port: a port is 1 to 65535, got 99999 (see run.py app --help)" in one_line_error(err)


def test_too_many_workers(write, cli, tmp_path, capsys):
    scenario = write(SMALL)
    with pytest.raises(SystemExit) as exit_:
        cli("run", scenario, "--out", tmp_path / "out", "--workers", "10000")
    assert exit_.value.code == 2
    assert f"--workers: at most {resources.max_workers()}" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_too_many_workers_in_the_scenario(write, cli, tmp_path):
    workers = resources.max_workers() + 1
    scenario = write(SMALL + f"execution: {{engine: local, workers: {workers}}}\n")
    code, _, err = cli("run", scenario, "--out", tmp_path / "out")
    assert code == 2
    assert f"execution.workers: {workers} workers; at most" in one_line_error(err)
    assert not (tmp_path / "out").exists()


def test_memory_estimate_refused_with_override(write, cli, tmp_path, monkeypatch):
    scenario = write(SMALL)
    monkeypatch.setattr(resources, "machine_memory", lambda: 10_000_000)  # a 10 MB machine
    code, _, err = cli("run", scenario, "--out", tmp_path / "out", "--workers", "1")
    assert code == 2
    line = one_line_error(err)
    assert "simulation.customers: 20 customers x 1,000 B x 1 worker" in line
    assert "--ignore-memory" in line
    assert not (tmp_path / "out").exists()
    code, _, err = cli(
        "run", scenario, "--out", tmp_path / "out", "--workers", "1", "--ignore-memory", "-q"
    )
    assert code == 0, err


def test_memory_not_checked_for_a_remote_cluster(write, monkeypatch):
    scenario = cli_main.load_scenario(write(SMALL))
    monkeypatch.setattr(resources, "machine_memory", lambda: 1)
    args = cli_main.build_parser().parse_args(["run", "x.yaml", "--dask", "tcp://10.0.0.5:8786"])
    assert cli_main._resource_problem(args, scenario, 1) is None
    args = cli_main.build_parser().parse_args(["run", "x.yaml"])
    assert cli_main._resource_problem(args, scenario, 1) is not None


def test_bad_dask_address(write, cli, tmp_path):
    scenario = write(SMALL)
    code, _, err = cli("run", scenario, "--out", tmp_path / "out", "--dask", "not an address")
    assert code == 2
    assert "cannot connect to the Dask scheduler at not an address" in one_line_error(err)
    assert not (tmp_path / "out").exists()


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    folder = tmp_path_factory.mktemp("results") / "out"
    scenario = folder.parent / "small.yaml"
    scenario.write_text(SMALL, encoding="utf-8")
    assert cli_main.main(["run", scenario, "--out", folder, "--workers", "1", "-q"]) == 0
    return folder


@pytest.mark.parametrize("date", ["9999-12-31", "0001-01-01"])
def test_export_dates_out_of_range(date, results, cli, tmp_path):
    out = tmp_path / "export"
    code, _, err = cli("export", results, "--transactions", "--start-date", date, "--out", out)
    assert code == 2
    line = one_line_error(err)
    assert f"--start-date {date}" in line and "1677-09-22 to 2262-04-11" in line
    assert not out.exists()


def test_internal_error_one_line_and_a_log(write, cli, tmp_path, monkeypatch):
    def broken(args):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(cli_main, "validate_command", broken)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    code, _, err = cli("validate", write(SMALL))
    assert code == 3
    line = one_line_error(err)
    assert line.startswith("error: internal error (ZeroDivisionError: a bug); the traceback is in ")
    logs = list(tmp_path.glob("crm-sim-error-*.log"))
    assert len(logs) == 1 and str(logs[0]) in line
    assert "Traceback" in logs[0].read_text() and "ZeroDivisionError" in logs[0].read_text()
    assert os.path.getsize(logs[0]) > 0


def test_calibrate_target_must_be_a_regular_file(cli, tmp_path):
    scenario = cli_main.Path(__file__).parents[2] / "scenarios" / "calibrate_example.yaml"
    out = tmp_path / "out"
    code, _, err = cli("calibrate", scenario, "--target", "/dev/zero", "--out", out)
    assert code == 2
    assert one_line_error(err) == (
        "/dev/zero: not a regular file (a device, pipe or socket); give the target curve, CSV"
    )
    assert not out.exists()


@pytest.mark.parametrize(
    ("text", "piece"),
    [
        (SMALL, "the dashboard shows 3 firms; this scenario has 1"),
        (
            SMALL.replace("customers: 20", "customers: -1"),
            "simulation.customers: -1 is out of range",
        ),
        ("a: &a [1, *a]\n", "an alias refers to a value that contains it"),
    ],
    ids=["too few firms", "invalid value", "alias cycle"],
)
def test_app_refuses_a_bad_scenario_before_serving(text, piece, write, cli):
    code, _, err = cli("app", write(text))
    assert code == 2
    assert piece in one_line_error(err)
