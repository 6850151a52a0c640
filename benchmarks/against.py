"""This checkout's engine against another checkout's, step by step in turns.

    python run.py bench --against DIR [--customers N] [--steps T] [--repeat R]

Timing two versions of the engine one after the other on a shared machine
mixes their difference with the machine's: a neighbour's job that starts
half-way slows whichever version runs then, by as much as the difference
one wants to see. Here both run at once, in two processes (this checkout's
and ``DIR``'s, each importing its own ``sim``), on the same market: the
default configuration, ``N`` customers, the same seed. The processes take
turns: one period of one, one period of the other, the order swapped every
period; only one works at a time, on every kernel thread. Their step times
are therefore measured seconds apart. A pair of processes runs ``T``
periods (models built untimed) and gives the ratio of its summed step
times; the figure is the median over ``R`` pairs, each pair two fresh
processes: how fast a process runs also depends on its luck with memory
(numpy asks Linux for huge pages, which a busy machine may not have), and
one pair would carry its luck into the ratio.

The worker (this file, run as a script in the other checkout's environment)
uses only ``sim.config.default_config`` and ``sim.model.CRMModel(config,
rng=seed)``, which every version of the engine has had.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent


class Worker:
    """One checkout's engine in a process of its own, stepped on command."""

    def __init__(self, checkout: Path, customers: int, steps: int, seed: int):
        env = dict(os.environ, PYTHONPATH=str(checkout))
        command = [sys.executable, __file__, "--worker", str(customers), str(steps), str(seed)]
        self.checkout = checkout
        self.process = subprocess.Popen(
            command,
            cwd=checkout,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.ask("load")  # kernels loaded (or compiled) before anything is timed

    def ask(self, command: str) -> str:
        """Send ``command``, return the worker's answer (one line)."""
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        answer = self.process.stdout.readline()
        if not answer:
            raise RuntimeError(f"the engine of {self.checkout} stopped (see its error above)")
        return answer.strip()

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.stdin.close()
            self.process.wait()


def measure(other: Path, customers: int, steps: int, repeat: int, seed: int = 0) -> dict:
    """Step this checkout's and ``other``'s engine in turns; their step-time ratio."""
    other = other.resolve()
    if not (other / "sim" / "model.py").is_file():
        raise ValueError(f"{other}: not a crm-sim checkout (no sim/model.py)")
    ours, theirs, ratios = [], [], []
    for _ in range(repeat):
        pair = []
        try:  # a worker that fails to start ends the other one too
            for checkout in (HERE, other):
                pair.append(Worker(checkout, customers, steps, seed))
            for worker in pair:
                worker.ask("new")
            seconds = [], []
            for t in range(steps):
                for k in (0, 1) if t % 2 == 0 else (1, 0):
                    seconds[k].append(float(pair[k].ask("step")))
        finally:
            for worker in pair:
                worker.close()
        ours += seconds[0]
        theirs += seconds[1]
        ratios.append(sum(seconds[0]) / sum(seconds[1]))
    return {
        "other": str(other),
        "customers": customers,
        "steps": steps,
        "repeat": repeat,
        "ns_per_customer_step": statistics.median(ours) / customers * 1e9,
        "other_ns_per_customer_step": statistics.median(theirs) / customers * 1e9,
        "ratio": statistics.median(ratios),
        "ratios": ratios,
    }


def text(result: dict) -> str:
    """The figures of :func:`measure`, as lines for a terminal."""
    pairs = f"{result['repeat']} pair{'' if result['repeat'] == 1 else 's'}"
    return "\n".join(
        [
            f"this checkout against {result['other']}: {result['customers']} customers, "
            f"{result['repeat']} x {result['steps']} periods, in turns",
            f"  this checkout        {result['ns_per_customer_step']:10.1f} ns per customer-step"
            " (median period)",
            f"  the other            {result['other_ns_per_customer_step']:10.1f} ns per"
            " customer-step (median period)",
            f"  ratio                {result['ratio']:10.3f} (median of {pairs}:"
            f" {', '.join(f'{r:.3f}' for r in sorted(result['ratios']))})",
        ]
    )


def _work(customers: int, steps: int, seed: int) -> None:
    """The worker: answer ``load``, ``new`` and ``step`` (its seconds) on stdin, one per line."""
    from sim.config import default_config
    from sim.model import CRMModel

    config = default_config(simulation={"customers": customers, "periods": steps})
    model = None
    for line in sys.stdin:
        command = line.strip()
        if command == "load":
            CRMModel(default_config(simulation={"customers": 100, "periods": 1}), rng=0).step()
            answer = "ok"
        elif command == "new":
            model = CRMModel(config, rng=seed)
            answer = "ok"
        else:  # step
            start = time.perf_counter()
            model.step()
            answer = repr(time.perf_counter() - start)
        print(answer, flush=True)


if __name__ == "__main__" and sys.argv[1:2] == ["--worker"]:
    sys.path.pop(0)  # this folder: the checkout's own sim comes from PYTHONPATH
    _work(*(int(a) for a in sys.argv[2:5]))
