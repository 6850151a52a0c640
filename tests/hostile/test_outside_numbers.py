"""Issue 23 point 4, found by the outside tester: numbers that are not numbers slipped through
where a field has no upper bound or belongs to a retention policy.

``acquisition_cost: .inf`` ran and printed a NaN customer equity (a field with only a lower
bound let +inf pass its range); a policy's ``budget: .inf`` and ``budget: yes`` (YAML 1.1's
boolean, counted as 1) and ``start: true`` ran too (policies are validated apart from the
other sections and missed the boolean check).
"""

import pytest
from hostile_helpers import one_line_error

FIRM = "simulation: {customers: 20, periods: 2}\nfirms:\n  - name: A\n    strategy: clasp\n"
CASES = {
    "+inf where only a lower bound is set": (
        FIRM + "    acquisition_cost: .inf\n",
        5,
        "firms.0.acquisition_cost: inf is out of range: give a finite number",
    ),
    "+inf policy budget": (
        FIRM + "    policies: [{name: win_back, budget: .inf}]\n",
        5,
        "firms.0.policies.0.budget: inf is out of range: give a finite number",
    ),
    "NaN policy budget": (
        FIRM + "    policies: [{name: win_back, budget: .nan}]\n",
        5,
        "firms.0.policies.0.budget: nan is out of range: give a finite number",
    ),
    "yes as a policy budget": (
        FIRM + "    policies: [{name: win_back, budget: yes}]\n",
        5,
        "firms.0.policies.0.budget: expected a number, got true or false",
    ),
    "true as a campaign start": (
        FIRM + "    policies: [{name: win_back, start: true}]\n",
        5,
        "firms.0.policies.0.start: expected a number, got true or false",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_non_numbers_are_refused(case, write, cli, tmp_path):
    text, line, expected = CASES[case]
    scenario = write(text)
    out = tmp_path / "out"
    code, _, err = cli("run", scenario, "--out", out, "-q")
    assert code == 2, err
    assert one_line_error(err).startswith(f"{scenario}:{line}: {expected}")
    assert not out.exists()
