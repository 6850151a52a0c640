"""Editing any source the kernels compile changes the key of their cached machine code.

numba's cache checks only the file that defines a cached function (its time
stamp and size), not the files of the functions compiled into it or of the
constants it reads. ``sim.kernel`` therefore hashes the sources of every
module it compiles from (``kernel.FINGERPRINTED``) into a fingerprint, which
each cached kernel holds in its closure, and numba hashes closure values into
the cache key. These tests pin the three links of that chain: the list of
modules is complete, an edit to any of them changes the fingerprint, and
every cached kernel holds it. (``sim.draws``' own cached functions, ``sample``
and ``taste_uniforms``, compile only ``sim/draws.py``, which numba watches.)
"""

import ast
import inspect
from pathlib import Path

import pytest
from numba.core.caching import NullCache
from numba.core.dispatcher import Dispatcher

from sim import kernel, rules

SIM = Path(kernel.__file__).parent


def sim_imports(module: str) -> set[str]:
    """The modules of ``sim`` that ``sim/<module>.py`` imports (relative or absolute)."""
    found = set()
    for node in ast.walk(ast.parse((SIM / f"{module}.py").read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1 and node.module is None:  # from . import a, b
                found |= {alias.name for alias in node.names}
            elif node.level == 1:  # from .a import b
                found.add(node.module.split(".")[0])
            elif node.module and node.module.startswith("sim."):
                found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[1] for a in node.names if a.name.startswith("sim.")}
    return found


def test_the_fingerprint_covers_every_module_the_kernel_compiles_from():
    reached, todo = set(), ["kernel"]
    while todo:
        for name in sim_imports(todo.pop()) - reached:
            reached.add(name)
            todo.append(name)
    fingerprinted = {module.__name__.removeprefix("sim.") for module in kernel.FINGERPRINTED}
    assert reached - {"kernel"} == fingerprinted


def test_the_kernels_carry_the_fingerprint_of_the_sources_as_they_are():
    assert kernel._rules_fingerprint() == kernel._FINGERPRINT


@pytest.mark.parametrize("module", kernel.FINGERPRINTED, ids=lambda m: m.__name__)
def test_editing_a_source_changes_the_fingerprint(module):
    def edited(of):
        source = inspect.getsource(of)
        return source + "\n# edited\n" if of is module else source

    assert kernel._rules_fingerprint(edited) != kernel._FINGERPRINT


def test_editing_a_rule_changes_the_fingerprint():
    rule = inspect.getsource(rules.relational_growth)
    body = "return 1.0 - exp("
    assert body in rule

    def edited(of):  # one rule's body changed
        source = inspect.getsource(of)
        if of is rules:
            return source.replace(rule, rule.replace(body, "return 1.0 - 2.0 * exp("))
        return source

    assert edited(rules) != inspect.getsource(rules)
    assert kernel._rules_fingerprint(edited) != kernel._FINGERPRINT


def test_every_cached_kernel_holds_the_fingerprint_in_its_closure():
    cached = {
        name: value
        for name, value in vars(kernel).items()
        if isinstance(value, Dispatcher) and not isinstance(value._cache, NullCache)
    }
    assert set(cached) >= {
        "live_period_driver",
        "live_chunk",
        "settle_period",
        "start_relationships",
        "growth_table",
    }
    for name, dispatcher in cached.items():
        cells = [cell.cell_contents for cell in dispatcher.py_func.__closure__ or ()]
        assert kernel._FINGERPRINT in cells, f"{name}: cached without the fingerprint"
