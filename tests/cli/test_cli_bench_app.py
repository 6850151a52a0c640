"""The bench and app subcommands of run.py: wiring and bad input."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run_py(*args):
    return subprocess.run(
        [sys.executable, "run.py", *args], cwd=ROOT, capture_output=True, text=True, timeout=120
    )


def test_bench_prints_one_json_object_with_the_documented_keys():
    done = run_py("bench", "--customers", "2000", "--steps", "3", "--json")
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout)
    for key in (
        "ns_per_customer_step",
        "construct_s",
        "peak_rss_mb",
        "customers",
        "steps",
        "impl",
        "bytes_per_customer",
    ):
        assert key in figures
    assert figures["customers"] == 2000 and figures["steps"] == 3
    assert figures["impl"] == "engine" and figures["ns_per_customer_step"] > 0


def test_bench_sweep_accounts_for_the_time_inside_and_outside_the_runs():
    done = run_py(
        "bench",
        "--sweep",
        "--runs",
        "4",
        "--customers",
        "300",
        "--steps",
        "4",
        "--workers",
        "2",
        "--json",
    )
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout)
    assert (figures["impl"], figures["runs"], figures["workers"]) == ("sweep", 4, 2)
    assert 0 < figures["run_s"] <= 2 * figures["wall_s"]
    assert figures["parts_s"] + figures["tables_s"] == pytest.approx(figures["wall_s"])
    assert figures["outside_share"] == pytest.approx(1 - figures["run_s"] / (2 * figures["wall_s"]))


def test_bench_help_and_bad_option():
    assert "--impl" in run_py("bench", "--help").stdout
    assert "--sweep" in run_py("bench", "--help").stdout
    bad = run_py("bench", "--impl", "fortran")
    assert bad.returncode == 2 and "invalid choice" in bad.stderr


def test_app_refuses_a_missing_scenario_without_a_traceback(tmp_path):
    done = run_py("app", str(tmp_path / "missing.yaml"))
    assert done.returncode == 2
    assert "missing.yaml: no such file" in done.stderr
    assert "Traceback" not in done.stderr


def test_bench_scenario_reports_the_peaks_the_wall_ratio_and_the_report_time(tmp_path):
    scenario = tmp_path / "tiny.yaml"
    scenario.write_text(
        "name: tiny\nfirms: [{name: A, policies: [{name: onboarding}]}, {name: B}]\n"
        "simulation: {customers: 200, periods: 6, seed: 5, replications: 3}\n"
        "sweep: {grid: {market.setting: [traditional, ecommerce]}}\n",
        encoding="utf-8",
    )
    done = run_py("bench", "--sweep", "--scenario", str(scenario), "--replications", "2", "--json")
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout)
    assert (figures["impl"], figures["runs"], figures["workers"]) == ("scenario", 4, 2)
    assert figures["run_s_per_worker"] == pytest.approx(figures["run_s"] / 2)
    assert figures["wall_ratio"] == pytest.approx(figures["wall_s"] / figures["run_s_per_worker"])
    assert figures["main_peak_rss_mb"] > 0 and figures["worker_peak_rss_mb"] > 0
    assert figures["report_s"] > 0 and figures["report_peak_rss_mb"] > 0


def test_bench_runs_on_the_threads_asked_for():
    done = run_py("bench", "--customers", "2000", "--steps", "2", "--threads", "1", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["threads"] == 1


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="Linux only")
def test_the_peak_after_a_reset_leaves_out_what_came_before():
    """A compiler's peak before the model (the first run after installing) is not the model's."""
    import numpy as np

    from benchmarks.bench import current_rss_bytes, peak_rss_bytes, reset_peak_rss

    scratch = np.ones(300 * 2**20 // 8)  # 300 MB touched, then freed: a peak before the model
    del scratch
    assert peak_rss_bytes() > current_rss_bytes() + 250 * 2**20
    assert reset_peak_rss()
    assert peak_rss_bytes() < current_rss_bytes() + 50 * 2**20


def test_bench_table_and_compare_give_a_figure_per_size_threads_and_implementation():
    done = run_py("bench", "--table", "--sizes", "1000,3000", "--steps", "2", "--repeat", "1")
    assert done.returncode == 0, done.stderr
    assert "| 1,000 |" in done.stdout and "| 3,000 |" in done.stdout and "2 threads" in done.stdout
    done = run_py(
        "bench", "--compare", "--customers", "500", "--steps", "2", "--repeat", "1", "--json"
    )
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout)
    assert (figures["customers"], figures["steps"]) == (500, 2)
    for threads in (1, 2):
        assert figures[f"ratio_{threads}"] == pytest.approx(
            figures["mesa_ns"][0] / figures[f"engine_{threads}_ns"][0]
        )
    assert figures["mesa_ns"][0] > figures["engine_1_ns"][0] > 0


def test_prepare_loads_the_engine_and_says_so_when_it_must_compile(monkeypatch, capsys):
    from cli.main import main
    from sim import cache as model

    assert main(["prepare"]) == 0
    assert "engine ready" in capsys.readouterr().out
    assert model.engine_ready()  # compiled now, or loaded from the cache
    monkeypatch.setattr(model, "engine_ready", lambda: False)  # as after installing
    assert main(["prepare"]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("preparing the engine (first run after install")


def test_a_run_on_a_cold_cache_says_so_and_compiles_once_before_its_workers(
    monkeypatch, capsys, tmp_path, tiny_text
):
    import subprocess as subprocess_module

    from cli import main as cli_main
    from sim import cache as model

    scenario = tmp_path / "tiny.yaml"
    scenario.write_text(tiny_text)
    children = []
    real_run = subprocess_module.run

    def run_and_record(command, *arguments, **options):
        if command[0] == sys.executable:  # not the manifest's git
            children.append(command)
        return real_run(command, *arguments, **options)

    monkeypatch.setattr(model, "engine_ready", lambda: False)  # as after installing
    monkeypatch.setattr(cli_main.subprocess, "run", run_and_record)
    out = tmp_path / "out"
    arguments = ["run", str(scenario), "--out", str(out), "--workers", "2", "--no-report"]
    assert cli_main.main(arguments) == 0
    err = capsys.readouterr().err
    assert err.count("preparing the engine (first run after install") == 1
    assert [c[-1] for c in children] == ["from sim import warm_up; warm_up()"]  # one compile
    assert (out / "runs.parquet").exists()
    monkeypatch.setattr(model, "engine_ready", lambda: True)  # compiled: nothing said or run
    children.clear()
    arguments[3] = str(tmp_path / "again")
    assert cli_main.main(arguments) == 0
    assert "preparing the engine" not in capsys.readouterr().err and not children


def test_cold_start_times_processes_that_import_a_fresh_copy_of_sim(monkeypatch):
    """The plumbing of ``bench --cold-start`` (the real probe compiles for a minute or more)."""
    from benchmarks import series

    probe = "import sim, pathlib; assert 'crm-sim-cold-' in sim.__file__"
    # no compiled kernels came with the copy (this probe compiles none either)
    probe += "; assert not list(pathlib.Path(sim.__file__).parent.glob('__pycache__/*.nb?'))"
    monkeypatch.setattr(series, "FIRST_STEP", probe)
    result = series.cold_start(repeat=2)
    assert result["repeat"] == 2 and result["cold_s"] > 0 and result["cold_cpu_s"] > 0
    assert result["warm_low_s"] <= result["warm_s"] <= result["warm_high_s"]
    # to the first step (reported by the probe) is part of the whole process
    assert 0 < result["warm_s"] <= result["warm_process_s"]
    assert 0 < result["warm_cpu_s"] <= result["warm_process_cpu_s"] + 0.01
    # the first process ran under the compile profile (this probe compiles nothing)
    assert result["compile"]["cpu_s"] > 0 and result["compile"]["functions"] == {}
    text = series.cold_start_text(result)
    assert "first process (compiles)" in text and "numba's passes 0.0, in LLVM 0.0" in text


NESTED_COMPILE = """
import numba
import numpy as np

@numba.njit
def inner(x):
    total = 0.0
    for k in range(x.size):
        total += np.exp(x[k]) * np.sin(x[k]) + np.log1p(abs(x[k]))
        total -= np.cos(x[k]) / (1.0 + np.tanh(x[k])) + np.arctan(x[k]) ** 2
        total *= np.sqrt(abs(np.cosh(x[k]) - np.sinh(x[k]))) + np.expm1(x[k])
    return total + np.sum(np.sort(x)) + np.median(x) + np.std(x) + np.var(x)

@numba.njit
def outer(x):
    return inner(x)

outer(np.ones(8))
"""


def test_compile_profile_charges_each_function_its_own_passes_and_llvm(tmp_path):
    """Each compiled function is charged its passes without those of what it compiled."""
    out = tmp_path / "compile.json"
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "compile_profile.py"), str(out), NESTED_COMPILE],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    profile = json.loads(out.read_text())
    functions = profile["functions"]
    assert {"inner", "outer"} <= set(functions)
    assert functions["inner"]["numba"] > 0 and functions["inner"]["llvm"] > 0
    assert functions["outer"]["numba"] > 0 and functions["outer"]["llvm"] > 0
    assert "nopython_type_inference" in profile["passes"]
    # outer compiles inner while typing itself: outer's own passes are the lighter ones
    assert functions["outer"]["numba"] < functions["inner"]["numba"]
    charged = sum(row["numba"] + row["llvm"] for row in functions.values())
    assert charged <= profile["cpu_s"]
    assert sum(profile["passes"].values()) == pytest.approx(charged)


def test_bench_against_steps_two_checkouts_in_turns_and_gives_their_ratio(tmp_path):
    # the other checkout: an engine that takes 50 ms a period, far slower than ours here
    (tmp_path / "sim").mkdir()
    (tmp_path / "sim" / "__init__.py").write_text("")
    (tmp_path / "sim" / "config.py").write_text("def default_config(**sections):\n    return 0\n")
    (tmp_path / "sim" / "model.py").write_text(
        "import time\n\n\nclass CRMModel:\n    def __init__(self, config, rng=None):\n"
        "        pass\n\n    def step(self):\n        time.sleep(0.05)\n"
    )
    done = run_py(
        "bench", "--against", str(tmp_path), "--customers", "2000", "--steps", "3",
        "--repeat", "2", "--json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout)
    assert (figures["customers"], figures["steps"], len(figures["ratios"])) == (2000, 3, 2)
    assert figures["other_ns_per_customer_step"] >= 0.05 / 2000 * 1e9
    assert 0 < figures["ratio"] < 0.5  # ours: about 2 ms a period at 2,000 customers
    bad = run_py("bench", "--against", str(tmp_path / "sim"))
    assert bad.returncode == 2 and "not a crm-sim checkout" in bad.stderr
