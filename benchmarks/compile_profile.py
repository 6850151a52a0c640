"""Where a cold process's compile time goes: numba's passes and LLVM, function by function.

Usage (a process of its own, on a cache without the engine's kernels)::

    python benchmarks/compile_profile.py OUT.json [STATEMENT]

runs ``STATEMENT`` (by default the engine's first step, :func:`sim.warm_up`,
as the start-up benchmark's first process does) while listening to numba's
compile events (:mod:`numba.core.event`):

* ``numba:run_pass``, around every pass of numba's pipeline (bytecode, type
  inference, inlining, lowering) of every function it compiles, nested when a
  function compiles what it calls;
* ``numba:llvm_lock``, around every call into LLVM (optimizing and emitting
  machine code happen there).

Each pass is charged its own CPU time, that of the passes nested in it
(the functions it compiled) taken out; the time inside LLVM is charged to the
innermost pass running, and reported apart. ``OUT.json`` receives the process's
CPU time and these sums by function and by pass. Run by
:func:`benchmarks.series.cold_start`: a path, not a module, so that the
``sim`` on ``PYTHONPATH`` (the benchmark's copy) is the one compiled.
"""

import json
import re
import sys
import time

from numba.core import event

GUFUNC = re.compile(r"__numba_parfor_gufunc_0x[0-9a-f]+")


class _Charges(event.Listener):
    """CPU seconds by (function, pass), without nested passes; LLVM's apart."""

    def __init__(self):
        self.stack = []  # [key, start, seconds of nested passes, seconds in LLVM]
        self.numba: dict[tuple[str, str], float] = {}
        self.llvm: dict[tuple[str, str], float] = {}
        self.llvm_start, self.llvm_depth = 0.0, 0  # LLVM calls nest when it calls back

    def on_start(self, ev):
        if ev.kind == "numba:llvm_lock":
            if not self.llvm_depth:
                self.llvm_start = time.process_time()
            self.llvm_depth += 1
            return
        name = ev.data["name"]  # "pass [function]"
        pass_name, function = name.split(" [", 1)
        function = GUFUNC.sub("parfor gufunc", function.rstrip("]"))
        self.stack.append([(function, pass_name), time.process_time(), 0.0])

    def on_end(self, ev):
        if ev.kind == "numba:llvm_lock":
            self.llvm_depth -= 1
            if not self.llvm_depth and self.stack:
                key = self.stack[-1][0]
                spent = time.process_time() - self.llvm_start
                self.llvm[key] = self.llvm.get(key, 0.0) + spent
            return
        key, start, nested = self.stack.pop()
        spent = time.process_time() - start
        self.numba[key] = self.numba.get(key, 0.0) + spent - nested
        if self.stack:
            self.stack[-1][2] += spent


FIRST_STEP = "from sim import warm_up; warm_up()"


def profile(statement: str = FIRST_STEP) -> dict:
    """Run ``statement`` under the listener; the charges, summed by function and by pass."""
    charges = _Charges()
    start = time.process_time()
    with (
        event.install_listener("numba:run_pass", charges),
        event.install_listener("numba:llvm_lock", charges),
    ):
        exec(statement, {"__name__": "__profiled__"})
    functions: dict[str, dict[str, float]] = {}
    passes: dict[str, float] = {}
    for (function, pass_name), seconds in charges.numba.items():
        llvm = charges.llvm.get((function, pass_name), 0.0)
        row = functions.setdefault(function, {"numba": 0.0, "llvm": 0.0})
        row["numba"] += seconds - llvm
        row["llvm"] += llvm
        passes[pass_name] = passes.get(pass_name, 0.0) + seconds
    return {"cpu_s": time.process_time() - start, "functions": functions, "passes": passes}


if __name__ == "__main__":
    with open(sys.argv[1], "w", encoding="utf-8") as out:
        json.dump(profile(*sys.argv[2:3]), out)
