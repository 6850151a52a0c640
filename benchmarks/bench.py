"""Time the engine or the per-agent Mesa reference: ns per customer-step, build time, memory.

Usage::

    python -m benchmarks.bench [--customers N] [--steps T] [--impl engine|mesa] [--json]
    python -m benchmarks.bench --sweep [--runs R] [--customers N] [--steps T] [--workers W]
    python -m benchmarks.bench --table [--sizes N,N,...] [--steps T] [--repeat R]
    python -m benchmarks.bench --compare [--customers N] [--steps T] [--repeat R]
    python -m benchmarks.bench --cold-start [--repeat R]
    python -m benchmarks.bench --against DIR [--customers N] [--steps T] [--repeat R]

The step time is measured with ``time.perf_counter`` around the step loop only
(construction is timed separately) and divided by customers x steps.
``--threads K`` runs the kernel on K threads (default: one per core).
``bytes_per_customer`` is the peak resident set while the model is built and
stepped minus the resident set just before, per customer. That baseline is
the interpreter with numpy, pandas and Mesa imported and, for the engine, its
compiled kernels loaded: a 100-customer model runs one period first, which
loads the machine code from numba's cache, and then the process's peak is
reset to its current resident set (Linux ``/proc/self/clear_refs``; the peak
is ``VmHWM``). When the kernels are not cached yet (the first run after
installing or changing the rules), a child process compiles them first:
compiling in this process would leave the compiler's freed memory in its
allocator, where the model's arrays would then fit without growing the
resident set (6 B a customer measured that way at 10^5, against 200 warm),
and the compiler's peak would count as the model's (618 B, issue 24).
Run one implementation per process: the peak is the process's.

``--table``, ``--compare`` and ``--cold-start`` run several of these in fresh
processes and report medians (:mod:`benchmarks.series`): a table of ns per
customer-step by size (default 10^3 to 10^7) and kernel threads (1, 2); the
engine against the per-agent Mesa reference on equal work (same customers,
periods, market and seed); and the time a fresh process takes to its first
step, the first time after installing (a copy of ``sim/`` without compiled
kernels) and later.

``--sweep`` times a whole sweep instead: ``R`` replications of one scenario
(``N`` customers x ``T`` periods, default 200 x 10^4 x 120) run by ``W`` local
worker processes (default 2) into a temporary results folder, from starting
the workers to the combined tables on disk. It reports the wall time, the
time spent inside the runs summed over the workers (measured in the workers)
and the share of the workers' time spent outside the runs,
``1 - run time / (workers x wall)``: process start-up, scheduling, moving
results and writing parts and tables.

``--sweep --scenario FILE`` runs a scenario file instead, as ``run.py run``
does (``--replications`` and ``--customers`` override its own; ``--runs`` is
ignored), then writes its report with ``run.py report`` in a fresh process.
Besides the times above it reports the peak resident set size of the main
process (``ru_maxrss`` of this process: the command's) and of the largest
worker (its ``VmHWM``, read before the pool closes), the ratio of the wall time
to the run time per worker (``wall / (run time / workers)``) and the
report's wall time and peak RSS. Run one sweep per process: the peaks are
the process's.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numba

from benchmarks import against, series
from sim import CRMModel, default_config, kernel, warm_up
from sim.cache import engine_ready

IMPLEMENTATIONS = ("engine", "mesa")
DEFAULT_STEPS = {"engine": 120, "mesa": 5}


def current_rss_bytes() -> int:
    """Resident set size now (Linux ``/proc``; falls back to the peak so far)."""
    try:
        with open("/proc/self/statm") as statm:
            pages = int(statm.read().split()[1])
        return pages * resource.getpagesize()
    except OSError:
        return peak_rss_bytes()


def peak_rss_bytes() -> int:
    """Peak resident set size of this process since :func:`reset_peak_rss` (or its start).

    Linux's ``VmHWM``, which :func:`reset_peak_rss` can reset; elsewhere
    ``ru_maxrss`` (KiB on Linux, bytes on macOS), which cannot be.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def reset_peak_rss() -> bool:
    """Reset this process's peak resident set to its current one (Linux); whether it could.

    Compiling the kernels (the first run after installing) takes far more
    memory than loading them; without the reset that compiler peak would be
    counted as the model's (618 B a customer at 10^5 customers instead of
    about 126).
    """
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
        return True
    except OSError:
        return False


def model_class(impl: str):
    """The model class of an implementation name."""
    if impl == "mesa":
        from benchmarks.mesa_reference import ReferenceModel

        return ReferenceModel
    return CRMModel


def measure(customers: int, steps: int, impl: str, seed: int = 0, threads: int = 0) -> dict:
    """Build one model, step it ``steps`` times and return the figures as a dict.

    ``threads``: the engine's kernel threads (0: numba's default, one per core).
    """
    config = default_config(simulation={"customers": customers, "periods": steps})
    cls = model_class(impl)
    if threads:
        kernel.set_threads(threads)
    if impl == "engine":  # load the kernels before the baseline (module doc)
        if not engine_ready():  # compile them in a child: this process keeps no compiler memory
            command = [sys.executable, "-c", "from sim import warm_up; warm_up()"]
            subprocess.run(command, cwd=Path(__file__).resolve().parent.parent, check=True)
        warm_up()
    peak_reset = reset_peak_rss()
    baseline = current_rss_bytes()
    start = time.perf_counter()
    model = cls(config, rng=seed)
    construct_s = time.perf_counter() - start
    start, cpu_start = time.perf_counter(), time.process_time()
    for _ in range(steps):
        model.step()
    step_s = time.perf_counter() - start
    cpu_s = time.process_time() - cpu_start  # every thread's: what other jobs do not inflate
    peak = peak_rss_bytes()
    return {
        "impl": impl,
        "customers": customers,
        "steps": steps,
        "threads": numba.get_num_threads() if impl == "engine" else 1,
        "ns_per_customer_step": step_s / (customers * steps) * 1e9,
        "step_s": step_s,
        "cpu_ns_per_customer_step": cpu_s / (customers * steps) * 1e9,
        "construct_s": construct_s,
        "peak_rss_mb": peak / 2**20,
        "baseline_rss_mb": baseline / 2**20,
        "bytes_per_customer": (peak - baseline) / customers,
        "peak_reset": peak_reset,
        # the whole process's peak, compiling included: what the figure was before the reset
        "process_peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10,
    }


SWEEP_SCENARIO = """\
name: bench_sweep
description: replications of the default market, for timing the sweep machinery
simulation: {{customers: {customers}, periods: {steps}, replications: {runs}, seed: 1}}
"""


def measure_sweep(runs: int, customers: int, steps: int, workers: int) -> dict:
    """Run a sweep of ``runs`` replications on ``workers`` processes; time it (see module doc)."""
    from experiments.folders import prepare
    from experiments.scenario import load_scenario
    from experiments.sweep import ProcessExecutor, SerialExecutor, plan_runs, run_sweep
    from store.results import write_tables

    with tempfile.TemporaryDirectory(prefix="crm-sim-bench-") as tmp:
        source = Path(tmp) / "bench_sweep.yaml"
        source.write_text(
            SWEEP_SCENARIO.format(customers=customers, steps=steps, runs=runs), encoding="utf-8"
        )
        scenario = load_scenario(source)
        specs = plan_runs(scenario)
        folder = Path(tmp) / "results"
        start = time.perf_counter()
        with SerialExecutor() if workers == 1 else ProcessExecutor(workers) as executor:
            store = prepare(folder, scenario, resume=False)
            report = run_sweep(specs, store, executor, progress=False)
        parts_s = time.perf_counter() - start
        write_tables(folder, store, [spec.run_id for spec in specs])
        wall_s = time.perf_counter() - start
    if report.failures:
        raise RuntimeError(f"{len(report.failures)} runs failed: {report.failures[0]['error']}")
    return {
        "impl": "sweep",
        "runs": runs,
        "customers": customers,
        "steps": steps,
        "workers": workers,
        "wall_s": wall_s,
        "parts_s": parts_s,
        "tables_s": wall_s - parts_s,
        "run_s": report.run_seconds,
        "mean_run_s": report.run_seconds / runs,
        "outside_share": 1.0 - report.run_seconds / (workers * wall_s),
    }


def workers_peak_rss_bytes(executor) -> int:
    """Largest peak resident set size of a local pool's workers (``VmHWM``; 0 if unknown).

    Read from ``/proc`` while the workers live (Linux): ``ru_maxrss`` of the
    children would also count short-lived helpers. A forked worker's peak
    includes the pages it shares with the command at the fork.
    """
    pool = getattr(executor, "_pool", None)
    peak = 0
    for pid in getattr(pool, "_processes", None) or {}:
        try:
            with open(f"/proc/{pid}/status") as status:
                for line in status:
                    if line.startswith("VmHWM:"):
                        peak = max(peak, int(line.split()[1]) * 1024)
        except OSError:
            continue
    return peak


def measure_report(folder: Path) -> dict:
    """``run.py report FOLDER`` in a fresh process: its wall time and peak RSS (``wait4``)."""
    root = Path(__file__).resolve().parent.parent
    start = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, str(root / "run.py"), "report", str(folder), "--quiet"], cwd=root
    )
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode:
        raise RuntimeError(f"run.py report {folder} exited with {child.returncode}")
    peak = usage.ru_maxrss if sys.platform == "darwin" else usage.ru_maxrss * 1024
    return {"report_s": seconds, "report_peak_rss_mb": peak / 2**20}


def measure_scenario(
    path: Path, workers: int, replications: int | None = None, customers: int | None = None
) -> dict:
    """Run a scenario file as ``run.py run`` does, then its report; time both (module doc)."""
    from experiments.folders import finish_folder, now, start_folder
    from experiments.scenario import load_scenario
    from experiments.sweep import ProcessExecutor, SerialExecutor, plan_runs, run_sweep

    overrides = {}
    if replications is not None:
        overrides["simulation.replications"] = replications
    if customers is not None:
        overrides["simulation.customers"] = customers
    scenario = load_scenario(path, overrides)
    specs = plan_runs(scenario)
    with tempfile.TemporaryDirectory(prefix="crm-sim-bench-") as tmp:
        folder = Path(tmp) / "results"
        start = time.perf_counter()
        with SerialExecutor() if workers == 1 else ProcessExecutor(workers) as executor:
            store, record = start_folder(folder, scenario, specs, executor, ["bench"], now())
            report = run_sweep(specs, store, executor, progress=False)
            workers_peak = workers_peak_rss_bytes(executor)
        parts_s = time.perf_counter() - start
        finish_folder(folder, store, record, report)
        wall_s = time.perf_counter() - start
        main_peak = peak_rss_bytes()
        if report.failures:
            raise RuntimeError(f"{len(report.failures)} runs failed: {report.failures[0]['error']}")
        reported = measure_report(folder)
    per_worker = report.run_seconds / workers
    return {
        "impl": "scenario",
        "scenario": str(path),
        "runs": len(specs),
        "customers": sorted({p.config.simulation.customers for p in scenario.points}),
        "steps": sorted({p.config.simulation.periods for p in scenario.points}),
        "workers": workers,
        "wall_s": wall_s,
        "parts_s": parts_s,
        "tables_s": wall_s - parts_s,
        "run_s": report.run_seconds,
        "run_s_per_worker": per_worker,
        "wall_ratio": wall_s / per_worker,
        "main_peak_rss_mb": main_peak / 2**20,
        "worker_peak_rss_mb": workers_peak / 2**20,
        **reported,
    }


def parse_args(argv, prog: str = "bench") -> argparse.Namespace:
    """Parse the command line (see the module docstring)."""
    parser = argparse.ArgumentParser(
        prog=prog, description="Time the crm-sim engine or its per-agent Mesa reference."
    )
    parser.add_argument(
        "--customers", type=int, default=None, help="customers (default 1e5; 1e4 with --sweep)"
    )
    parser.add_argument(
        "--steps",
        type=int,
        default=None,
        help="periods to step (default: 120 engine and sweep, 5 mesa)",
    )
    parser.add_argument(
        "--impl",
        choices=IMPLEMENTATIONS,
        default="engine",
        help="engine (arrays) or mesa (one agent per customer)",
    )
    parser.add_argument("--seed", type=int, default=0, help="model seed (default 0)")
    parser.add_argument(
        "--threads", type=int, default=0, help="engine kernel threads (default: one per core)"
    )
    parser.add_argument(
        "--table",
        action="store_true",
        help="ns per customer-step by --sizes and 1 and 2 threads, each a fresh process",
    )
    parser.add_argument(
        "--sizes",
        default=",".join(str(n) for n in series.TABLE_SIZES),
        help="with --table: customers, comma-separated (default 1e3 to 1e7)",
    )
    parser.add_argument(
        "--compare",
        action="store_true",
        help="engine (1 and 2 threads) against the Mesa reference on equal work "
        "(default 1e5 customers x 10 periods)",
    )
    parser.add_argument(
        "--against",
        type=Path,
        default=None,
        metavar="DIR",
        help="this engine against the one in checkout DIR, stepped in turns "
        "(default 1e6 customers x 60 periods, --repeat pairs of fresh processes)",
    )
    parser.add_argument(
        "--cold-start",
        action="store_true",
        help="seconds to the first step of a fresh process, compiling (as after "
        "installing) and loading the kernels",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="with --table, --compare, --cold-start: processes per figure (default 3)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--sweep",
        action="store_true",
        help="time a sweep of --runs runs on --workers processes instead",
    )
    parser.add_argument("--runs", type=int, default=200, help="runs of the sweep (default 200)")
    parser.add_argument(
        "--workers", type=int, default=2, help="worker processes of the sweep (default 2)"
    )
    parser.add_argument(
        "--scenario",
        type=Path,
        default=None,
        help="with --sweep: run this scenario file and its report (peak RSS of the main "
        "process and of the workers, wall time against run time per worker)",
    )
    parser.add_argument(
        "--replications",
        type=int,
        default=None,
        help="with --scenario: replications of each point (default: the file's)",
    )
    args = parser.parse_args(argv)
    if args.repeat < 1 or args.threads < 0:
        parser.error("--repeat must be at least 1 and --threads at least 0")
    try:
        args.sizes = [int(float(n)) for n in args.sizes.split(",")]
    except ValueError:
        parser.error(f"--sizes: {args.sizes!r} is not a comma-separated list of numbers")
    if args.scenario is not None:
        if not args.sweep:
            parser.error("--scenario needs --sweep")
        if args.replications is not None and args.replications < 1:
            parser.error("--replications must be at least 1")
        if args.customers is not None and args.customers < 1:
            parser.error("--customers must be at least 1")
        return args
    if args.against is not None and args.customers is None:
        args.customers = 1_000_000
    if args.against is not None and args.steps is None:
        args.steps = 60
    if args.customers is None:
        args.customers = 10_000 if args.sweep else 100_000
    if args.customers < 1:
        parser.error("--customers must be at least 1")
    if args.steps is None:
        args.steps = 120 if args.sweep else DEFAULT_STEPS[args.impl]
        args.steps = 60 if args.table else 10 if args.compare else args.steps
    if args.runs < 1 or args.workers < 1:
        parser.error("--runs and --workers must be at least 1")
    if not 1 <= args.steps <= 10_000:
        parser.error("--steps must be in [1, 10000]")
    return args


def main(argv=None, prog: str = "bench") -> int:
    """Run the benchmark described by ``argv`` and print its figures; return the exit code."""
    args = parse_args(argv, prog)
    if args.table or args.compare or args.cold_start:
        return main_series(args)
    if args.scenario is not None:
        result = measure_scenario(args.scenario, args.workers, args.replications, args.customers)
        print(json.dumps(result) if args.json else scenario_text(result))
        return 0
    if args.against is not None:
        try:
            result = against.measure(args.against, args.customers, args.steps, args.repeat)
        except ValueError as error:
            print(f"{prog}: --against: {error}", file=sys.stderr)
            return 2
        print(json.dumps(result) if args.json else against.text(result))
        return 0
    if args.sweep:
        result = measure_sweep(args.runs, args.customers, args.steps, args.workers)
    else:
        result = measure(args.customers, args.steps, args.impl, args.seed, args.threads)
    if args.json:
        print(json.dumps(result))
    elif args.sweep:
        print(
            f"sweep: {result['runs']} runs of {result['customers']} customers x "
            f"{result['steps']} steps on {result['workers']} workers"
        )
        print(
            f"  wall time            {result['wall_s']:10.2f} s (parts {result['parts_s']:.2f} s,"
            f" tables {result['tables_s']:.2f} s)"
        )
        print(
            f"  inside the runs      {result['run_s']:10.2f} s summed over the workers"
            f" ({result['mean_run_s']:.3f} s per run)"
        )
        print(
            f"  outside the runs     {100 * result['outside_share']:10.1f} % of the workers' time"
        )
    else:
        print(
            f"{result['impl']}: {result['customers']} customers x {result['steps']} steps"
            f" ({_plural(result['threads'], 'thread')})"
        )
        print(
            f"  step time            {result['ns_per_customer_step']:10.1f} ns per customer-step"
            f" ({result['step_s']:.3f} s)"
        )
        print(
            f"  CPU time             {result['cpu_ns_per_customer_step']:10.1f} ns per"
            " customer-step (all threads)"
        )
        print(f"  construction         {result['construct_s']:10.3f} s")
        print(
            f"  peak RSS             {result['peak_rss_mb']:10.1f} MB"
            f" (baseline {result['baseline_rss_mb']:.1f} MB)"
        )
        print(f"  beyond baseline      {result['bytes_per_customer']:10.1f} bytes per customer")
    return 0


def main_series(args) -> int:
    """``--table``, ``--compare`` or ``--cold-start``: several fresh processes (module doc)."""
    if args.table:
        customers = [n for n in args.sizes if n >= 1]
        result = series.table(customers, args.steps, args.repeat)
        text = series.table_text(result)
    elif args.compare:
        customers = args.customers or 100_000
        result = series.compare(customers, args.steps, args.repeat)
        text = series.compare_text(result)
    else:
        result = series.cold_start(args.repeat)
        text = series.cold_start_text(result)
    print(json.dumps(result) if args.json else text)
    return 0


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def scenario_text(result: dict) -> str:
    """The figures of :func:`measure_scenario`, as lines for a terminal."""
    sizes = lambda values: "/".join(str(v) for v in values)  # noqa: E731
    return "\n".join(
        [
            f"scenario {result['scenario']}: {result['runs']} runs of "
            f"{sizes(result['customers'])} customers x {sizes(result['steps'])} steps "
            f"on {result['workers']} workers",
            f"  wall time            {result['wall_s']:10.2f} s (parts {result['parts_s']:.2f} s,"
            f" tables {result['tables_s']:.2f} s)",
            f"  run time / workers   {result['run_s_per_worker']:10.2f} s"
            f" (wall / that: {result['wall_ratio']:.3f})",
            f"  peak RSS, main       {result['main_peak_rss_mb']:10.1f} MB",
            f"  peak RSS, worker     {result['worker_peak_rss_mb']:10.1f} MB (the largest)",
            f"  run.py report        {result['report_s']:10.2f} s,"
            f" peak RSS {result['report_peak_rss_mb']:.1f} MB",
        ]
    )


if __name__ == "__main__":
    sys.exit(main())
