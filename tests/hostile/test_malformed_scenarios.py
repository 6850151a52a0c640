"""Issue 23, acceptance: a fresh set of malformed scenarios, written apart from the other hostile
tests, each refused by ``run`` with exit 2, the file and the field named, and nothing written.

Among them the leftovers of point 4 that main let through: booleans where numbers are meant
(``customers: true`` ran one customer), ``!!binary`` values (bytes taken as names), firm names
that differ only by a trailing space; and lookalike keys, now refused with their code points.
"""

import pytest

CASES = {
    "policy parameter of the wrong type": (
        "firms:\n  - name: A\n    strategy: clasp\n"
        "    policies: [{name: onboarding, cost_per_contact: cheap}]\n",
        4,
        "firms.0.policies.0: cost_per_contact: must be a number",
    ),
    "policies not a list": (
        "firms:\n  - {name: A, strategy: clasp, policies: onboarding}\n",
        2,
        "firms.0.policies: expected a list",
    ),
    "policy stage unknown": (
        "firms:\n  - {name: A, strategy: clasp, policies: [{name: onboarding, stages: [x]}]}\n",
        2,
        "firms.0.policies.0.stages: unknown stage 'x'",
    ),
    "Cyrillic a in a top-level key": (
        "simul\u0430tion: {customers: 20, periods: 2}\n",
        1,
        "simul\u0430tion: unknown field (it holds non-ASCII characters: U+0430",
    ),
    "Cyrillic o in a nested key": (
        "simulation: {cust\u043emers: 20, periods: 2}\n",
        1,
        "simulation.cust\u043emers: unknown field (it holds non-ASCII characters: U+043E",
    ),
    "duplicate section": (
        "simulation: {customers: 20}\nsimulation: {periods: 3}\n",
        2,
        "simulation: duplicate key (also at line 1)",
    ),
    "a list at the top": ("- firms: []\n- simulation: {}\n", 1, "a scenario must be a mapping"),
    "a number at the top": ("42\n", 1, "a scenario must be a mapping"),
    "a huge integer": (
        "simulation: {customers: 1000000000000000000000000000000, periods: 2}\n",
        1,
        "simulation.customers: 1000000000000000000000000000000 is out of range",
    ),
    "negative periods": (
        "simulation: {customers: 20, periods: -3}\n",
        1,
        "simulation.periods: -3 is out of range",
    ),
    "sweep over an unknown path": (
        "sweep: {grid: {market.nonsense: [1, 2]}}\n",
        1,
        "sweep.grid['market.nonsense']: no such parameter",
    ),
    "sweep over a firm that is not there": (
        "sweep: {grid: {firms.5.strategy: [clasp, zipper]}}\n",
        1,
        "sweep.grid['firms.5.strategy']: no such parameter",
    ),
    "sweep value not a list": (
        "sweep: {grid: {simulation.seed: 5}}\n",
        1,
        "sweep.grid['simulation.seed']: expected a list of values or a range",
    ),
    "boolean where a count is meant": (
        "simulation: {customers: true, periods: 2}\n",
        1,
        "simulation.customers: expected a number, got true or false",
    ),
    "YAML 1.1 yes for a rate": (
        "relationship: {decline_rate: yes}\n",
        1,
        "relationship.decline_rate: expected a number, got true or false",
    ),
    "boolean for a firm's price": (
        "firms: [{name: A, strategy: clasp, price: false}]\n",
        1,
        "firms.0.price: expected a number, got true or false",
    ),
    "boolean in a sweep": (
        "sweep: {grid: {simulation.customers: [20, true]}}\n",
        1,
        "simulation.customers: expected a number, got true or false",
    ),
    "binary firm name": (
        "firms: [{name: !!binary QQ==, strategy: clasp}]\n",
        1,
        "firms.0.name: a !!binary value",
    ),
    "binary seed": ("simulation: {seed: !!binary MQ==}\n", 1, "simulation.seed: a !!binary value"),
    "a set for the firms": ("firms: !!set {A: null}\n", 1, "firms: a !!set value"),
    "names that differ by a space": (
        "firms: [{name: A, strategy: clasp}, {name: 'A ', strategy: zipper}]\n",
        1,
        "firms.1.name: firm names must be unique",
    ),
    "strategy in capitals": (
        "firms: [{name: A, strategy: CLASP}]\n",
        1,
        "firms.0.strategy: unknown strategy 'CLASP'; valid strategies: clasp, zipper, velcro "
        "(names are exact: did you mean 'clasp'?)",
    ),
    "zip lists of different lengths": (
        "sweep: {zip: {simulation.customers: [20, 30], simulation.periods: [2]}}\n",
        1,
        "sweep.zip: zip lists must have the same length",
    ),
    "a NaN rate": (
        "market: {search_probability: .nan}\n",
        1,
        "market.search_probability: nan is out of range",
    ),
    "an unknown engine": (
        "execution: {engine: spark}\n",
        1,
        "execution.engine: 'spark' is not allowed",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_malformed_scenario_is_refused_naming_file_and_field(case, write, cli, tmp_path):
    text, line, expected = CASES[case]
    scenario = write(text)
    out = tmp_path / "out"
    code, stdout, err = cli("run", scenario, "--out", out, "-q")
    assert code == 2, err
    assert "Traceback" not in err and stdout == ""
    lines = err.splitlines()
    assert lines and all(each.startswith(f"{scenario}:") for each in lines), err
    assert any(each.startswith(f"{scenario}:{line}: {expected}") for each in lines), err
    assert not out.exists()  # nothing written


def test_an_empty_file_is_refused(write, cli, tmp_path):
    scenario = write("")
    code, _, err = cli("run", scenario, "--out", tmp_path / "out", "-q")
    assert code == 2
    assert err.startswith(f"{scenario}: the file is empty; a scenario is a mapping")
    assert not (tmp_path / "out").exists()
