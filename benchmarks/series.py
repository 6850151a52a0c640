"""Benchmarks made of several fresh processes: the size x threads table, the Mesa ratio, start-up.

Each measurement is ``python -m benchmarks.bench ... --json`` (or a start-up
probe) in a process of its own, so that no measurement inherits another's
compiled code, memory peak or warm caches. Figures are medians over
``repeat`` processes, with the range.

* :func:`table`: ns per customer-step for every size of ``sizes`` on 1 and 2
  kernel threads (``run.py bench --table``).
* :func:`compare`: the engine and the per-agent Mesa reference on equal work:
  the same customers, periods, setting and seed, each in its own process; the
  ratio of their ns per customer-step (``run.py bench --compare``).
* :func:`cold_start`: a copy of the ``sim`` package in a temporary folder,
  with no compiled kernels, so the first process compiles them as after an
  install, then ``repeat`` later processes that load them
  (``run.py bench --cold-start``). Each process imports the engine and runs
  one period of a 100-customer model (:func:`sim.warm_up`): the wall and CPU
  time from the interpreter's start to the end of that period is the time to
  the first step; the process's whole time, its exit included (the
  interpreter's tear-down), is reported apart. The first process runs under
  ``benchmarks/compile_profile.py``: where its compile time goes.
"""

import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TABLE_SIZES = (1_000, 10_000, 100_000, 1_000_000, 10_000_000)
THREADS = (1, 2)
FIRST_STEP = "from sim import warm_up; warm_up()"


def _bench(arguments: list[str]) -> dict:
    """One ``benchmarks.bench --json`` measurement in a fresh process."""
    command = [sys.executable, "-m", "benchmarks.bench", *arguments, "--json"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode:
        raise RuntimeError(f"{' '.join(command)} failed: {done.stderr.strip()[-500:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _median(results: list[dict], key: str) -> tuple[float, float, float]:
    values = [r[key] for r in results]
    return statistics.median(values), min(values), max(values)


def _load() -> str:
    """The load average now (Linux), so that a reader knows how busy the machine was."""
    try:
        return " ".join(f"{v:.1f}" for v in os.getloadavg())
    except OSError:
        return "unknown"


def table(sizes=TABLE_SIZES, steps: int = 60, repeat: int = 3) -> list[dict]:
    """ns per customer-step for each size on 1 and 2 threads (medians of ``repeat`` processes).

    The thread counts alternate, so that both see the same load on a shared machine.
    """
    rows = []
    for customers in sizes:
        arguments = ["--customers", str(customers), "--steps", str(steps)]
        results = {threads: [] for threads in THREADS}
        for _ in range(repeat):
            for threads in THREADS:
                results[threads].append(_bench([*arguments, "--threads", str(threads)]))
        for threads in THREADS:
            ns, low, high = _median(results[threads], "ns_per_customer_step")
            rows.append(
                {
                    "customers": customers,
                    "threads": threads,
                    "steps": steps,
                    "ns_per_customer_step": ns,
                    "low": low,
                    "high": high,
                    "cpu_ns_per_customer_step": _median(
                        results[threads], "cpu_ns_per_customer_step"
                    )[0],
                    "bytes_per_customer": _median(results[threads], "bytes_per_customer")[0],
                    "load": _load(),
                }
            )
    return rows


def table_text(rows: list[dict]) -> str:
    """The table as Markdown: one row per size, a column per thread count."""
    steps = rows[0]["steps"]
    lines = [
        f"ns per customer-step, {steps} periods, default market (median, range)",
        "",
        "| customers | 1 thread | 2 threads | CPU ns, 1 thread / 2 threads |"
        " memory (B/customer, 2 threads) |",
        "| ---: | ---: | ---: | ---: | ---: |",
    ]
    by_size: dict[int, dict[int, dict]] = {}
    for row in rows:
        by_size.setdefault(row["customers"], {})[row["threads"]] = row
    for customers, cells in by_size.items():
        text = [
            f"{cells[k]['ns_per_customer_step']:.1f} ({cells[k]['low']:.1f}-{cells[k]['high']:.1f})"
            if k in cells
            else ""
            for k in THREADS
        ]
        memory = cells.get(THREADS[-1], cells.get(THREADS[0]))["bytes_per_customer"]
        cpu = " / ".join(
            f"{cells[k]['cpu_ns_per_customer_step']:.1f}" if k in cells else "" for k in THREADS
        )
        lines.append(f"| {customers:,} | {text[0]} | {text[1]} | {cpu} | {memory:.0f} |")
    lines.append("")
    lines.append(f"load average at the end: {rows[-1]['load']}")
    return "\n".join(lines)


def compare(customers: int = 100_000, steps: int = 10, repeat: int = 3) -> dict:
    """The engine (1 and 2 threads) and the Mesa reference on equal work; their ratio.

    The three alternate, so that all see the same load on a shared machine.
    Besides the wall-time ratio, the CPU-time ratio of the engine on one
    thread: what a busy machine inflates least.
    """
    arguments = ["--customers", str(customers), "--steps", str(steps)]
    runs = {"mesa": [], 1: [], 2: []}
    for _ in range(repeat):
        runs["mesa"].append(_bench([*arguments, "--impl", "mesa"]))
        for threads in THREADS:
            runs[threads].append(_bench([*arguments, "--threads", str(threads)]))
    mesa_ns = _median(runs["mesa"], "ns_per_customer_step")
    mesa_cpu = _median(runs["mesa"], "cpu_ns_per_customer_step")[0]
    result = {
        "customers": customers,
        "steps": steps,
        "repeat": repeat,
        "mesa_ns": mesa_ns,
        "mesa_cpu_ns": mesa_cpu,
        "mesa_bytes_per_customer": _median(runs["mesa"], "bytes_per_customer")[0],
        "load": _load(),
    }
    for threads in THREADS:
        ns = _median(runs[threads], "ns_per_customer_step")
        result[f"engine_{threads}_ns"] = ns
        result[f"engine_{threads}_cpu_ns"] = _median(runs[threads], "cpu_ns_per_customer_step")[0]
        result[f"ratio_{threads}"] = mesa_ns[0] / ns[0]
    result["cpu_ratio_1"] = mesa_cpu / result["engine_1_cpu_ns"]
    return result


def compare_text(result: dict) -> str:
    """The comparison as lines for a terminal."""
    span = lambda v: f"{v[0]:,.1f} ns ({v[1]:,.1f}-{v[2]:,.1f})"  # noqa: E731
    lines = [
        f"equal work: {result['customers']:,} customers x {result['steps']} periods, default "
        f"market, seed 0; each figure the median of {result['repeat']} processes",
        f"  Mesa reference (one agent per customer)  {span(result['mesa_ns'])} per customer-step",
    ]
    for threads in THREADS:
        lines.append(
            f"  engine, {threads} thread{'s' if threads > 1 else ' '}"
            f"                      {span(result[f'engine_{threads}_ns'])} per customer-step:"
            f" {result[f'ratio_{threads}']:,.0f}x"
        )
    lines.append(
        f"  CPU time per customer-step: Mesa {result['mesa_cpu_ns']:,.1f} ns, engine on one"
        f" thread {result['engine_1_cpu_ns']:,.1f} ns: {result['cpu_ratio_1']:,.0f}x"
    )
    lines.append(f"  load average at the end: {result['load']}")
    return "\n".join(lines)


REPORT = (
    "\nimport json as _json, resource as _resource, time as _time\n"
    "_used = _resource.getrusage(_resource.RUSAGE_SELF)\n"
    "print('first step:', _json.dumps([_time.time(), _used.ru_utime + _used.ru_stime]))\n"
)
"""Appended to the probe: the clock and the process's CPU time when its first step is done."""


def _first_step_seconds(folder: Path, profile: Path | None = None) -> dict:
    """Seconds a fresh process takes to import the engine and run its first step, and in all.

    ``wall`` and ``cpu`` run from the interpreter's start to the end of the
    first step (the probe reports its CPU time, user and system, and the
    clock then); ``process_wall`` and ``process_cpu`` to the process's end,
    the interpreter's tear-down included. The CPU time is what a busy
    machine does not inflate, where the wall time grows with the other jobs
    sharing the cores. With ``profile``, the probe runs under
    ``benchmarks/compile_profile.py``, which writes its figures there.
    """
    environment = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    environment["PYTHONPATH"] = str(folder)
    probe = FIRST_STEP + REPORT
    arguments = ["-c", probe]
    if profile is not None:
        arguments = [str(ROOT / "benchmarks" / "compile_profile.py"), str(profile), probe]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    clock, start = time.time(), time.perf_counter()
    done = subprocess.run(
        [sys.executable, *arguments],
        cwd=folder,
        env=environment,
        check=True,
        stdout=subprocess.PIPE,  # errors go to the terminal
        text=True,
    )
    process_wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    line = [row for row in done.stdout.splitlines() if row.startswith("first step: ")][-1]
    at, cpu = json.loads(line.removeprefix("first step: "))
    return {
        "wall": at - clock,
        "cpu": cpu,
        "process_wall": process_wall,
        "process_cpu": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
    }


def cold_start(repeat: int = 5) -> dict:
    """Seconds to the first step: after an install (compiling) and in later processes."""
    with tempfile.TemporaryDirectory(prefix="crm-sim-cold-") as tmp:
        folder = Path(tmp)
        shutil.copytree(ROOT / "sim", folder / "sim", ignore=shutil.ignore_patterns("__pycache__"))
        cold = _first_step_seconds(folder, profile=folder / "compile.json")
        compile_profile = json.loads((folder / "compile.json").read_text(encoding="utf-8"))
        warm = [_first_step_seconds(folder) for _ in range(repeat)]
    walls = [w["wall"] for w in warm]
    return {
        "cold_s": cold["wall"],
        "cold_cpu_s": cold["cpu"],
        "cold_process_cpu_s": cold["process_cpu"],
        "compile": compile_profile,
        "warm_s": statistics.median(walls),
        "warm_low_s": min(walls),
        "warm_high_s": max(walls),
        "warm_cpu_s": statistics.median(w["cpu"] for w in warm),
        "warm_process_s": statistics.median(w["process_wall"] for w in warm),
        "warm_process_cpu_s": statistics.median(w["process_cpu"] for w in warm),
        "repeat": repeat,
        "load": _load(),
    }


def cold_start_text(result: dict, top: int = 6) -> str:
    """The start-up figures as lines for a terminal; the first process's ``top`` compile costs."""
    lines = [
        "time to the first step of a fresh process (interpreter start, imports, kernels,"
        " one period of 100 customers), sim/ copied to a temporary folder with no cache",
        f"  first process (compiles)    {result['cold_s']:8.1f} s wall,"
        f" {result['cold_cpu_s']:.1f} s CPU, {result['cold_process_cpu_s']:.1f} s CPU to its end"
        " with its helper's (sim.cache.warm_up)",
        f"  later processes (load)      {result['warm_s']:8.2f} s wall, median of"
        f" {result['repeat']} ({result['warm_low_s']:.2f}-{result['warm_high_s']:.2f}),"
        f" {result['warm_cpu_s']:.2f} s CPU",
        f"  later processes to their end (the interpreter's exit included):"
        f" {result['warm_process_s']:.2f} s wall, {result['warm_process_cpu_s']:.2f} s CPU",
    ]
    profile = result.get("compile")
    if profile:
        functions = profile["functions"]
        numba_s = sum(row["numba"] for row in functions.values())
        llvm_s = sum(row["llvm"] for row in functions.values())
        lines.append(
            f"  the first process's compile, CPU s (benchmarks/compile_profile.py):"
            f" numba's passes {numba_s:.1f}, in LLVM {llvm_s:.1f},"
            f" of {profile['cpu_s']:.1f} for importing sim and its first step"
        )
        ranked = sorted(functions.items(), key=lambda kv: -(kv[1]["numba"] + kv[1]["llvm"]))
        for name, row in ranked[:top]:
            lines.append(
                f"    {row['numba'] + row['llvm']:6.1f}  {name}"
                f" (numba {row['numba']:.1f}, LLVM {row['llvm']:.1f})"
            )
        lines.append("    by numba pass, LLVM included:")
        for name, seconds in sorted(profile["passes"].items(), key=lambda kv: -kv[1])[:top]:
            lines.append(f"    {seconds:6.1f}  {name}")
    lines.append(f"  load average at the end: {result['load']}")
    return "\n".join(lines)
