"""Issue 23 point 6, found by the outside tester: messages that did not say what is allowed.

A misspelt policy key (``budgett``) was answered with the policy's own parameters only
(``valid: cost_per_contact, value_lift``), neither suggesting ``budget`` nor listing it.
"""

from hostile_helpers import one_line_error

FIRM = "simulation: {customers: 20, periods: 2}\nfirms:\n  - name: A\n    strategy: clasp\n"


def test_a_misspelt_policy_key_suggests_the_right_one(write, cli, tmp_path):
    scenario = write(FIRM + "    policies: [{name: onboarding, budgett: 5}]\n")
    code, _, err = cli("validate", scenario)
    assert code == 2
    assert one_line_error(err) == (
        f"{scenario}:5: firms.0.policies.0: budgett: not a field of policy 'onboarding'; "
        "did you mean 'budget'?"
    )


def test_an_unknown_policy_key_lists_every_field(write, cli, tmp_path):
    scenario = write(FIRM + "    policies: [{name: onboarding, colour: red}]\n")
    code, _, err = cli("validate", scenario)
    assert code == 2
    line = one_line_error(err)
    assert line.startswith(f"{scenario}:5: firms.0.policies.0: colour: not a field of policy")
    for field in ("budget", "stages", "segment", "start", "end", "cost_per_contact"):
        assert field in line, line
