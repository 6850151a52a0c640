"""Issue 23, points 1 and 2: crm-sim owns its output folders and deletes nothing it did not write;
one process at a time writes into a folder (its lock).

On main, a run into a user's folder or into the scenario's own folder wrote (and cleared) files
there, a second run replaced the first one's results silently, there was no --force and no lock.
"""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hostile_helpers import one_line_error

from store.files import LOCK_FILE, OWNED_MANIFEST, owned_files

ROOT = Path(__file__).resolve().parents[2]
SMALL = "firms: [{name: A, strategy: clasp}]\nsimulation: {customers: 20, periods: 2, seed: 1}\n"


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` with its content."""
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


@pytest.fixture
def scenario(write):
    return write(SMALL)


def run(cli, scenario, out, *extra):
    return cli("run", scenario, "--out", out, "--workers", "1", "-q", "--no-report", *extra)


def test_a_non_empty_folder_crm_sim_did_not_make_is_refused(scenario, cli, tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "runs.parquet").write_bytes(b"the user's own table")
    (mine / "notes.txt").write_text("the user's notes")
    before = snapshot(mine)
    for extra in ((), ("--force",), ("--resume",)):
        code, _, err = run(cli, scenario, mine, *extra)
        assert code == 2
        line = one_line_error(err)
        assert f"results folder {mine}: not empty and not made by crm-sim" in line
        assert "--out" in line
        assert snapshot(mine) == before  # nothing written, nothing deleted


def test_an_empty_folder_is_taken_and_marked(scenario, cli, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = run(cli, scenario, empty)
    assert code == 0, err
    listed = set(owned_files(empty))
    assert {"runs.parquet", "timeseries.parquet", "manifest.json", "summary.md"} <= listed
    assert (empty / OWNED_MANIFEST).is_file() and not (empty / LOCK_FILE).exists()


@pytest.mark.parametrize("where", ["the scenario's folder", "above it"])
def test_an_output_folder_holding_the_scenario_is_refused(where, cli, tmp_path):
    scenario = tmp_path / "project" / "scenarios" / "s.yaml"
    scenario.parent.mkdir(parents=True)
    scenario.write_text(SMALL)
    out = scenario.parent if where == "the scenario's folder" else tmp_path / "project"
    before = snapshot(tmp_path)
    code, _, err = run(cli, scenario, out, "--force")
    assert code == 2
    assert f"results folder {out}: holds the input file {scenario}" in one_line_error(err)
    assert snapshot(tmp_path) == before


def test_an_empty_scenario_folder_that_would_hold_results_is_refused(cli, tmp_path):
    # the scenario's folder is crm-sim's own (an earlier run wrote its marker): still refused
    out = tmp_path / "out"
    out.mkdir()
    (out / OWNED_MANIFEST).write_text("")
    scenario = out / "s.yaml"
    scenario.write_text(SMALL)
    code, _, err = run(cli, scenario, out)
    assert code == 2 and "holds the input file" in one_line_error(err)


def test_earlier_results_need_resume_or_force_and_force_deletes_only_crm_sims_files(
    scenario, cli, tmp_path
):
    out = tmp_path / "out"
    assert run(cli, scenario, out)[0] == 0
    ours = snapshot(out)
    code, _, err = run(cli, scenario, out)
    assert code == 2
    line = one_line_error(err)
    assert f"results folder {out}: holds the results of an earlier run" in line
    assert "--resume" in line and "--force" in line
    assert snapshot(out) == ours
    # the user's files, some named like crm-sim's, in the folder and its subfolders
    users = {
        "notes.txt": b"notes",
        "report.md": b"the user's own report",
        "runs.csv": b"a,b",
        "parts/keep.txt": b"kept",
        "parts/runs/p999-r999.txt": b"not a part",
    }
    for name, data in users.items():
        (out / name).write_bytes(data)
    assert run(cli, scenario, out, "--force")[0] == 0
    after = snapshot(out)
    assert all(after[name] == data for name, data in users.items())
    assert set(owned_files(out)) & set(users) == set()
    assert run(cli, scenario, out, "--resume")[0] == 0


def test_force_with_the_report_keeps_the_users_figures(scenario, cli, tmp_path):
    out = tmp_path / "out"
    assert cli("run", scenario, "--out", out, "--workers", "1", "-q")[0] == 0
    (out / "figures" / "my_chart.png").write_bytes(b"mine")
    assert cli("run", scenario, "--out", out, "--workers", "1", "-q", "--force")[0] == 0
    assert (out / "figures" / "my_chart.png").read_bytes() == b"mine"
    code, _, err = cli("run", scenario, "--out", out, "--workers", "1", "-q", "--no-report")
    assert code == 2 and "--force" in one_line_error(err)


def test_report_refuses_a_folder_crm_sim_did_not_make(scenario, cli, tmp_path):
    out = tmp_path / "out"
    assert run(cli, scenario, out)[0] == 0
    (out / OWNED_MANIFEST).unlink()  # as if a user had made the folder and copied tables in
    before = snapshot(out)
    code, _, err = cli("report", out)
    assert code == 2 and "not made by crm-sim" in one_line_error(err)
    assert snapshot(out) == before


def test_export_refuses_a_users_folder(scenario, cli, tmp_path):
    out = tmp_path / "out"
    assert run(cli, scenario, out)[0] == 0
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "transactions.csv").write_text("the user's")
    code, _, err = cli("export", out, "--transactions", "--out", mine)
    assert code == 2 and f"output folder {mine}: not empty" in one_line_error(err)
    assert snapshot(mine) == {"transactions.csv": b"the user's"}


def test_calibrate_refuses_a_users_folder(cli, tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "calibration.csv").write_text("the user's")
    code, _, err = cli(
        "calibrate",
        ROOT / "scenarios" / "calibrate_example.yaml",
        "--target",
        ROOT / "scenarios" / "targets" / "sbg_regular.csv",
        "--out",
        mine,
    )
    assert code == 2 and "not made by crm-sim" in one_line_error(err)
    assert snapshot(mine) == {"calibration.csv": b"the user's"}


# -- the lock -----------------------------------------------------------------

BIG = """\
firms: [{name: A, strategy: clasp}, {name: B, strategy: zipper}]
simulation: {customers: 3000, periods: 36, seed: 5, replications: 400}
"""


def command(*args: object) -> list[str]:
    return [sys.executable, "run.py", *map(str, args)]


def environment() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


@pytest.mark.slow
def test_a_second_run_into_a_locked_folder_is_refused(tmp_path):
    scenario = tmp_path / "big.yaml"
    scenario.write_text(BIG)
    out = tmp_path / "out"
    first = subprocess.Popen(
        command("run", scenario, "--out", out, "--workers", "1", "-q", "--no-report"),
        cwd=ROOT,
        env=environment(),
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not (out / LOCK_FILE).exists():
            assert first.poll() is None and time.monotonic() < deadline, first.stderr.read()
            time.sleep(0.05)
        for extra in ((), ("--force",)):
            second = subprocess.run(
                command("run", scenario, "--out", out, "-q", *extra),
                cwd=ROOT,
                env=environment(),
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert second.returncode == 2, second.stderr
            line = one_line_error(second.stderr)
            host = socket.gethostname()
            assert f"results folder {out}: in use by crm-sim process {first.pid} on {host}" in line
        assert first.poll() is None  # the first run was not disturbed
        report = subprocess.run(
            command("report", out), cwd=ROOT, env=environment(), capture_output=True, text=True
        )
        assert report.returncode == 2 and "in use by" in one_line_error(report.stderr)
    finally:
        first.terminate()
        first.wait(timeout=60)


def test_a_stale_lock_is_taken_over_with_a_note(scenario, cli, tmp_path):
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # a process id that no longer runs
    out = tmp_path / "out"
    out.mkdir()
    (out / OWNED_MANIFEST).write_text("")
    (out / LOCK_FILE).write_text(f"{gone.pid} {socket.gethostname()}\n")
    code, _, err = run(cli, scenario, out)
    assert code == 0, err
    assert f"note: took over the lock of crm-sim process {gone.pid}" in err
    assert not (out / LOCK_FILE).exists()  # released at the end


HOLD_AND_FORK = """
import os, signal, sys, time
from pathlib import Path
from store import lock
with lock.locked(Path(sys.argv[1])):
    child = os.fork()
    if child == 0:  # a pool worker that outlives its parent by a while
        os.close(1), os.close(2)  # the test reads the parent's output to its end
        time.sleep(60)
        os._exit(0)
    print(child, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)  # the parent dies holding the lock
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_outliving_its_killed_parent_does_not_hold_the_lock(tmp_path):
    """CI once refused a resume after kill -9: a dying pool worker held the inherited flock."""
    from store import lock

    out = tmp_path / "out"
    out.mkdir()
    parent = subprocess.run(
        [sys.executable, "-c", HOLD_AND_FORK, str(out)],
        env=environment(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert parent.returncode == -9, parent.stderr
    child = int(parent.stdout.split()[0])
    try:
        assert lock.pid_alive(child)  # the child still runs: the race CI hit, held open
        notes = []
        with lock.locked(out, note=notes.append):
            pass
        assert notes and "which is no longer running" in notes[0]
    finally:
        os.kill(child, 9)
