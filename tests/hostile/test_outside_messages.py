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


def test_a_very_long_value_is_not_echoed_in_full(write, cli, tmp_path):
    scenario = write("name: " + "a" * 300_000 + "\nsimulation: {customers: 20, periods: 2}\n")
    code, _, err = cli("run", scenario, "--out", tmp_path / "out")
    assert code == 2
    line = one_line_error(err)
    assert line.startswith(f"{scenario}:1: name: 300000 characters long; at most 120 are allowed")
    assert "a" * 100 not in line, line
    assert not (tmp_path / "out").exists()


def test_a_very_long_key_is_not_echoed_in_full(write, cli, tmp_path):
    # YAML takes keys of at most 1,024 characters
    scenario = write("simulation: {customers: 20, periods: 2, " + "k" * 1000 + ": 1}\n")
    code, _, err = cli("validate", scenario)
    assert code == 2
    line = one_line_error(err)
    assert line.startswith(f"{scenario}:1: simulation.kkkk") and "unknown field" in line
    assert "k" * 100 not in line, line


def test_a_refused_yaml_type_is_one_problem_not_two(write, cli, tmp_path):
    # a !!set where a mapping is meant was reported twice: as a !!set, then as not a mapping
    scenario = write("simulation: {customers: 20, periods: 2}\nmarket: !!set {setting: null}\n")
    code, _, err = cli("run", scenario, "--out", tmp_path / "out")
    assert code == 2
    assert one_line_error(err).startswith(f"{scenario}:2: market: a !!set value;")
    assert not (tmp_path / "out").exists()


def test_a_duplicate_firm_name_is_located_at_the_second_firm(write, cli, tmp_path):
    scenario = write(
        "simulation: {customers: 20, periods: 2}\nfirms:\n"
        "  - {name: Shop, strategy: clasp}\n  - {name: ' shop', strategy: zipper}\n"
    )
    code, _, err = cli("validate", scenario)
    assert code == 2
    assert one_line_error(err).startswith(
        f"{scenario}:4: firms.1.name: firm names must be unique (compared ignoring case"
    )
