"""Keep and compare, the ten-seed spread and the scenario picker, without a browser."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dashboard.compare import (
    MEASURES,
    SEEDS,
    compare_figure,
    curves,
    ending,
    run_seeds,
    same_market,
    spread,
    with_seed,
)
from dashboard.controls import ClassroomModel, initial_state
from dashboard.exercises import GUIDE, TEACHING, choices, exercises, plain

SMALL = {"customers": 300}
SHORT = 8


@pytest.fixture(scope="module")
def market():
    """The classroom default, small and short: (controls, sections)."""
    controls, sections, _ = initial_state(None)
    sections = {**sections, "simulation": {**sections["simulation"], "periods": SHORT}}
    return {**controls, **SMALL}, sections


def test_curves_are_the_outcome_panels_measures_of_the_run(market):
    controls, sections = market
    model = ClassroomModel(**controls, base=sections).run()
    table = curves(model)
    frame = model.firm_frame()
    assert list(table.columns[:6]) == ["period", "firm", *MEASURES]
    assert len(table) == len(frame) == (SHORT + 1) * 3
    for firm in ("A", "B", "C"):
        own, rows = table[table["firm"] == firm], frame[frame["firm"] == firm]
        assert own["customers"].tolist() == rows["customers"].tolist()
        assert own["equity"].iloc[-1] == pytest.approx(rows["discounted_profit"].sum())
        # retention: the average monthly share kept from month 1 on (month 0 has none)
        assert np.isnan(own["retention"].iloc[0])
        assert own["retention"].iloc[-1] == pytest.approx(rows["retention"].iloc[1:].mean())
        chose = (rows["defections"] - rows["defections_life"]).sum()
        assert own["satisfied_share"].iloc[-1] == pytest.approx(
            rows["satisfied_defectors"].sum() / chose
        )


def test_each_seed_run_is_the_run_the_page_builds_for_that_seed(market):
    controls, sections = market
    config = ClassroomModel(**controls, base=sections).config
    calls = []
    runs = run_seeds(config, seeds=(3, 5), progress=lambda done, total: calls.append((done, total)))
    assert calls == [(1, 2), (2, 2)]
    for seed in (3, 5):
        page = curves(ClassroomModel(**{**controls, "seed": seed}, base=sections).run())
        pd.testing.assert_frame_equal(
            runs[runs["seed"] == seed].drop(columns="seed").reset_index(drop=True), page
        )
    assert not runs[runs["seed"] == 3]["equity"].equals(runs[runs["seed"] == 5]["equity"])


def test_a_cancelled_seed_run_stops_before_the_next_seed(market):
    controls, sections = market
    config = ClassroomModel(**controls, base=sections).config
    done = []
    result = run_seeds(
        config, progress=lambda n, _: done.append(n), cancelled=lambda: len(done) >= 2
    )
    assert result is None
    assert done == [1, 2]


def test_spread_and_ending_summarise_the_seeds():
    rows = []
    for seed in range(4):
        for period in (0, 1):
            for firm, equity in (("A", 10.0 * seed), ("B", 15.0)):
                rows.append(
                    {
                        "period": period,
                        "firm": firm,
                        "customers": 100.0 + seed,
                        "retention": 0.9,
                        "equity": equity * period,
                        "satisfied_share": np.nan if period == 0 else 0.5,
                        "seed": seed,
                    }
                )
    runs = pd.DataFrame(rows)
    table = spread(runs)
    assert table.loc[(1, "A"), ("equity", "mean")] == pytest.approx(15.0)
    assert table.loc[(1, "A"), ("equity", "low")] == 0.0
    assert table.loc[(1, "A"), ("equity", "high")] == 30.0
    assert table.loc[(1, "B"), ("customers", "high")] == 103.0
    end = ending(runs)
    # A (0, 10, 20, 30) beats B (15) on seeds 2 and 3: first on 2 of 4
    assert end.loc["A", ("equity", "first")] == 2
    assert end.loc["B", ("equity", "first")] == 2
    assert (end[("equity", "seeds")] == 4).all()
    assert list(end.index) == ["A", "B"]


def test_the_figure_draws_the_run_the_kept_run_dashed_and_the_band(market):
    controls, sections = market
    model = ClassroomModel(**controls, base=sections).run(3)
    runs = run_seeds(model.config, seeds=(0, 1))
    figure = compare_figure(curves(model), curves(model), runs, months=SHORT)
    for ax in figure.axes:
        styles = [line.get_linestyle() for line in ax.lines]
        assert styles.count("-") == styles.count("--") == styles.count(":") == 3
        assert len(ax.collections) == 3  # one band per firm
        assert ax.get_xlim() == (0.0, SHORT)
    alone = compare_figure(curves(model))
    assert all(len(ax.lines) == 3 and not ax.collections for ax in alone.axes)


def test_same_market_ignores_only_the_seed(market):
    controls, sections = market
    config = ClassroomModel(**controls, base=sections).config
    assert same_market(config, with_seed(config, 7))
    other = ClassroomModel(**{**controls, "switching_cost_build": 2.0}, base=sections).config
    assert not same_market(config, other)
    assert tuple(range(10)) == SEEDS


def test_every_teaching_scenario_has_its_exercise_in_the_guide():
    texts = exercises()
    entries = choices()
    assert len(entries) == len(list(TEACHING.glob("*.yaml"))) == 3
    assert list(entries) == [text["title"] for text in texts.values()]
    for label, path in entries.items():
        assert label.startswith("Exercise ")
        text = texts[f"scenarios/teaching/{path.name}"]
        assert len(text["question"]) > 80 and len(text["vary"]) > 40
        assert "*" not in text["question"] + text["vary"]
        assert "`" not in text["question"] + text["vary"]


def test_the_picker_reads_question_and_what_to_vary_from_the_guide(tmp_path):
    guide = tmp_path / "teaching.md"
    guide.write_text(
        "# Guide\n\n## Exercise 9: A *test*\n\n**Scenario:** `scenarios/teaching/x.yaml`"
        " (a note)\n\n**Question:** Why\n**does** it `move`?\n\n**What to vary:** the"
        " *Seed*.\n\n**What students should observe:** hidden\n\n## Other\n\ntext\n",
        encoding="utf-8",
    )
    assert exercises(guide) == {
        "scenarios/teaching/x.yaml": {
            "title": "Exercise 9: A test",
            "question": "Why does it move?",
            "vary": "the Seed.",
        }
    }
    assert exercises(tmp_path / "absent.md") == {}
    assert plain("**Reset** then *Step* `x`") == "Reset then Step x"
    assert Path(__file__).resolve().parents[2] / "docs" / "teaching.md" == GUIDE


def test_the_command_prints_the_spread_table_and_refuses_bad_input(tmp_path, capsys):
    from dashboard.compare import main

    scenario = tmp_path / "small.yaml"
    scenario.write_text(
        "firms:\n  - {name: A, strategy: clasp}\n  - {name: B, strategy: zipper}\n"
        "  - {name: C, strategy: velcro}\nsimulation: {customers: 300, periods: 4}\n",
        encoding="utf-8",
    )
    assert main([str(scenario), "--set", "word_of_mouth=2"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "Month 4, seeds 0 to 9: mean (lowest-highest)"
    assert [line.split("\t")[0] for line in out[2:5]] == ["Firm A", "Firm B", "Firm C"]
    assert sum(int(line.split("\t")[-1].split(" of ")[0]) for line in out[2:5]) >= 10
    assert out[-1].startswith("10 runs in ")
    for argv, named in (
        ([str(scenario), "--set", "customers=50000"], "customers: '50000' is out of range"),
        ([str(scenario), "--set", "price_b"], "write NAME=VALUE"),
        ([str(tmp_path / "absent.yaml")], "absent.yaml"),
    ):
        assert main(argv) == 2
        error = capsys.readouterr().err
        assert named in error and error.count("\n") == 1


def test_the_compare_figure_is_redrawn_monthly_in_the_first_year_then_every_six_months():
    from dashboard.compare import redraw_month

    assert [redraw_month(m, 120) for m in (0, 1, 12, 13, 17, 18, 119, 120)] == [
        0,
        1,
        12,
        12,
        12,
        18,
        114,
        120,
    ]
    assert redraw_month(4, 4) == 4
