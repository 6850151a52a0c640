"""Time the engine or the per-agent Mesa reference: ns per customer-step, build time, memory.

Usage::

    python -m benchmarks.bench [--customers N] [--steps T] [--impl engine|mesa] [--json]

The step time is measured with ``time.perf_counter`` around the step loop only
(construction is timed separately) and divided by customers x steps. Peak
memory is the process's peak resident set size (``ru_maxrss``);
``bytes_per_customer`` is that peak minus the resident set measured just
before the model is built (the interpreter with numpy, pandas and Mesa
imported), per customer. Run one implementation per process: the peak is the
process's.
"""

import argparse
import json
import resource
import sys
import time

from sim import CRMModel, default_config

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
    """Peak resident set size of this process (``ru_maxrss`` is KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def model_class(impl: str):
    """The model class of an implementation name."""
    if impl == "mesa":
        from benchmarks.mesa_reference import ReferenceModel

        return ReferenceModel
    return CRMModel


def measure(customers: int, steps: int, impl: str, seed: int = 0) -> dict:
    """Build one model, step it ``steps`` times and return the figures as a dict."""
    config = default_config(simulation={"customers": customers, "periods": steps})
    cls = model_class(impl)
    baseline = current_rss_bytes()
    start = time.perf_counter()
    model = cls(config, rng=seed)
    construct_s = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(steps):
        model.step()
    step_s = time.perf_counter() - start
    peak = peak_rss_bytes()
    return {
        "impl": impl,
        "customers": customers,
        "steps": steps,
        "ns_per_customer_step": step_s / (customers * steps) * 1e9,
        "step_s": step_s,
        "construct_s": construct_s,
        "peak_rss_mb": peak / 2**20,
        "baseline_rss_mb": baseline / 2**20,
        "bytes_per_customer": (peak - baseline) / customers,
    }


def parse_args(argv, prog: str = "bench") -> argparse.Namespace:
    """Parse the command line (see the module docstring)."""
    parser = argparse.ArgumentParser(
        prog=prog, description="Time the crm-sim engine or its per-agent Mesa reference.")
    parser.add_argument("--customers", type=int, default=100_000, help="customers (default 1e5)")
    parser.add_argument("--steps", type=int, default=None,
                        help="periods to step (default: 120 engine, 5 mesa)")
    parser.add_argument("--impl", choices=IMPLEMENTATIONS, default="engine",
                        help="engine (arrays) or mesa (one agent per customer)")
    parser.add_argument("--seed", type=int, default=0, help="model seed (default 0)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    if args.customers < 1:
        parser.error("--customers must be at least 1")
    if args.steps is None:
        args.steps = DEFAULT_STEPS[args.impl]
    if not 1 <= args.steps <= 10_000:
        parser.error("--steps must be in [1, 10000]")
    return args


def main(argv=None, prog: str = "bench") -> int:
    """Run the benchmark described by ``argv`` and print its figures; return the exit code."""
    args = parse_args(argv, prog)
    result = measure(args.customers, args.steps, args.impl, seed=args.seed)
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{result['impl']}: {result['customers']} customers x {result['steps']} steps")
        print(f"  step time            {result['ns_per_customer_step']:10.1f} ns per customer-step"
              f" ({result['step_s']:.3f} s)")
        print(f"  construction         {result['construct_s']:10.3f} s")
        print(f"  peak RSS             {result['peak_rss_mb']:10.1f} MB"
              f" (baseline {result['baseline_rss_mb']:.1f} MB)")
        print(f"  beyond baseline      {result['bytes_per_customer']:10.1f} bytes per customer")
    return 0


if __name__ == "__main__":
    sys.exit(main())
