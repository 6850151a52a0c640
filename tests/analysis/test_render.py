"""The report's figures and cohort pooling in forked workers: the same results, safe fallbacks."""

import subprocess
import sys
import textwrap
import threading

import pytest

from analysis import render
from cli.main import main

SCENARIO = """\
name: render
firms:
  - {name: A, strategy: clasp}
  - {name: B, strategy: velcro}
simulation: {customers: 200, periods: 12, seed: 3, replications: 2}
sweep:
  grid:
    market.setting: [traditional, ecommerce]
"""

linux_only = pytest.mark.skipif(sys.platform != "linux", reason="workers are forked on Linux only")


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("render")
    (root / "render.yaml").write_text(SCENARIO)
    out = root / "out"
    assert main(["run", str(root / "render.yaml"), "--out", str(out), "--workers", "1", "-q"]) == 0
    return out


def _python(code: str) -> str:
    """Run ``code`` in a fresh interpreter (alone, so it may fork); return its stdout."""
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@linux_only
def test_figures_drawn_by_workers_are_byte_identical_to_figures_drawn_here(folder):
    out = _python(
        f"""
        from pathlib import Path
        from analysis import render, report

        import pandas as pd

        folder = Path({str(folder)!r})
        results = report.load_results(folder, lean=True)
        runs, paths = pd.read_parquet(folder / "runs.parquet"), results.sweep_paths
        with render.Renderer(workers=2) as workers:
            assert workers.parallel
            pooled = workers.call(report.pooled_cohorts, folder, runs, paths).result()
            forked = {{f.name: f.png for f in report.build(results, None, workers).figures}}
        cohorts = report.pooled_cohorts(folder, runs, paths)
        assert len(cohorts) > 0 and pooled.equals(cohorts)  # pooled by a worker, the same
        here = {{f.name: f.png for f in report.build(results).figures}}
        assert forked.keys() == here.keys() and len(here) >= 7, (forked.keys(), here.keys())
        assert all(forked[name] == here[name] for name in here), [
            name for name in here if forked[name] != here[name]
        ]
        print("same", len(here))
        """
    )
    assert out.split()[0] == "same"


@linux_only
def test_a_figure_whose_worker_dies_is_drawn_here():
    out = _python(
        """
        import os
        from functools import partial
        from analysis import plots, render
        from analysis.report import Figure

        parent = os.getpid()

        def plot():
            if os.getpid() != parent:
                os._exit(9)  # the worker is killed while drawing
            return plots.plt.figure()

        with render.Renderer(workers=2) as renderer:
            assert renderer.parallel
            figure = Figure("x.png", "x", "x", plot, renderer.submit(plot))
            png = figure.png
        assert png[:8] == b"\\x89PNG\\r\\n\\x1a\\n"
        print("drawn here")
        """
    )
    assert out.strip() == "drawn here"


def test_with_another_thread_running_figures_are_drawn_here():
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        assert not render.can_fork()
        with render.Renderer(workers=2) as renderer:
            assert not renderer.parallel
            drawing = renderer.submit(render.plots.plt.figure)
            assert drawing.done() and drawing.result()[:4] == b"\x89PNG"
    finally:
        stop.set()
        other.join()


def test_one_worker_means_drawing_here():
    with render.Renderer(workers=1) as renderer:
        assert not renderer.parallel
