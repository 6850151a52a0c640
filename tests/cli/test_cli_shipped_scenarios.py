"""Every scenario shipped in scenarios/ is valid and runs; the main job is what the README says."""

from pathlib import Path

import pytest

from experiments.runner import run_once
from experiments.scenario import load_scenario, read_yaml
from experiments.sweep import plan_runs
from sim.settings import SETTINGS
from sim.strategies import STRATEGIES

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
SHIPPED = sorted(SCENARIOS.rglob("*.yaml"))  # subfolders too
BRIEF = {"simulation.customers": 200, "simulation.periods": 12, "simulation.replications": 1}
"""Small and short; 12 periods: a scenario that compares months with yearly targets needs a year."""


def test_scenarios_are_shipped():
    names = {p.stem for p in SHIPPED}
    assert "compare_strategies" in names
    assert {f"{s}_{t}" for s in STRATEGIES for t in SETTINGS} <= names
    assert len([n for n in names if n.startswith("teaching_")]) >= 2


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.relative_to(SCENARIOS)))
def test_a_shipped_scenario_loads_and_runs_briefly(path):
    scenario = load_scenario(path)
    assert scenario.name == path.stem
    brief = load_scenario(path, BRIEF)
    assert len(brief.points) == len(scenario.points)
    specs = plan_runs(brief)
    if brief.sensitivity is not None:  # hundreds of cells: the first and last of each setting
        cells = brief.sensitivity.cells_per_point
        specs = [s for s in specs if s.point % cells in (0, cells - 1)]
    for spec in specs:
        result = run_once(spec.config, spec.seed)
        assert len(result.firms) == len(spec.config.firms)
        assert len(result.timeseries) == 13 * len(spec.config.firms)


@pytest.mark.parametrize(("strategy", "setting"), [(s, t) for s in STRATEGIES for t in SETTINGS])
def test_one_scenario_per_strategy_and_setting(strategy, setting):
    (point,) = load_scenario(SCENARIOS / f"{strategy}_{setting}.yaml").points
    assert point.config.market.setting == setting
    assert [f.strategy for f in point.config.firms] == [strategy]


DESIGN_STRATEGIES = ["clasp", "zipper", "velcro"]
DESIGN_SETTINGS = ["ecommerce", "traditional"]
"""MODEL.md section 8's grid: the main job compares these, whatever else is registered (a
strategy or setting added later gets its own scenarios without changing the main job's market,
on which the README's figures and the stylized facts are measured)."""


def test_the_main_job_is_the_strategy_by_setting_grid():
    scenario = load_scenario(SCENARIOS / "compare_strategies.yaml")
    assert scenario.sweep_paths == ("market.setting",)
    assert sorted(p.values["market.setting"] for p in scenario.points) == DESIGN_SETTINGS
    assert set(DESIGN_STRATEGIES) <= set(STRATEGIES) and set(DESIGN_SETTINGS) <= set(SETTINGS)
    for point in scenario.points:
        config = point.config
        assert [f.strategy for f in config.firms] == DESIGN_STRATEGIES
        assert config.simulation.replications >= 20
        assert (config.simulation.customers, config.simulation.periods) == (10_000, 120)
        # all else equal: the firms differ only in their strategy (and name)
        others = [
            f.model_dump(exclude={"name", "strategy", *STRATEGIES["clasp"].traits})
            for f in config.firms
        ]
        assert all(o == others[0] for o in others)


def _comment_context(lines: list[str], line: int) -> str:
    """The comment on a line and the block of comment lines right above it."""
    text = lines[line - 1].partition("#")[2]
    above = line - 2
    while above >= 0 and lines[above].lstrip().startswith("#"):
        text += lines[above]
        above -= 1
    return text


@pytest.mark.parametrize(
    "path", [p for p in SHIPPED if p.stem.startswith("teaching_")], ids=lambda p: p.stem
)
def test_teaching_scenarios_explain_every_key(path):
    document = read_yaml(path, str(path))
    lines = path.read_text().splitlines()
    for loc in document.lines:
        key = loc[-1]
        if isinstance(key, int):
            continue
        ancestors = [loc[:i] for i in range(len(loc), 0, -1)]
        context = "".join(
            _comment_context(lines, document.lines[a]) for a in ancestors if a in document.lines
        )
        assert str(key) in context, f"{path.name}:{document.lines[loc]}: {key!r} is not explained"
