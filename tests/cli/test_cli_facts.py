"""``run.py facts``: the stylized facts table of MODEL.md section 9.

A tiny scenario (two settings x two replications, 300 customers, 50 periods)
is run once through the command into its six results folders (base, two
switching-cost variants, one retention lever per firm) and the pilot folders
that aim each lever's churn factor (under pilots/); the tests check the
folders, the pilots' search, the table's cells and facts, the intervals and
the report. analysis/facts.py is then checked on hand-built results folders
whose facts are known exactly, and its search for the churn factor on
hand-made points.
"""

import contextlib
import io
import math
import os
import shutil

import numpy as np
import pandas as pd
import pytest
import yaml

from analysis import facts
from analysis.report import Document, facts_section
from analysis.tables import t_quantile
from cli.main import main

SCENARIO = """\
name: tiny_facts
firms:
  - {name: A, strategy: clasp}
  - {name: B, strategy: zipper}
  - {name: C, strategy: velcro}
simulation: {customers: 300, periods: 50, seed: 11, replications: 2}
sweep:
  grid:
    market.setting: [traditional, ecommerce]
"""

STRATEGIES = ("clasp", "zipper", "velcro")
LEVERS = ("retention_lever_A", "retention_lever_B", "retention_lever_C")
SETTINGS = ("traditional", "ecommerce")
CELLS = {(s, t) for s in STRATEGIES for t in SETTINGS}


@pytest.fixture(scope="module")
def command(tmp_path_factory):
    """The scenario run through ``run.py facts`` (exit code, stdout, output folder)."""
    here = tmp_path_factory.mktemp("facts")
    (here / "tiny.yaml").write_text(SCENARIO)
    out = here / "out"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = main(["facts", here / "tiny.yaml", "--out", out, "--workers", "1", "-q"])
    return code, printed.getvalue(), out


def test_the_command_writes_every_folder_and_the_table(command):
    code, printed, out = command
    assert code in (0, 1)  # 1: some fact fails on so small a market; never bad input
    for name in [*facts.FOLDERS, *LEVERS]:
        assert (out / name / "runs.parquet").exists(), name
        assert (out / name / "cohorts.parquet").exists(), name
    assert (out / "facts.csv").exists() and (out / "facts.md").exists()
    table = facts.read_table(out / "facts.csv")
    assert list(table.columns) == list(facts.COLUMNS)
    assert code == (0 if table["passed"].all() else 1)
    assert printed.startswith("fact ")
    for fact in [*map(str, range(1, 8)), "level"]:
        assert f"fact {fact} (" in printed
        assert (table["fact"] == fact).any(), fact
    assert (out / facts.PILOTS / "aims.csv").exists()
    assert (out / facts.PILOTS / f"{LEVERS[0]}-1" / "runs.parquet").exists()


def test_the_table_never_reads_the_pilots(command, tmp_path):
    out = command[2]
    shutil.copytree(out, tmp_path / "out", ignore=shutil.ignore_patterns(facts.PILOTS))
    assert not (tmp_path / "out" / facts.PILOTS).exists()
    pd.testing.assert_frame_equal(facts.compute_facts(tmp_path / "out"), facts.compute_facts(out))


def test_the_table_has_every_cell_for_every_fact(command):
    table = facts.read_table(command[2] / "facts.csv")
    for fact in ("1", "2", "3", "5", "6", "7", "level"):
        rows = table[(table["fact"] == fact) & (table["strategy"] != "all")]
        assert set(zip(rows["strategy"], rows["setting"], strict=True)) == CELLS, fact
    pooled = table[(table["fact"] == "1") & (table["strategy"] == "all")]
    assert pooled["setting"].tolist() == ["traditional"]
    online = table[table["fact"] == "4"]
    assert sorted(online.groupby("strategy").size().tolist()) == [3, 3, 3]
    assert set(online["strategy"]) == set(STRATEGIES)
    # 5 profile measures (trust, switching cost, serve cost, value far, equity) x 6 cells
    assert (table["fact"] == "5").sum() == 5 * len(CELLS)
    assert (table["fact"] == "level").sum() == 3 * len(CELLS)
    # every measured row has a value and runs over both replications (fact 4: both settings)
    measured = table[table["fact"] != "2"]  # 50 periods leave fact 2 too few years
    assert measured["value"].notna().all()
    assert (measured.loc[measured["fact"] != "4", "runs"] == 2).all()
    assert (measured.loc[measured["fact"] == "4", "runs"] == 4).all()


def test_intervals_bracket_their_values(command):
    table = facts.read_table(command[2] / "facts.csv")
    bounded = table.dropna(subset=["low", "high"])
    assert len(bounded) > 0.8 * len(table.dropna(subset=["value"]))
    tolerance = 1e-9 * np.maximum(1.0, bounded["value"].abs())
    assert (bounded["low"] <= bounded["value"] + tolerance).all()
    assert (bounded["value"] <= bounded["high"] + tolerance).all()
    assert (bounded["low"] < bounded["high"]).any()


def test_variants_scale_each_points_value_and_keep_the_seeds(command):
    out = command[2]

    def points(name):
        text = (out / name / "scenario.resolved.yaml").read_text()
        return [p["config"] for p in yaml.safe_load(text)["points"]]

    base = points("base")
    assert base[0]["market"]["switching_cost_scale"] != base[1]["market"]["switching_cost_scale"]
    for name, factors in facts.VARIANTS.items():
        for mine, theirs in zip(points(name), base, strict=True):
            for path, factor in factors.items():
                section, field = path.split(".")
                assert mine[section][field] == pytest.approx(theirs[section][field] * factor)
        pd.testing.assert_series_equal(seeds_of(out / name), seeds_of(out / "base"))


PILOT_REPLICATIONS = min(facts.PILOT_REPLICATIONS, 2)  # the scenario has 2 replications


def aims_of(out):
    """``pilots/aims.csv`` of the command's output folder."""
    return pd.read_csv(out / facts.PILOTS / "aims.csv")


def test_each_lever_folder_sets_only_its_firms_churn_factor_to_the_aimed_k(command):
    out = command[2]
    factors = facts.churn_factors(out / "base").set_index(["point", "firm"])
    assert factors["runs"].eq(2).all() and len(factors) == 2 * 3
    chosen = aims_of(out).query("chosen").set_index(["point", "firm"])
    assert chosen.index.is_unique
    base = resolved_points(out / "base")
    for index, (firm, name) in enumerate(zip("ABC", LEVERS, strict=True)):
        assert facts.lever_folder(firm) == name
        for point, (mine, theirs) in enumerate(zip(resolved_points(out / name), base, strict=True)):
            if factors.loc[(point, firm), "clipped"]:  # halving impossible: k 0, no pilot
                aimed = 0.0
                assert (point, firm) not in chosen.index
            else:  # the pilot closest to half the churn
                aimed = chosen.loc[(point, firm), "k"]
            for other, (a, b) in enumerate(zip(mine["firms"], theirs["firms"], strict=True)):
                assert b["churn_factor"] == 1.0
                if other == index:
                    assert a["churn_factor"] == pytest.approx(aimed, abs=1e-12)
                else:
                    assert a == b
            assert {k: v for k, v in mine.items() if k != "firms"} == {
                k: v for k, v in theirs.items() if k != "firms"
            }
        pd.testing.assert_series_equal(seeds_of(out / name), seeds_of(out / "base"))


def test_pilots_search_k_by_regula_falsi_from_the_formula(command):
    out = command[2]
    aims = aims_of(out)
    anchors = facts.churn_factors(out / "base", replications=PILOT_REPLICATIONS).set_index(
        ["point", "firm"]
    )
    full = facts.churn_factors(out / "base").set_index(["point", "firm"])
    searched = set()
    for (point, firm), mine in aims.groupby(["point", "firm"]):
        searched.add((point, firm))
        mine = mine.sort_values("pilot")
        assert mine["pilot"].tolist() == list(range(1, len(mine) + 1))
        assert len(mine) <= facts.PILOT_ITERATIONS
        end = anchors.loc[(point, firm)]
        target = facts.CHURN_TARGET * end["churn"]
        known = [(0.0, end["life_churn"]), (1.0, end["churn"])]
        assert mine["k"].iloc[0] == pytest.approx(end["k"])  # the formula's k starts
        for row in mine.itertuples():
            assert row.k == pytest.approx(facts.next_churn_factor(known, target))
            assert row.base_churn == pytest.approx(end["churn"])  # paired with base's seeds
            assert row.ratio == pytest.approx(row.churn / row.base_churn)
            assert row.hit == (abs(row.ratio - facts.CHURN_TARGET) <= facts.CHURN_TOLERANCE)
            known.append((row.k, row.churn))
        # a search stops at its first hit, else after the last pilot (or a k that stops moving)
        assert not mine["hit"].iloc[:-1].any()
        assert (
            mine["hit"].iloc[-1]
            or len(mine) == facts.PILOT_ITERATIONS
            or abs(facts.next_churn_factor(known, target) - mine["k"].iloc[-1]) < 1e-3
        )
        best = facts.closest_churn_factor(zip(mine["k"], mine["churn"], strict=True), target)
        assert mine.loc[mine["chosen"], "k"].tolist() == [pytest.approx(best[0])]
    # every firm at every point is searched, unless halving is impossible there
    assert searched == set(full.index[~full["clipped"]])
    assert aims["hit"].any()


def test_each_pilot_is_a_lever_folder_of_fewer_replications_paired_with_base(command):
    out = command[2]
    aims = aims_of(out)
    base_seeds = seeds_of(out / "base")
    base = resolved_points(out / "base")
    for (firm, pilot), mine in aims.groupby(["firm", "pilot"]):
        folder = out / facts.PILOTS / f"{facts.lever_folder(firm)}-{pilot}"
        seeds = seeds_of(folder)
        assert len(seeds) == PILOT_REPLICATIONS * len(mine)  # only the points still aimed
        pd.testing.assert_series_equal(seeds, base_seeds[seeds.index])  # same run ids, seeds
        assert {int(r[1:4]) for r in seeds.index} == set(mine["point"])
        assert {int(r[-3:]) for r in seeds.index} == set(range(PILOT_REPLICATIONS))
        index = "ABC".index(firm)
        text = (folder / "scenario.resolved.yaml").read_text()
        for resolved in yaml.safe_load(text)["points"]:
            config, theirs = resolved["config"], base[resolved["point"]]
            k = mine.set_index("point").loc[resolved["point"], "k"]
            assert config["firms"][index]["churn_factor"] == pytest.approx(k, abs=1e-12)
            assert [f for i, f in enumerate(config["firms"]) if i != index] == [
                f for i, f in enumerate(theirs["firms"]) if i != index
            ]
            assert config["simulation"]["replications"] == PILOT_REPLICATIONS
        measured = facts.lever_churn(out / "base", folder, firm).set_index("point")
        for row in mine.itertuples():
            assert row.churn == pytest.approx(measured.loc[row.point, "churn"])
            assert row.runs == PILOT_REPLICATIONS


def test_fact_7_notes_each_cells_aimed_k_and_achieved_churn(command):
    out = command[2]
    table = facts.read_table(out / "facts.csv")
    factors = facts.churn_factors(out / "base")
    for _, row in table[table["fact"] == "7"].iterrows():
        mine = factors[
            (factors["strategy"] == row["strategy"]) & (factors["setting"] == row["setting"])
        ].iloc[0]
        lever = out / facts.lever_folder(mine["firm"])
        k = facts.lever_factors(lever, mine["firm"])[mine["point"]]
        achieved = (
            facts.lever_churn(out / "base", lever, mine["firm"])
            .set_index("point")
            .loc[mine["point"]]
        )
        assert achieved["runs"] == 2  # the full run, not the pilots
        note = f"k {k:.2f}; annual churn ratio lever/base {achieved['ratio']:.2f}"
        if mine["clipped"]:
            assert k == 0 and row["note"].startswith(note + "; k clipped: ")
        else:
            assert row["note"] == note


def resolved_points(folder):
    """Each sweep point's configuration, as the results folder records it."""
    text = (folder / "scenario.resolved.yaml").read_text()
    return [p["config"] for p in yaml.safe_load(text)["points"]]


def seeds_of(folder):
    """Each run's seed in a results folder."""
    return pd.read_parquet(folder / "runs.parquet").groupby("run_id")["seed"].first()


def test_the_report_of_base_carries_the_table(command):
    out = command[2]
    report = (out / "base" / "report.md").read_text()
    assert "## Stylized facts" in report
    assert "satisfied defector share, pooled" in report
    assert "Stylized facts" in (out / "base" / "report.html").read_text()


def test_a_stale_facts_file_is_left_out_of_the_report(tmp_path):
    (tmp_path / "facts.csv").write_text("fact,measure\n")
    (tmp_path / "runs.parquet").write_text("")
    now = os.stat(tmp_path / "facts.csv").st_mtime
    os.utime(tmp_path / "runs.parquet", (now + 10, now + 10))
    doc = Document()
    facts_section(doc, tmp_path)
    assert doc.blocks == []


def test_a_sweep_over_other_parameters_is_bad_input(tmp_path, capsys):
    (tmp_path / "swept.yaml").write_text(
        SCENARIO.replace(
            "market.setting: [traditional, ecommerce]",
            "market.setting: [traditional, ecommerce]\n    market.repair_window: [2, 4]",
        )
    )
    assert main(["facts", tmp_path / "swept.yaml", "--out", tmp_path / "out", "-q"]) == 2
    assert "market.setting" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------------------
# analysis/facts.py on hand-built results folders
# ---------------------------------------------------------------------------

T = 60  # periods: tenure years 1..3 are observed by at least 12 months of cohorts
REPLICATIONS = 3
SURVIVAL = {12: 10_000, 24: 8_000, 36: 6_800, 48: 5_712}  # R_1 0.80, R_2 0.85, R_3 0.84


def survivors(tenure: int) -> int:
    """Active customers of a cohort at ``tenure`` (steps at whole years)."""
    return SURVIVAL[min(max(12, 12 * (tenure // 12)), 48)]


def hand_built(folder, *, exits=None, equity=None, retention=0.8, life=10, lever=None, k=None):
    """A results folder: one firm per strategy, both settings, REPLICATIONS runs each.

    ``equity`` and ``retention`` (one number, or one per replication) apply to
    firm ``lever`` only if it is given (a fact 7 folder), else to every firm;
    ``life`` is the life defections of each period (of 50 defections). With
    ``k``, the folder's ``scenario.resolved.yaml`` records that the firms'
    ``churn_factor`` is 1 but ``lever``'s, which is ``k``.
    """
    runs, series, cohorts = [], [], []
    for point, setting in enumerate(SETTINGS):
        for rep in range(REPLICATIONS):
            run_id, seed = f"p{point:03d}-r{rep:03d}", 1000 * point + rep
            for firm, strategy in zip("ABC", STRATEGIES, strict=True):
                identity = {"run_id": run_id, "point": point, "replication": rep}
                mine = lever is None or firm == lever
                runs.append(
                    {
                        **identity,
                        "seed": seed,
                        "firm": firm,
                        "strategy": strategy,
                        "setting": setting,
                        "satisfied_defector_share": 0.7,
                        "annual_retention": (
                            (
                                retention
                                if isinstance(retention, tuple)
                                else (retention,) * REPLICATIONS
                            )[rep]
                            if mine
                            else 0.8
                        ),
                        "expected_lifetime": 5.0,
                        "satisfaction_sd": 0.15,
                        "value_far_from_standard": 0.4,
                        "top20_profit_share": (0.7, 0.8, 0.9)[rep],
                        "customer_equity": ((equity if mine else None) or (100.0, 200.0, 300.0))[
                            rep
                        ],
                        "referral_acquisitions": 30,
                        "acquisitions": 100,
                    }
                )
                for period in (0, 1, 24):
                    flows = period >= 1
                    exit_count = (exits or (60, 60, 60))[rep] if flows else 999
                    series.append(
                        {
                            **identity,
                            "period": period,
                            "firm": firm,
                            "strategy": strategy,
                            "setting": setting,
                            "satisfied_defectors": 30 if flows else 999,
                            "defections": 50 if flows else 999,
                            "defections_life": life if flows else 999,
                            "exits_from_decline": exit_count,
                            "recoveries": 100 - exit_count if flows else 0,
                            "acquisitions_referral": 3,
                            "advocates": 100,
                            "serve_cost": 10.0,
                            "customers": 100,
                            "mean_trust": 0.5,
                            "mean_switching_cost": 0.3,
                        }
                    )
                for cohort in range(T + 1):
                    for tenure in range(T - cohort + 1):
                        active = 10_000 if cohort == 0 else survivors(tenure)  # cohort 0 left out
                        cohorts.append(
                            {
                                **identity,
                                "firm": firm,
                                "strategy": strategy,
                                "setting": setting,
                                "cohort": cohort,
                                "tenure": tenure,
                                "active": active,
                            }
                        )
    folder.mkdir(parents=True)
    if k is not None:
        points = [
            {
                "point": point,
                "config": {
                    "firms": [
                        {"name": firm, "churn_factor": k if firm == lever else 1.0}
                        for firm in "ABC"
                    ]
                },
            }
            for point in range(len(SETTINGS))
        ]
        (folder / "scenario.resolved.yaml").write_text(yaml.safe_dump({"points": points}))
    pd.DataFrame(runs).to_parquet(folder / "runs.parquet")
    pd.DataFrame(series).to_parquet(folder / "timeseries.parquet")
    pd.DataFrame(cohorts).to_parquet(folder / "cohorts.parquet")


@pytest.fixture(scope="module")
def known(tmp_path_factory):
    """The facts table of hand-built folders."""
    out = tmp_path_factory.mktemp("known")
    hand_built(out / "base")
    hand_built(out / "switching_low", exits=(60, 60, 60))  # exit share 0.6
    hand_built(out / "switching_high", exits=(30, 40, 50))  # 0.3, 0.4, 0.5
    for firm in "ABC":  # each firm's equity +30% with its annual churn 0.2 -> 0.1
        hand_built(
            out / facts.lever_folder(firm),
            equity=(160.0, 260.0, 360.0),
            retention=0.9,
            lever=firm,
            k=0.2,
        )
    return facts.compute_facts(out)


def one(table, fact, strategy="clasp", setting="traditional", measure=None):
    rows = table[
        (table["fact"] == fact) & (table["strategy"] == strategy) & (table["setting"] == setting)
    ]
    if measure:
        rows = rows[rows["measure"].str.startswith(measure)]
    assert len(rows) == 1, rows
    return rows.iloc[0]


def test_known_pareto_share_and_its_student_interval(known):
    row = one(known, "6")
    half = t_quantile(2) * 0.1 / math.sqrt(3)
    assert row["value"] == pytest.approx(0.8)
    assert (row["low"], row["high"]) == pytest.approx((0.8 - half, 0.8 + half))
    assert row["runs"] == 3 and row["passed"]


def test_known_satisfaction_trap_pooled_over_periods_after_0(known):
    row = one(known, "1", strategy="all")
    assert row["value"] == pytest.approx(0.75)  # 3 x 30 / 3 x (50 - 10); period 0 ignored
    assert row["passed"]


def test_known_tenure_curve_leaves_out_cohort_0(known):
    row = one(known, "2")
    assert row["value"] == pytest.approx(0.84 - 0.85)  # the largest fall, years 2 -> 3
    assert (row["low"], row["high"]) == pytest.approx((row["value"], row["value"]))
    assert row["note"] == "R_y: 0.800 0.850 0.840"
    assert row["passed"]


def test_known_switching_cost_difference_needs_its_interval_below_0(known):
    row = one(known, "3")
    half = t_quantile(2) * 0.1 / math.sqrt(3)
    assert row["value"] == pytest.approx(-0.2)
    assert (row["low"], row["high"]) == pytest.approx((-0.2 - half, -0.2 + half))
    assert row["high"] > 0 and not row["passed"]  # below 0, but not clearly


def test_known_equity_gain_is_the_ratio_of_paired_means(known):
    row = one(known, "7")
    half = t_quantile(2) * 0.15 / math.sqrt(3)  # residuals (v - 1.3 b) / mean b: 0.15, 0, -0.15
    assert row["value"] == pytest.approx(0.3)
    assert (row["low"], row["high"]) == pytest.approx((0.3 - half, 0.3 + half))
    assert row["passed"]
    # the k the lever folder ran (not the formula's 0.375), and its churn 0.1 over base's 0.2
    assert row["note"] == "k 0.20; annual churn ratio lever/base 0.50"


def test_known_churn_factors_halve_the_churn_by_choice_exits(tmp_path):
    hand_built(tmp_path / "base")
    factors = facts.churn_factors(tmp_path / "base")
    assert len(factors) == 2 * 3 and list(factors.columns) == list(facts.CHURN_COLUMNS)
    assert factors["churn"].to_numpy() == pytest.approx(0.2)
    assert factors["life_churn"].to_numpy() == pytest.approx(0.04)
    assert factors["k"].to_numpy() == pytest.approx(0.375)
    assert not factors["clipped"].any()


def test_known_churn_factor_is_clipped_when_life_exits_exceed_half(tmp_path):
    hand_built(tmp_path / "base", life=30)  # life 0.12 of churn 0.2: above half (0.1)
    factors = facts.churn_factors(tmp_path / "base")
    assert (factors["k"] == 0).all() and factors["clipped"].all()
    for firm in "ABC":
        hand_built(tmp_path / facts.lever_folder(firm), retention=0.88, lever=firm, k=0.0)
    hand_built(tmp_path / "switching_low")
    hand_built(tmp_path / "switching_high")
    row = one(facts.compute_facts(tmp_path), "7")
    assert row["value"] == pytest.approx(0.0)
    assert row["note"] == (
        "k 0.00; annual churn ratio lever/base 0.60; k clipped: life "
        "exits 0.120 exceed half the churn 0.100, halving impossible"
    )


def test_a_missing_lever_folder_leaves_its_cells_without_a_value(tmp_path):
    hand_built(tmp_path / "base")
    hand_built(tmp_path / facts.lever_folder("A"), lever="A")
    table = facts.compute_facts(tmp_path)
    assert one(table, "7", strategy="clasp")["value"] == pytest.approx(0.0)  # equity unchanged
    row = one(table, "7", strategy="zipper")
    assert math.isnan(row["value"]) and not row["passed"]
    assert row["note"] == "missing folder retention_lever_B"


def test_a_lever_folder_without_its_configuration_notes_k_unknown(tmp_path):
    hand_built(tmp_path / "base")
    for firm in "ABC":
        hand_built(tmp_path / facts.lever_folder(firm), retention=0.9, lever=firm)
    row = one(facts.compute_facts(tmp_path), "7")
    assert row["note"] == "k n/a; annual churn ratio lever/base 0.50"
    assert facts.lever_factors(tmp_path / facts.lever_folder("A"), "A") == {}


def test_known_churn_factors_of_the_first_replications_only(tmp_path):
    hand_built(tmp_path / "base", retention=(0.8, 0.7, 0.1))
    factors = facts.churn_factors(tmp_path / "base", replications=2)
    assert factors["runs"].eq(2).all()
    assert factors["churn"].to_numpy() == pytest.approx(0.25)  # 1 - (0.8 + 0.7) / 2
    assert factors["k"].to_numpy() == pytest.approx((0.125 - 0.05) / 0.2)  # life 0.05
    assert facts.churn_factors(tmp_path / "base")["churn"].to_numpy() == pytest.approx(1 - 1.6 / 3)


def test_known_lever_churn_is_paired_with_base_on_the_seeds(tmp_path):
    hand_built(tmp_path / "base", retention=(0.8, 0.7, 0.1))
    hand_built(tmp_path / "lever", retention=(0.9, 0.8, 0.5), lever="B")
    runs = pd.read_parquet(tmp_path / "lever" / "runs.parquet")
    runs[runs["replication"] < 2].to_parquet(tmp_path / "lever" / "runs.parquet")  # a pilot
    measured = facts.lever_churn(tmp_path / "base", tmp_path / "lever", "B")
    assert measured["point"].tolist() == [0, 1]
    assert measured["runs"].tolist() == [2, 2]
    assert measured["churn"].to_numpy() == pytest.approx(0.15)
    assert measured["base_churn"].to_numpy() == pytest.approx(0.25)  # replication 2 left out
    assert measured["ratio"].to_numpy() == pytest.approx(0.6)
    other = facts.lever_churn(tmp_path / "base", tmp_path / "lever", "A")  # rival: unchanged
    assert other["churn"].to_numpy() == pytest.approx(0.2)


# ---------------------------------------------------------------------------
# The search for the churn factor (fact 7), on hand-made points
# ---------------------------------------------------------------------------

ENDS = [(0.0, 0.04), (1.0, 0.2)]  # life churn 0.04 at k = 0, base churn 0.2 at k = 1


def test_the_first_churn_factor_is_the_formulas():
    # the line through the ends meets half the churn at (0.1 - 0.04) / 0.16
    assert facts.next_churn_factor(ENDS, 0.1) == pytest.approx(0.375)


def test_the_bracket_is_kept_and_its_stuck_end_halved():
    # the pilot at 0.375 lands above the target, like the end at 1 before it: the end at 0
    # has been kept twice, so its distance 0.06 counts half: 0.375 * 0.03 / (0.03 + 0.06)
    points = [*ENDS, (0.375, 0.16)]
    assert facts.next_churn_factor(points, 0.1) == pytest.approx(0.125)
    # a third point above: the end at 0 counts a quarter, 0.125 * 0.015 / (0.015 + 0.02)
    assert facts.next_churn_factor([*points, (0.125, 0.12)], 0.1) == pytest.approx(
        0.125 * 0.015 / 0.035
    )
    # then one below: plain regula falsi inside the bracket [0.125, 0.375]
    assert facts.next_churn_factor([*points, (0.125, 0.08)], 0.1) == pytest.approx(
        0.125 + 0.25 * 0.02 / 0.08
    )


def test_the_bracket_is_the_tightest_even_if_noise_breaks_the_order():
    # 0.3 measured above the target but 0.5 below: the bracket is [0.5, 1]
    points = [*ENDS, (0.5, 0.09), (0.3, 0.12)]
    assert facts.next_churn_factor(points, 0.1) == pytest.approx(0.5 + 0.5 * 0.01 / 0.11)


def test_the_next_churn_factor_at_the_edges():
    assert facts.next_churn_factor([*ENDS, (0.3, 0.1)], 0.1) == 0.3  # on the target
    assert facts.next_churn_factor([(0.0, 0.12), (1.0, 0.2)], 0.1) == 0.0  # life too high
    assert facts.next_churn_factor([(0.4, 0.12), (1.0, 0.2)], 0.1) == pytest.approx(0.2)
    assert facts.next_churn_factor([(0.0, 0.04), (0.6, 0.08)], 0.1) == pytest.approx(0.8)


def test_the_search_halves_a_curved_churn_within_four_pilots():
    # churn that bends like the model's (steep near k = 0): plain regula falsi from the
    # formula's k is still 0.58 of the churn after 4 steps; the kept bracket hits at the 3rd
    def churn(k):
        return 0.034 + 0.138 * k**0.3

    target, tolerance = 0.5 * churn(1), facts.CHURN_TOLERANCE * churn(1)
    points = [(0.0, churn(0.0)), (1.0, churn(1.0))]
    pilots = 0
    while pilots < facts.PILOT_ITERATIONS:
        k = facts.next_churn_factor(points, target)
        assert 0 <= k <= 1
        points.append((k, churn(k)))
        pilots += 1
        if abs(churn(k) - target) <= tolerance:
            break
    assert pilots == 3 and abs(points[-1][1] / churn(1) - 0.5) <= facts.CHURN_TOLERANCE


def test_the_closest_pilot_is_kept():
    points = [(0.4, 0.16), (0.1, 0.095), (0.05, 0.107)]
    assert facts.closest_churn_factor(points, 0.1) == (0.1, 0.095)
    assert facts.closest_churn_factor([(0.2, 0.11), (0.1, 0.09)], 0.1) == (0.2, 0.11)  # tie
    with pytest.raises(ValueError):
        facts.closest_churn_factor([], 0.1)


def test_known_equal_settings_fail_fact_4_and_the_winner_check(known):
    rows = known[known["fact"] == "4"]
    assert (rows["value"] == 0).all() and not rows["passed"].any()
    equity = known[known["measure"].str.startswith("customer equity (winner")]
    assert not equity["passed"].any()  # every strategy ties: the same winner in both settings
