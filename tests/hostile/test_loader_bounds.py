"""Issue 23, points 4, 5 and 6: the loader refuses, in one line and before allocating, what a
hostile scenario file could make it read, expand or crash on.

Each case failed on main: read forever (/dev/zero), a 3 GB alias expansion, a
million sweep points validated one by one, or a traceback.
"""

import resource
import time

import pytest
from hostile_helpers import one_line_error

from experiments.scenario import MAX_YAML_BYTES
from sim.config import MAX_SEED

HEAD = "firms: [{name: A}]\nsimulation: {customers: 5, periods: 2}\n"


def billion_laughs() -> str:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 10)]
    return "\n".join(lines) + "\n"


CASES = {
    # case: (file text, pieces of the one line)
    "billion laughs": (billion_laughs(), ["expands to more than", "aliases included"]),
    "alias cycle": ("a: &a [1, *a]\n", ["an alias refers to a value that contains it"]),
    "deeply nested": ("a: " + "[" * 3000 + "]" * 3000 + "\n", ["nested too deeply"]),
    "nested past the limit": ("a: " + "[" * 80 + "]" * 80 + "\n", ["nested too deeply"]),
    "too large": ("# " + "x" * (MAX_YAML_BYTES + 10) + "\n", ["larger than 1,000,000 bytes"]),
    "integer of 5000 digits": (
        HEAD.replace("periods: 2", "periods: 2, seed: " + "9" * 5000),
        ["a number of more than 4,300 digits"],
    ),
    "seed of 2**64": (
        HEAD.replace("periods: 2", f"periods: 2, seed: {MAX_SEED + 1}"),
        [f"simulation.seed: {MAX_SEED + 1} is out of range", f"value <= {MAX_SEED}"],
    ),
    "sensitivity seed of 2**64": (
        HEAD + f"sensitivity: {{methods: [morris], seed: {MAX_SEED + 1}, "
        "parameters: {market.search_probability: [0.1, 0.2]}}\n",
        ["sensitivity.seed", "out of range"],
    ),
    "a million-point grid": (
        HEAD
        + "sweep:\n  grid:\n"
        + "".join(
            f"    {path}: [{', '.join(str(i) for i in range(1, 1001))}]\n"
            for path in ("simulation.periods", "simulation.customers")
        ),
        ["sweep: 1,000,000 points; at most 10,000 are allowed"],
    ),
    "NUL character": (
        HEAD + "name: a\x00b\n",
        ["YAML syntax error: unacceptable character #x0000"],
    ),
    "NaN in a sweep range": (
        HEAD
        + "sweep:\n  grid:\n    market.search_probability: {start: .nan, stop: 1, step: 0.1}\n",
        ["start", "finite number"],
    ),
}


@pytest.mark.parametrize("case", CASES, ids=CASES.keys())
def test_refused_in_one_line_quickly(case, write, cli):
    text, pieces = CASES[case]
    scenario = write(text)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    clock = time.perf_counter()
    code, out, err = cli("validate", scenario)
    assert time.perf_counter() - clock < 10
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200_000  # KB
    assert code == 2 and not out
    line = one_line_error(err)
    assert line.startswith(f"{scenario}")
    for piece in pieces:
        assert piece in line, line


def test_largest_seed_is_valid(write, cli):
    scenario = write(HEAD.replace("periods: 2", f"periods: 2, seed: {MAX_SEED}"))
    code, _, err = cli("validate", scenario)
    assert code == 0, err


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom"])
def test_only_regular_files_are_read(device, cli):
    clock = time.perf_counter()
    code, _, err = cli("validate", device)
    assert time.perf_counter() - clock < 5
    assert code == 2
    assert one_line_error(err) == f"{device}: not a regular file (a device, pipe or socket); " + (
        "give a scenario file"
    )
