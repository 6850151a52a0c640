"""The classroom scenarios: their keys, their configs, and the guide that uses them."""

import re
from pathlib import Path

import pytest
import yaml

from dashboard.controls import classroom_config, controls_from_sections, load_scenario
from sim.config import Config

ROOT = Path(__file__).resolve().parents[2]
TEACHING = ROOT / "scenarios" / "teaching"
SCENARIO_KEYS = {"name", "description", "market", "customers", "firms", "simulation"}
SCENARIOS = sorted(TEACHING.glob("*.yaml"))
GUIDE = ROOT / "docs" / "teaching.md"


def test_there_are_three_teaching_scenarios():
    assert [path.name for path in SCENARIOS] == [
        "clasp_vs_zipper_ecommerce.yaml",
        "satisfied_customers_leave.yaml",
        "what_switching_cost_buys.yaml",
    ]


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda path: path.stem)
def test_scenario_has_exactly_the_loader_keys_and_a_valid_config(path):
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert set(data) == SCENARIO_KEYS
    assert data["name"] == path.stem  # the loader's names: letters, digits, '_', '-', '.'
    assert data["description"].strip()
    config = Config.model_validate(
        {
            k: v
            for k, v in data.items()
            if k in ("market", "customers", "relationship", "firms", "simulation")
        }
    )
    assert len(config.firms) == 3


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda path: path.stem)
def test_scenario_loads_with_the_projects_scenario_loader(path):
    """`python run.py app SCENARIO.yaml` and `run.py run` read the same files."""
    from experiments.scenario import load_scenario as load_scenario_file

    load_scenario_file(path)


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda path: path.stem)
def test_dashboard_controls_reproduce_the_scenario(path):
    """Starting the dashboard on a scenario builds exactly the scenario's config."""
    sections, _ = load_scenario(path)
    rebuilt = classroom_config(sections, **controls_from_sections(sections))
    assert rebuilt == Config.model_validate(sections)


def test_guide_has_three_exercises_each_with_a_scenario_question_levers_and_observation():
    text = GUIDE.read_text(encoding="utf-8")
    exercises = re.split(r"^## Exercise \d", text, flags=re.MULTILINE)[1:]
    assert len(exercises) == 3
    used = set()
    for exercise in exercises:
        paths = re.findall(r"scenarios/teaching/[\w.]+\.yaml", exercise)
        assert paths, "each exercise names its scenario file"
        used.update(paths)
        for heading in ("Question", "What to vary", "What students should observe"):
            assert f"**{heading}" in exercise, heading
    assert used == {f"scenarios/teaching/{path.name}" for path in SCENARIOS}
    for path in used:
        assert (ROOT / path).is_file()
