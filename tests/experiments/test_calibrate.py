"""Calibration pieces: the calibrate block, the target file, the simulated curve, the loss."""

import textwrap
from typing import get_args, get_origin

import numpy as np
import pandas as pd
import pytest

from analysis.retention import cohort_survival
from experiments import bounds
from experiments import calibrate as cal
from experiments.runner import run_cohorts, run_once
from experiments.scenario import ScenarioError, load_scenario
from experiments.schema import is_model, unwrap
from sim.config import Config

SCENARIO = """\
name: fit_me
firms:
  - {name: A, strategy: clasp}
  - {name: B, strategy: zipper}
simulation: {customers: 300, periods: 10, seed: 3}
calibrate:
  parameters:
    market.search_probability: [0.05, 0.8]
    relationship.exit_rate: [0.0, 0.5]
  firm: A
  replications: 2
  holdout: 3
  max_evaluations: 30
"""

CURVE = "period,survival\n0,1\n1,0.9\n2,0.8\n3,0.72\n4,0.66\n5,0.6\n"


@pytest.fixture
def write(tmp_path):
    def write(text: str, name: str) -> str:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return str(path)

    return write


@pytest.fixture
def scenario(write):
    return load_scenario(write(SCENARIO, "fit_me.yaml"))


def problems(error: ScenarioError) -> list[str]:
    return [str(p) for p in error.problems]


# ---------------------------------------------------------------------------
# The calibrate block
# ---------------------------------------------------------------------------


def test_block_is_read(scenario):
    block = scenario.calibration
    assert block.parameters == {
        "market.search_probability": (0.05, 0.8),
        "relationship.exit_rate": (0.0, 0.5),
    }
    assert (block.replications, block.holdout, block.firm) == (2, 3, "A")
    assert block.method == "differential_evolution"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            "market.search_probabilty: [0.05, 0.8]",
            "fit_me.yaml:8: calibrate.parameters['market.search_probabilty']: no such parameter: "
            "market has no field 'search_probabilty'; did you mean 'search_probability'?",
        ),
        ("market.search_probability: [0.8, 0.05]", "low must be below high"),
        (
            "market.search_probability: [0.05, 1.5]",
            "calibrate.parameters['market.search_probability']: bound 1.5: 1.5 is out of range; "
            "allowed: 0 <= value <= 1",
        ),
        ("relationship.min_age_formation: [1, 6]", "not a continuous number"),
        ("simulation.customers: [100, 200]", "simulation fields set the run"),
        ("firms.0.strategy: [0, 1]", "not a continuous number"),
        ("market.search_probability: [0.1]", "calibrate.parameters['market.search_probability']"),
    ],
)
def test_bad_parameters_are_named_with_their_line(write, change, expected):
    text = SCENARIO.replace("market.search_probability: [0.05, 0.8]", change)
    with pytest.raises(ScenarioError) as caught:
        load_scenario(write(text, "fit_me.yaml"))
    assert any(expected in line for line in problems(caught.value)), problems(caught.value)
    assert all(":8:" in line for line in problems(caught.value) if "calibrate.parameters" in line)


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("  firm: A", "  firm: Z", "calibrate.firm: no firm 'Z'; firms: A, B"),
        ("  firm: A", "  strategy: velcro", "no firm runs 'velcro'; strategies: clasp, zipper"),
        ("  firm: A", "  firm: A\n  strategy: clasp", "give firm or strategy, not both"),
        ("  holdout: 3", "  holdout: -1", "calibrate.holdout"),
        ("  replications: 2", "  replicatons: 2", "did you mean 'replications'?"),
        ("  firm: A", "  firm: A\n  method: simplex", "calibrate.method"),
        (
            "  max_evaluations: 30",
            "  max_evaluations: 19",
            "max_evaluations 19 is too few for 2 parameters; give at least 20",
        ),
        (
            "calibrate:",
            "sweep: {grid: {market.setting: [traditional, ecommerce]}}\ncalibrate:",
            "a scenario to calibrate has no sweep",
        ),
        (
            "calibrate:",
            "sensitivity:\n  methods: [morris]\n  parameters:\n"
            "    market.search_probability: [0.05, 0.5]\ncalibrate:",
            "a scenario to calibrate has no sensitivity block",
        ),
    ],
    ids=["firm", "strategy", "both", "holdout", "typo", "method", "budget", "sweep", "sensitivity"],
)
def test_bad_block_fields(write, old, new, message):
    with pytest.raises(ScenarioError) as caught:
        load_scenario(write(SCENARIO.replace(old, new), "fit_me.yaml"))
    assert any(message in line for line in problems(caught.value)), problems(caught.value)


# ---------------------------------------------------------------------------
# The target file
# ---------------------------------------------------------------------------


def test_target_is_read_with_its_holdout(write, scenario):
    target = cal.read_target(write(CURVE, "curve.csv"), scenario)
    frame = target.frame
    assert list(frame["period"]) == [0, 1, 2, 3, 4, 5]
    assert list(frame["in_sample"]) == [True, True, True, False, False, False]
    assert target.group is None and not target.by_cohort


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("period,survivl\n0,1\n", "curve.csv:1: survivl: unknown column; did you mean 'survival'?"),
        ("period\n0\n", "curve.csv:1: survival: required column is missing"),
        (
            "period,survival\n0,1\n1,0.8\n2,0.85\n",
            "curve.csv:4: survival: 0.85 at period 2 is above 0.8 at period 1 (line 3); "
            "survival cannot rise",
        ),
        ("period,survival\n0,1\n1,1.2\n", "curve.csv:3: survival: '1.2' is not a share in [0, 1]"),
        ("period,survival\n0,1\n1,x\n", "curve.csv:3: survival: 'x' is not a share in [0, 1]"),
        ("period,survival\n0,1\n1.5,0.9\n", "curve.csv:3: period: '1.5' is not a whole number"),
        (
            "period,survival\n0,1\n11,0.5\n",
            "curve.csv:3: period: 11 is beyond the scenario's horizon (simulation.periods: 10)",
        ),
        (
            "period,survival\n0,1\n1,0.9\n1,0.9\n",
            "curve.csv:4: period: period 1 given twice for this curve (also at line 3)",
        ),
        ("period,survival\n0,0.9\n1,0.8\n", "curve.csv:2: survival: must be 1 at period 0"),
        (
            "period,survival,firm\n0,1,A\n1,0.9,Q\n",
            "curve.csv:3: firm: 'Q' is not a firm the calibrate block follows; firms: A",
        ),
        ("period,survival,cohort\n0,1,8\n3,0.9,8\n", "curve.csv:3: period: cohort + period = 11"),
        ("period,survival\n0,1\n1,0.9\n2,0.8\n", "holdout 3 leaves no period after 0 to fit"),
        ("period,survival\n", "no rows"),
    ],
)
def test_bad_targets_name_file_line_and_column(write, scenario, text, expected):
    with pytest.raises(ScenarioError) as caught:
        cal.read_target(write(text, "curve.csv"), scenario)
    assert any(line.endswith(expected) or expected in line for line in problems(caught.value)), (
        problems(caught.value)
    )
    assert all("curve.csv" in line for line in problems(caught.value))


def test_missing_target(tmp_path, scenario):
    with pytest.raises(ScenarioError, match=r"nope\.csv: no such file"):
        cal.read_target(tmp_path / "nope.csv", scenario)


# ---------------------------------------------------------------------------
# The simulated curve and the loss
# ---------------------------------------------------------------------------


def test_survival_table_is_the_reports_cohort_survival(scenario):
    config = scenario.points[0].config
    assert run_cohorts(config, 9).equals(run_once(config, 9).cohorts)
    runs = [run_cohorts(config, seed) for seed in (1, 2)]
    selection = cal.Selection(group=None, firms=("A",), initial_only=False, by_cohort=False)
    table = cal.survival_table(runs, selection)
    pooled = pd.concat([r.assign(run_id=i) for i, r in enumerate(runs)])
    expected = cohort_survival(pooled[pooled["firm"] == "A"], keys=("firm",))
    np.testing.assert_allclose(table["survival"], expected["survival"])
    assert list(table["period"]) == list(expected["tenure"])
    per_cohort = cal.survival_table(runs, cal.Selection("firm", ("A",), False, True))
    per_cohort = per_cohort.dropna(ignore_index=True)  # cohorts never acquired: no curve
    expected = cohort_survival(pooled[pooled["firm"] == "A"], keys=("firm", "cohort"))
    expected = expected.sort_values(["cohort", "tenure"], ignore_index=True)
    np.testing.assert_allclose(per_cohort["survival"], expected["survival"])
    assert list(per_cohort["cohort"]) == list(expected["cohort"])


def test_firms_are_pooled_by_adding_customers(scenario):
    config = scenario.points[0].config
    runs = [run_cohorts(config, 4)]
    both = cal.survival_table(runs, cal.Selection(None, ("A", "B"), True, False))
    frame = runs[0][runs[0]["cohort"] == 0].groupby("tenure")["active"].sum()
    np.testing.assert_allclose(both["survival"], (frame / frame.iloc[0]).to_numpy())


def test_loss_counts_missing_rows_as_the_largest_error():
    assert cal.loss(np.array([0.5, np.nan]), np.array([0.4, 0.3])) == pytest.approx(0.01 + 1.0)
    assert cal.rmse(np.array([0.5, 0.7]), np.array([0.4, 0.7])) == pytest.approx(np.sqrt(0.01 / 2))


def test_common_random_numbers_make_the_loss_a_function_of_the_parameters(write, scenario):
    high = "period,survival\n" + "".join(f"{k},{1 - 0.01 * k}\n" for k in range(6))
    target = cal.read_target(write(high, "curve.csv"), scenario)
    objective = cal.Objective(
        raw_config={
            "firms": [{"name": "A", "strategy": "clasp"}, {"name": "B", "strategy": "zipper"}],
            "simulation": {"customers": 300, "periods": 10},
        },
        locs=(("market", "search_probability"),),
        seeds=cal.replication_seeds(1, 2),
        selection=cal.selection_for(scenario, target),
        target=target.frame,
    )
    assert objective([0.2]) == objective([0.2])
    # more searching loses more customers: the loss against a high curve grows
    assert objective([0.05]) < objective([0.6])


def test_target_rows_must_follow_the_blocks_firms_and_cohorts(write):
    text = SCENARIO.replace("  firm: A", "  firm: A\n  cohorts: initial").replace(
        "seed: 3}", "seed: 3, start: new}"
    )
    scenario = load_scenario(write(text, "fit_me.yaml"))
    curve = "period,survival,firm,cohort\n0,1,A,0\n1,0.9,A,0\n0,1,B,0\n0,1,A,2\n"
    with pytest.raises(ScenarioError) as caught:
        cal.read_target(write(curve, "curve.csv"), scenario)
    assert problems(caught.value) == [
        f"{scenario.source.parent / 'curve.csv'}:4: firm: 'B' is not a firm the calibrate "
        "block follows; firms: A",
        f"{scenario.source.parent / 'curve.csv'}:5: cohort: 2: the calibrate block follows the "
        "initial customers only (cohorts: initial), cohort 0; use cohorts: all",
    ]


def test_the_initial_cohort_needs_a_new_market(write):
    """A settled start gives the customers a firm starts with a history: not one cohort."""
    text = SCENARIO.replace("  firm: A", "  firm: A\n  cohorts: initial")
    with pytest.raises(ScenarioError) as caught:
        load_scenario(write(text, "fit_me.yaml"))
    assert [p.split(": ", 1)[1] for p in problems(caught.value)] == [
        "calibrate.cohorts: initial: the customers the firms start with, as one cohort "
        "acquired at period 0; a settled start (simulation.start, the default) gives them a "
        "history: set simulation.start: new"
    ]
    load_scenario(write(text.replace("seed: 3}", "seed: 3, start: new}"), "fit_new.yaml"))


def test_a_candidate_that_breaks_a_joint_rule_gets_the_worst_loss(write, scenario):
    target = cal.read_target(write(CURVE, "curve.csv"), scenario)
    objective = cal.Objective(
        raw_config={"simulation": {"customers": 200, "periods": 10}},
        locs=(("relationship", "trust_build_rate"), ("relationship", "trust_break_rate")),
        seeds=cal.replication_seeds(1, 1),
        selection=cal.selection_for(scenario, target),
        target=target.frame,
    )
    assert objective([0.3, 0.1]) == len(target.frame)  # trust would break slower than it builds
    assert objective([0.05, 0.2]) < len(target.frame) / 10


def test_cohort_size_weights(write):
    scenario = load_scenario(
        write(
            SCENARIO.replace("  firm: A\n", "  weights: cohort_size\n").replace(
                "holdout: 3", "holdout: 0"
            ),
            "fit_me.yaml",
        )
    )
    curve = (
        "period,survival,cohort,customers\n0,1,0,300\n1,0.9,0,300\n2,0.8,0,300\n"
        "0,1,1,100\n1,0.8,1,100\n"
    )
    target = cal.read_target(write(curve, "curve.csv"), scenario)
    # relative to the mean size of the fitted rows (periods after 0): (300 + 300 + 100) / 3
    weights = target.frame.set_index(["cohort", "period"])["weight"]
    assert weights[(0, 1)] == pytest.approx(300 / (700 / 3))
    assert weights[(1, 1)] == pytest.approx(100 / (700 / 3))
    assert cal.loss(
        np.array([0.5, 0.5]), np.array([0.4, 0.3]), np.array([2.0, 0.5])
    ) == pytest.approx(2 * 0.01 + 0.5 * 0.04)


@pytest.mark.parametrize(
    ("curve", "expected"),
    [
        (
            "period,survival\n0,1\n1,0.9\n",
            "curve.csv:1: customers: calibrate.weights is cohort_size: give each cohort's size",
        ),
        (
            "period,survival,customers\n0,1,300\n1,0.9,200\n",
            "curve.csv:3: customers: 200 differs from 300 at line 2: a cohort has one size",
        ),
        (
            "period,survival,customers\n0,1,0\n1,0.9,0\n",
            "curve.csv:2: customers: '0' is not a number of customers",
        ),
    ],
)
def test_bad_cohort_sizes(write, curve, expected):
    scenario = load_scenario(
        write(
            SCENARIO.replace("  firm: A\n", "  weights: cohort_size\n").replace(
                "holdout: 3", "holdout: 0"
            ),
            "fit_me.yaml",
        )
    )
    with pytest.raises(ScenarioError) as caught:
        cal.read_target(write(curve, "curve.csv"), scenario)
    assert any(expected in line for line in problems(caught.value)), problems(caught.value)


# ---------------------------------------------------------------------------
# Plausibility bounds (experiments.bounds)
# ---------------------------------------------------------------------------


def _continuous_paths(annotation, prefix=""):
    """Every continuous number of the model a calibrate block may fit, ``*`` for list items."""
    annotation = unwrap(annotation)
    if is_model(annotation):
        for name, info in annotation.model_fields.items():
            if unwrap(info.annotation) is float:
                yield f"{prefix}{name}"
            else:
                yield from _continuous_paths(info.annotation, f"{prefix}{name}.")
    elif get_origin(annotation) in (tuple, list):
        yield from _continuous_paths(get_args(annotation)[0], f"{prefix}*.")


def test_every_calibratable_parameter_has_documented_plausible_bounds():
    paths = [p for p in _continuous_paths(Config) if not p.startswith("simulation.")]
    assert len(paths) > 50
    missing = [path for path in paths if bounds.plausible(path.replace("*", "0")) is None]
    assert missing == [], f"add these to experiments.bounds.PLAUSIBLE: {missing}"
    for pattern, entry in bounds.PLAUSIBLE.items():
        assert entry.low < entry.high and entry.reason, pattern
    hurdle = bounds.plausible("relationship.defection_hurdle")
    assert hurdle.low == 0.0 and not hurdle.low <= -0.01 <= hurdle.high
    assert bounds.plausible("firms.3.quality") is bounds.PLAUSIBLE["firms.*.quality"]
    assert (
        bounds.plausible("market.stage_weights.decline.trust")
        is bounds.PLAUSIBLE["market.stage_weights.*.*"]
    )


@pytest.mark.parametrize("setting", ["traditional", "ecommerce"])
def test_shipped_defaults_are_plausible(setting):
    config = Config.model_validate(
        {
            "market": {"setting": setting},
            "firms": [{"name": s, "strategy": s} for s in ("clasp", "zipper", "velcro")],
        }
    )

    def leaves(node, prefix=""):
        if isinstance(node, dict):
            for key, value in node.items():
                yield from leaves(value, f"{prefix}{key}.")
        elif isinstance(node, list | tuple):
            for i, value in enumerate(node):
                yield from leaves(value, f"{prefix}{i}.")
        elif isinstance(node, float):
            yield prefix[:-1], node

    outside = []
    for path, value in leaves(config.model_dump(exclude={"simulation"})):
        entry = bounds.plausible(path)
        if entry is not None and not entry.low <= value <= entry.high:
            outside.append(f"{path} = {value:g} not in {entry.text()}")
    assert outside == []


@pytest.mark.parametrize(
    ("path", "value", "search", "expected"),
    [
        ("relationship.defection_hurdle", -0.1, (-0.5, 0.5), ["outside plausible [0, 0.2]"]),
        ("relationship.defection_hurdle", 0.199, (-0.5, 0.5), ["on plausible bound 0.2"]),
        ("relationship.defection_hurdle", 0.1, (-0.5, 0.5), []),
        ("firms.1.quality", 0.6, (0.3, 0.6), ["on search bound 0.6"]),
        ("firms.0.quality", 0.95, (0.5, 1.0), ["outside plausible [0.3, 0.9]"]),
        (
            "market.rival_visibility",
            0.1,
            (0.1, 1.0),
            ["outside plausible [0.2, 1]", "on search bound 0.1"],
        ),
        ("firms.0.policies.0.budget", 5.0, (0.0, 10.0), []),
    ],
)
def test_fitted_values_are_judged(path, value, search, expected):
    assert bounds.judge(path, value, search) == expected


def test_search_bounds_beyond_the_plausible_ones_get_one_line():
    note = bounds.search_note("relationship.defection_hurdle", (-0.5, 0.5))
    assert note.startswith(
        "relationship.defection_hurdle: search bounds [-0.5, 0.5] reach "
        "beyond the plausible [0, 0.2] (a hurdle is a cost of switching"
    )
    assert "\n" not in note
    assert bounds.search_note("relationship.defection_hurdle", (0.0, 0.1)) is None


# ---------------------------------------------------------------------------
# Periods: one model period per target period, or months aggregated to years
# ---------------------------------------------------------------------------

YEARLY = SCENARIO.replace("periods: 10", "periods: 36").replace(
    "  holdout: 3", "  holdout: 1\n  periods_per_target: 12"
)


def test_months_are_aggregated_to_years(write):
    scenario = load_scenario(write(YEARLY, "fit_me.yaml"))
    assert scenario.calibration.periods_per_target == 12
    target = cal.read_target(
        write("period,survival\n0,1\n1,0.7\n2,0.5\n3,0.4\n", "y.csv"), scenario
    )
    assert list(target.frame["in_sample"]) == [True, True, True, False]
    runs = [run_cohorts(scenario.points[0].config, seed) for seed in (1, 2)]
    monthly = cal.survival_table(runs, cal.Selection(None, ("A",), False, False))
    yearly = cal.survival_table(runs, cal.Selection(None, ("A",), False, False, 12))
    assert list(yearly["period"]) == [0, 1, 2, 3]
    np.testing.assert_allclose(
        yearly["survival"], monthly.set_index("period").loc[[0, 12, 24, 36], "survival"]
    )
    # yearly cohort c pools the months' cohorts 12 c .. 12 c + 11 (cohort 0 is month 0)
    per_year = cal.survival_table(runs, cal.Selection("firm", ("A",), False, True, 12))
    pooled = pd.concat([r.assign(run_id=i) for i, r in enumerate(runs)])
    first_year = pooled[(pooled["firm"] == "A") & pooled["cohort"].between(12, 23)]
    first_year = first_year.assign(year=1)
    expected = cohort_survival(first_year, keys=("year",)).set_index("tenure")["survival"]
    got = per_year[per_year["cohort"] == 1].set_index("period")["survival"]
    np.testing.assert_allclose(got.loc[[0, 1]], expected.loc[[0, 12]])


def test_a_target_beyond_the_years_of_the_run_is_refused(write):
    scenario = load_scenario(write(YEARLY, "fit_me.yaml"))
    with pytest.raises(ScenarioError) as caught:
        cal.read_target(write("period,survival\n0,1\n1,0.7\n4,0.3\n", "y.csv"), scenario)
    assert problems(caught.value) == [
        f"{scenario.source.parent / 'y.csv'}:4: period: 4 is beyond the scenario's horizon "
        "of 3 target periods (simulation.periods 36 // calibrate.periods_per_target 12)"
    ]
    with pytest.raises(ScenarioError) as caught:
        load_scenario(write(YEARLY.replace("periods: 36", "periods: 10"), "fit_me.yaml"))
    assert any(
        "fit_me.yaml:13: calibrate.periods_per_target: 12 model periods per target "
        "period need simulation.periods >= 12 (it is 10)" in line
        for line in problems(caught.value)
    ), problems(caught.value)
