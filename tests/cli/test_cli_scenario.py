"""Loading scenario files: typed validation, line numbers, sweep expansion, presets."""

import pytest

from experiments.scenario import Problem, ScenarioError, load_scenario
from sim.settings import SETTINGS
from sim.strategies import STRATEGIES


def problems_of(path, **kwargs):
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path, **kwargs)
    return caught.value.problems


def test_a_plain_scenario_is_one_point_with_the_given_values(write_scenario):
    path = write_scenario("""\
        name: plain
        market: {setting: ecommerce, repair_window: 4}
        firms: [{name: A, strategy: velcro, quality: 0.7}]
        simulation: {customers: 500, periods: 10, seed: 3, replications: 2}
        """)
    scenario = load_scenario(path)
    assert scenario.name == "plain"
    assert scenario.runs == 2
    (point,) = scenario.points
    assert point.values == {}
    config = point.config
    assert config.market.setting == "ecommerce"
    assert config.market.repair_window == 4
    # the rest of the market comes from the e-commerce preset
    assert config.market.search_probability == SETTINGS["ecommerce"]["search_probability"]
    firm = config.firms[0]
    assert firm.quality == 0.7
    assert firm.adaptation == STRATEGIES["velcro"].traits["adaptation"]


def test_the_name_defaults_to_the_file_name(write_scenario):
    path = write_scenario("simulation: {customers: 10}\n", name="my market.yaml")
    assert load_scenario(path).name == "my_market"


def test_grid_times_zip_in_file_order_with_inclusive_ranges(write_scenario):
    path = write_scenario("""\
        firms: [{name: A}, {name: B}]
        sweep:
          grid:
            firms.0.strategy: [clasp, zipper]
            market.setting: [traditional, ecommerce]
          zip:
            market.repair_window: {start: 2, stop: 6, step: 2}
            market.imitation: {start: 0.1, stop: 0.3, step: 0.1}
        """)
    scenario = load_scenario(path)
    assert scenario.sweep_paths == (
        "firms.0.strategy",
        "market.setting",
        "market.repair_window",
        "market.imitation",
    )
    assert len(scenario.points) == 2 * 2 * 3
    values = [p.values for p in scenario.points]
    assert values[0] == {
        "firms.0.strategy": "clasp",
        "market.setting": "traditional",
        "market.repair_window": 2,
        "market.imitation": 0.1,
    }
    assert values[2] == {
        "firms.0.strategy": "clasp",
        "market.setting": "traditional",
        "market.repair_window": 6,
        "market.imitation": 0.3,
    }
    assert values[3]["market.setting"] == "ecommerce"
    assert values[6]["firms.0.strategy"] == "zipper"
    assert all(isinstance(v["market.repair_window"], int) for v in values)
    assert [p.index for p in scenario.points] == list(range(12))


def test_a_swept_strategy_refills_the_firms_traits_and_a_setting_the_market(write_scenario):
    path = write_scenario("""\
        market: {setting: traditional, repair_window: 9}
        firms: [{name: A, strategy: clasp}, {name: B, strategy: clasp}]
        sweep:
          grid:
            firms.1.strategy: [zipper, velcro]
            market.setting: [traditional, ecommerce]
        """)
    points = load_scenario(path).points
    for point in points:
        config = point.config
        strategy = point.values["firms.1.strategy"]
        setting = point.values["market.setting"]
        assert config.firms[0].strategy == "clasp"
        assert config.firms[1].strategy == strategy
        for trait, value in STRATEGIES[strategy].traits.items():
            assert getattr(config.firms[1], trait) == value
        assert config.market.setting == setting
        assert config.market.imitation == SETTINGS[setting]["imitation"]
        assert config.market.repair_window == 9  # given explicitly: wins over the preset


def test_sweeping_inside_a_default_section_keeps_the_other_defaults(write_scenario):
    path = write_scenario("""\
        sweep:
          grid:
            relationship.wallet_share.decline: [0.2, 0.3]
            firms.2.strategy: [clasp]
        """)
    points = load_scenario(path).points
    assert [p.config.relationship.wallet_share.decline for p in points] == [0.2, 0.3]
    assert all(p.config.relationship.wallet_share.stability == 0.9 for p in points)
    assert [f.name for f in points[0].config.firms] == ["A", "B", "C"]
    assert points[0].config.firms[2].strategy == "clasp"


def test_overrides_apply_before_validation(write_scenario):
    path = write_scenario("simulation: {seed: 1, replications: 2}\n")
    scenario = load_scenario(path, {"simulation.seed": 99, "simulation.replications": 4})
    assert scenario.points[0].config.simulation.seed == 99
    assert scenario.runs == 4


def test_every_problem_is_reported_at_once_with_its_line(write_scenario):
    path = write_scenario("""\
        name: many
        market:
          setting: ecommerce
          repair_windw: 4
          search_probability: 1.5
        firms:
          - {name: A, strategy: zippr}
          - {name: B, quality: high}
        simulation: {customers: 300}
        """)
    problems = problems_of(path)
    found = {(p.line, p.path) for p in problems}
    assert found == {
        (4, "market.repair_windw"),
        (5, "market.search_probability"),
        (7, "firms.0.strategy"),
        (8, "firms.1.quality"),
    }
    by_path = {p.path: p.message for p in problems}
    assert by_path["market.repair_windw"] == "unknown field; did you mean 'repair_window'?"
    assert "allowed: 0 <= value <= 1" in by_path["market.search_probability"]
    assert "valid strategies: clasp, zipper, velcro" in by_path["firms.0.strategy"]
    assert "expected a number, got 'high'" in by_path["firms.1.quality"]
    assert (
        str(problems[0]) == f"{path}:4: market.repair_windw: unknown field; did you mean "
        "'repair_window'?"
    )


def test_a_bad_swept_value_is_reported_once_at_the_sweep_line(write_scenario):
    path = write_scenario("""\
        firms: [{name: A}, {name: B}]
        sweep:
          grid:
            firms.0.strategy: [clasp, zipper]
            market.setting: [traditional, ecommerc]
        """)
    (problem,) = problems_of(path)
    assert problem.line == 5
    assert problem.path == "market.setting"
    assert "unknown setting 'ecommerc'; valid settings: traditional, ecommerce" in problem.message
    assert "market.setting='ecommerc'" in problem.message


def test_sweep_paths_are_checked_against_the_schema(write_scenario):
    path = write_scenario("""\
        firms: [{name: A}, {name: B}]
        sweep:
          grid:
            firms.2.strategy: [clasp]
            market.repair_windw: [1, 2]
            markt.setting: [ecommerce]
            simulation.seed.x: [1]
          zip:
            market.imitation: [0.1, 0.2]
            market.outside_value: [0.1]
        """)
    messages = {p.line: p.message for p in problems_of(path)}
    assert "firms has 2 entries" in messages[4]
    assert "did you mean 'repair_window'" in messages[5]
    assert "did you mean 'market'" in messages[6]
    assert "single value" in messages[7]
    assert "same length" in messages[8]


@pytest.mark.parametrize(
    "sweep",
    ["sweep:\n", "sweep: {}\n", "sweep: {grid: {}}\n", "sweep:\n  grid:\n    market.setting: []\n"],
)
def test_an_empty_sweep_is_an_error(write_scenario, sweep):
    problems = problems_of(write_scenario(sweep))
    assert len(problems) == 1
    assert "empty sweep" in problems[0].message


def test_repeated_sweep_points_are_errors(write_scenario):
    (problem,) = problems_of(
        write_scenario("sweep:\n  grid:\n    market.repair_window: [2, 4, 2]\n")
    )
    assert problem.line == 1
    assert 'points repeated: {"market.repair_window": 2}' in problem.message
    # a value may repeat in a zip list when its partner differs
    path = write_scenario(
        "sweep:\n  zip:\n    market.repair_window: [2, 2]\n    market.imitation: [0.1, 0.2]\n"
    )
    assert len(load_scenario(path).points) == 2


def test_duplicate_keys_are_errors(write_scenario):
    path = write_scenario("market:\n  repair_window: 3\n  repair_window: 4\n")
    (problem,) = problems_of(path)
    assert (problem.line, problem.path) == (3, "market.repair_window")
    assert "duplicate key (also at line 2)" in problem.message


def test_problem_text_without_a_line():
    assert str(Problem("x.yaml", None, "", "no such file")) == "x.yaml: no such file"
    assert str(Problem("x.yaml", 3, "a.b", "bad")) == "x.yaml:3: a.b: bad"
