"""``run.py export RESULTS_DIR --transactions``: the purchase log round-trips exactly.

A small sweep (two settings x two replications, firms with retention policies
that restart relationships back to back) is run once; the tests read the
exported CSV files back with plain ``pandas.read_csv`` and rebuild the
engine's own totals bit for bit.
"""

import datetime
import json
import math
import re
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from analysis.export import (
    CUSTOMER_CLV_COLUMNS,
    TRANSACTION_FILE_COLUMNS,
    ExportError,
    choose_runs,
    occasion_dates,
    period_dates,
)
from cli.main import main

PERIODS = 16

SCENARIO = f"""\
name: shop
firms:
  - {{name: A, strategy: clasp,
      policies: [{{name: win_back}}, {{name: price_promotion, budget: 15}}]}}
  - {{name: B, strategy: zipper, policies: [{{name: cross_sell}}]}}
  - {{name: C, strategy: velcro}}
simulation: {{customers: 600, periods: {PERIODS}, seed: 3, replications: 2}}
sweep:
  grid:
    market.setting: [traditional, ecommerce]
"""

ANALYSIS_DOC = Path(__file__).resolve().parents[2] / "docs" / "analysis.md"

FLOAT32 = {"rtol": 1e-6}
"""Tolerance of sums of the log's float32 shares against the engine's float32 numbers."""


def assert_dates_within_periods(transactions: pd.DataFrame, start: str, length: str) -> None:
    """Every purchase is dated to a day of its period, and the days of a period vary."""
    bounds = pd.to_datetime(
        period_dates(int(transactions["period"].max()) + 1, pd.Timestamp(start).date(), length)
    )
    dates = pd.to_datetime(transactions["date"])
    period = transactions["period"].to_numpy()
    assert (dates >= bounds[period]).all() and (dates < bounds[period + 1]).all()
    assert dates.groupby(period).nunique().min() > 1  # day resolution


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """The scenario run into ``results/shop``, exported with the defaults."""
    here = tmp_path_factory.mktemp("export")
    (here / "shop.yaml").write_text(SCENARIO)
    folder = here / "results" / "shop"
    assert (
        main(["run", here / "shop.yaml", "--out", folder, "--workers", "1", "-q", "--no-report"])
        == 0
    )
    assert main(["export", folder, "--transactions", "-q"]) == 0
    return folder


@pytest.fixture(scope="module")
def exported(results):
    """The exported files read back as a researcher would."""
    out = results / "transactions"
    return (
        pd.read_csv(out / "transactions.csv"),
        pd.read_csv(out / "customers_clv.csv"),
        json.loads((out / "export.json").read_text()),
    )


def test_the_files_have_the_documented_layout(results, exported):
    transactions, customers, record = exported
    swept = ["market.setting"]
    assert list(transactions.columns) == [
        *TRANSACTION_FILE_COLUMNS[:9],
        *swept,
        *TRANSACTION_FILE_COLUMNS[9:],
    ]
    assert list(customers.columns) == [*CUSTOMER_CLV_COLUMNS[:7], *swept, *CUSTOMER_CLV_COLUMNS[7:]]
    # default: replication 0 of every point
    assert sorted(transactions["run_id"].unique()) == ["p000-r000", "p001-r000"]
    assert [run["run_id"] for run in record["runs"]] == ["p000-r000", "p001-r000"]
    runs = pd.read_parquet(results / "runs.parquet").drop_duplicates("run_id")
    seeds = dict(zip(runs["run_id"], runs["seed"], strict=True))
    assert all(seeds[r["run_id"]] == r["seed"] for r in record["runs"])
    assert (transactions["setting"] == transactions["market.setting"]).all()
    assert (transactions["monetary_value"] > 0).all()
    # one row per purchase occasion: some customers buy more than once in a period
    assert transactions.duplicated(["run_id", "period", "customer_id"]).any()
    # period 1 starts on the start date, one month per period, each purchase on its day
    assert_dates_within_periods(transactions, "2020-01-01", "month")
    assert transactions["date"].min() <= "2020-01-03"
    assert "2021-04-01" <= transactions["date"].max() <= "2021-04-30"
    assert record["period_length"] == "month" and "date_of_purchase" in record


def test_revenue_and_occasions_rebuild_the_ledger(results, exported):
    transactions, _, _ = exported
    ledger = pd.read_parquet(results / "timeseries.parquet")
    checked = 0
    for (run_id, period), rows in transactions.groupby(["run_id", "period"]):
        books = ledger[(ledger["run_id"] == run_id) & (ledger["period"] == period)]
        firms = pd.Categorical(rows["firm"], categories=list(books["firm"])).codes
        revenue = np.bincount(
            firms, weights=rows["monetary_value"].to_numpy(), minlength=len(books)
        )
        np.testing.assert_allclose(
            revenue, books["revenue"].to_numpy(), **FLOAT32, err_msg=f"{run_id} period {period}"
        )
        occasions = np.bincount(firms, minlength=len(books))
        assert (occasions == books["occasions"].to_numpy()).all(), (run_id, period)
        checked += 1
    assert checked == 2 * PERIODS


def test_per_customer_totals_rebuild_the_engine_accumulators(results, exported):
    """The engine adds sales to ``revenue_to_date`` and CLV increments to ``clv``; the export
    holds a customer's sales of every period, and its CLV increment of the periods it bought."""
    transactions, _, _ = exported
    stored = pd.read_parquet(results / "customers.parquet")  # the original runs' end state
    keys = ["customer_id", "firm", "acquired_period"]
    checked = every_period = 0
    for run_id, rows in transactions.groupby("run_id"):
        end = stored[stored["run_id"] == run_id].rename(columns={"customer": "customer_id"})
        end = end.assign(firm=end["firm"].astype(str)).set_index(keys)
        rows = rows.assign(firm=rows["firm"].astype(str))
        totals = rows.groupby(keys).agg(
            revenue=("monetary_value", "sum"),
            clv=("clv_increment", "sum"),
            periods=("period", "nunique"),
        )
        mine = totals.reindex(end.index, fill_value=0)
        np.testing.assert_allclose(mine["revenue"], end["revenue_to_date"], **FLOAT32)
        # who bought in every period of its relationship has all its CLV increments logged
        # (a customer won back in period t is in the books from t, one acquired otherwise
        # from t + 1, and the log does not tell them apart: only firm A wins customers back)
        acquired = end.index.get_level_values("acquired_period")
        won_back = (end.index.get_level_values("firm") == "A") & (acquired > 0)
        full = (
            (mine["periods"] == PERIODS - acquired) & (acquired < PERIODS) & ~won_back
        ).to_numpy()
        np.testing.assert_allclose(
            mine.loc[full, "clv"], end.loc[full, "realized_clv"], rtol=1e-5, atol=1e-5
        )
        checked += len(end)
        every_period += int(full.sum())
    assert checked > 500 and 10 < every_period < checked


def test_customer_totals_are_the_exact_sums_of_the_purchases(results, exported):
    transactions, customers, _ = exported
    keys = ["run_id", "firm", "customer_id"]
    grouped = transactions.groupby(keys)
    table = customers.set_index(keys)
    bought = table[table["purchases"] > 0]
    assert len(bought) == grouped.ngroups
    rebuilt = grouped.agg(
        purchases=("period", "size"),
        first=("period", "min"),
        last=("period", "max"),
        total_revenue=("monetary_value", math.fsum),
        realized_clv=("clv_increment", math.fsum),
    ).loc[bought.index]
    assert (rebuilt["total_revenue"] == bought["total_revenue"]).all()
    assert (rebuilt["realized_clv"] == bought["realized_clv"]).all()
    assert (rebuilt["purchases"] == bought["purchases"]).all()
    assert (rebuilt["first"] == bought["first_purchase_period"]).all()
    assert (rebuilt["last"] == bought["last_purchase_period"]).all()
    assert (customers["total_clv"] == customers["realized_clv"] + customers["projected_clv"]).all()
    # several relationships with one firm: some customers were won back or came back
    assert (customers["relationships"] > 1).any()


def test_active_customers_and_their_projected_clv_match_the_results_folder(results, exported):
    _, customers, _ = exported
    stored = pd.read_parquet(results / "customers.parquet")
    active = customers[customers["active_at_end"]].set_index(["run_id", "firm", "customer_id"])
    stored = stored.set_index(["run_id", "firm", "customer"]).sort_index()
    assert sorted(active.index) == sorted(stored.index)
    assert (active.loc[stored.index, "projected_clv"] == stored["projected_clv"]).all()
    assert (customers.loc[~customers["active_at_end"], "projected_clv"] == 0).all()
    # customers won in the last period are customers without purchases yet
    fresh = customers[customers["purchases"] == 0]
    assert fresh["active_at_end"].all() and (fresh["realized_clv"] == 0).all()


def test_choosing_runs_dates_and_parquet(results, tmp_path, capsys):
    out = tmp_path / "out"
    assert (
        main(
            [
                "export",
                results,
                "--transactions",
                "--run",
                "p001-r001",
                "--out",
                out,
                "--start-date",
                "2024-01-31",
                "--period-length",
                "month",
                "--format",
                "parquet",
            ]
        )
        == 0
    )
    assert "p001-r001" in capsys.readouterr().err
    transactions = pd.read_parquet(out / "transactions.parquet")
    assert set(transactions["run_id"]) == {"p001-r001"}
    assert_dates_within_periods(transactions, "2024-01-31", "month")  # then 02-29, 03-31, ...
    # dates are typed in Parquet (Arrow date32), not text
    assert str(pq.read_schema(out / "transactions.parquet").field("date").type) == "date32[day]"
    second = transactions.loc[transactions["period"] == 2, "date"]
    assert second.max() < datetime.date(2024, 3, 31)
    assert sorted(p.name for p in out.iterdir()) == [
        ".crm-sim",
        "customers_clv.parquet",
        "export.json",
        "transactions.parquet",
    ]
    assert (
        main(
            [
                "export",
                results,
                "--transactions",
                "--all",
                "--out",
                out,
                "-q",
                "--period-length",
                "week",
            ]
        )
        == 0
    )
    transactions = pd.read_csv(out / "transactions.csv")
    assert transactions["run_id"].nunique() == 4
    assert_dates_within_periods(transactions, "2020-01-01", "week")
    assert not (out / "transactions.parquet").exists()  # the other format is not left stale
    assert period_dates(3, pd.Timestamp("2024-01-01").date(), "week") == [
        "2023-12-25",
        "2024-01-01",
        "2024-01-08",
        "2024-01-15",
    ]


def test_a_purchase_day_keeps_its_place_in_the_period():
    start = pd.Timestamp("2024-01-31").date()
    months = period_dates(4, start, "month")  # 01-31, 02-29, 03-31, 04-30
    dates = occasion_dates([1, 1, 2, 2, 3], [0, 29, 30, 59, 89], months)
    assert str(dates.dtype) == "date32[day][pyarrow]"  # a date, not text
    iso = [d.isoformat() for d in dates]
    assert iso == ["2024-01-31", "2024-02-28", "2024-02-29", "2024-03-29", "2024-04-29"]
    weeks = occasion_dates([1, 1, 2], [0, 29, 45], period_dates(3, start, "week"))
    assert [d.isoformat() for d in weeks] == ["2024-01-31", "2024-02-06", "2024-02-10"]
    days = occasion_dates([1, 1, 3], [0, 29, 75], period_dates(4, start, "day"))
    assert [d.isoformat() for d in days] == ["2024-01-31", "2024-01-31", "2024-02-02"]
    with pytest.raises(ValueError, match="outside its period"):
        occasion_dates([2], [29], months)


def test_a_fresh_run_removes_the_stale_export(tmp_path):
    (tmp_path / "s.yaml").write_text(
        SCENARIO.replace("replications: 2", "replications: 1").replace(
            "customers: 600", "customers: 100"
        )
    )
    folder = tmp_path / "results"
    assert (
        main(["run", tmp_path / "s.yaml", "--out", folder, "-q", "--workers", "1", "--no-report"])
        == 0
    )
    assert main(["export", folder, "--transactions", "-q"]) == 0
    assert (folder / "transactions" / "transactions.csv").exists()
    assert (
        main(
            [
                "run",
                tmp_path / "s.yaml",
                "--out",
                folder,
                "-q",
                "--workers",
                "1",
                "--no-report",
                "--seed",
                "4",
                "--force",
            ]
        )
        == 0
    )
    # only crm-sim's marker is left, listing nothing
    assert [p.name for p in (folder / "transactions").iterdir()] == [".crm-sim"]
    assert (folder / "transactions" / ".crm-sim").read_text() == ""


# ---------------------------------------------------------------------------
# Bad input: one clear line, exit code 2, nothing written
# ---------------------------------------------------------------------------


def _fails(capsys, *args, match: str) -> str:
    assert main(["export", *map(str, args)]) == 2
    err = capsys.readouterr().err
    assert re.search(match, err), err
    assert "Traceback" not in err
    return err


def test_bad_folders(tmp_path, capsys):
    _fails(capsys, tmp_path / "nowhere", "--transactions", match="nowhere: no such folder")
    (tmp_path / "empty").mkdir()
    _fails(capsys, tmp_path / "empty", "--transactions", match="no runs.parquet")
    assert not (tmp_path / "empty" / "transactions").exists()


def test_unknown_run_lists_the_valid_ones(results, tmp_path, capsys):
    _fails(
        capsys,
        results,
        "--transactions",
        "--run",
        "p009-r000",
        "--out",
        tmp_path / "x",
        match=r"unknown run 'p009-r000'; valid run ids .*p000-r000, p000-r001, p001-r000",
    )
    assert not (tmp_path / "x").exists()


def test_a_failed_run_is_named_as_failed_not_unknown():
    runs = pd.DataFrame({"run_id": ["p000-r000"], "point": [0], "replication": [0], "seed": [7]})
    failures = [{"run_id": "p000-r001", "error": "ValueError: boom"}]
    with pytest.raises(
        ExportError,
        match=r"run 'p000-r001' failed \(ValueError: boom\), so "
        r"it has no results to export.*--resume",
    ):
        choose_runs(runs, {0: None}, (), ["p000-r001"], failures=failures)
    with pytest.raises(ExportError, match="unknown run 'p000-r002'"):
        choose_runs(runs, {0: None}, (), ["p000-r002"], failures=failures)
    assert [
        r.run_id for r in choose_runs(runs, {0: None}, (), ["p000-r000"], failures=failures)
    ] == ["p000-r000"]


def test_nothing_to_export_and_conflicting_choices(results, capsys):
    _fails(capsys, results, match="nothing to export: add --transactions")
    _fails(
        capsys,
        results,
        "--transactions",
        "--all",
        "--run",
        "p000-r000",
        match="either --run or --all",
    )


@pytest.mark.parametrize("date", ["2024-13-01", "yesterday", "2024-02-30"])
def test_a_bad_date_is_a_usage_error(results, capsys, date):
    with pytest.raises(SystemExit) as exit_info:
        main(["export", str(results), "--transactions", "--start-date", date])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert f"--start-date: {date!r} is not a date; give YYYY-MM-DD" in err


def test_an_output_folder_that_is_a_file(results, tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    _fails(
        capsys,
        results,
        "--transactions",
        "--out",
        tmp_path / "file",
        match="output folder .*file: exists and is not a folder",
    )


def _copy(results: Path, target: Path) -> Path:
    target.mkdir()
    for name in (
        "runs.parquet",
        "timeseries.parquet",
        "scenario.resolved.yaml",
        "manifest.json",
        "customers.parquet",
    ):
        (target / name).write_bytes((results / name).read_bytes())
    return target


def test_an_interrupted_folder_is_refused(results, tmp_path, capsys):
    folder = _copy(results, tmp_path / "copy")
    manifest = json.loads((folder / "manifest.json").read_text())
    (folder / "manifest.json").write_text(json.dumps({**manifest, "status": "running"}))
    _fails(capsys, folder, "--transactions", match=r"incomplete .*--resume")
    assert not (folder / "transactions").exists()


def test_results_another_version_wrote_are_refused(results, tmp_path, capsys, snapshot):
    folder = _copy(results, tmp_path / "copy")
    earlier = tmp_path / "earlier"
    assert main(["export", folder, "--transactions", "--out", earlier, "-q"]) == 0
    before = snapshot(earlier)
    timeseries = pd.read_parquet(folder / "timeseries.parquet")
    changed = (timeseries["run_id"] == "p001-r000") & (timeseries["period"] == 5)
    timeseries.loc[changed, "revenue"] *= 1.001  # as if the rules had changed since
    timeseries.to_parquet(folder / "timeseries.parquet", index=False)
    _fails(
        capsys,
        folder,
        "--transactions",
        "--out",
        earlier,
        match=r"re-running p001-r000 \(seed \d+\) does not reproduce its stored results "
        r"\(revenue of firm A in period 5.*another version.*run the scenario again",
    )
    assert snapshot(earlier) == before  # the earlier export is left as it was
    _fails(capsys, folder, "--transactions", match="does not reproduce")
    assert not (folder / "transactions").exists()


# ---------------------------------------------------------------------------
# The docs' worked example runs as printed
# ---------------------------------------------------------------------------


def docs_example() -> str:
    """The Python block of docs/analysis.md, section "Transactions for CLV models"."""
    text = ANALYSIS_DOC.read_text(encoding="utf-8")
    section = text.split("## Transactions for CLV models", 1)[1].split("\n## ", 1)[0]
    return textwrap.dedent(re.findall(r"```python\n(.*?)```", section, re.S)[0])


def test_the_docs_example_fits_a_bg_nbd_that_predicts_the_holdout_half(
    tmp_path, monkeypatch, capsys
):
    pytest.importorskip("lifetimes")  # in the test extra, as the docs say
    scenario = ANALYSIS_DOC.parents[1] / "scenarios" / "compare_strategies.yaml"
    monkeypatch.chdir(tmp_path)
    small = (
        scenario.read_text()
        .replace("customers: 10000", "customers: 2000")
        .replace("replications: 30", "replications: 1")
    )
    assert "customers: 2000" in small and "warm_up:" in small
    Path("compare_strategies.yaml").write_text(small)
    assert main(["run", "compare_strategies.yaml", "-q", "--workers", "1", "--no-report"]) == 0
    assert (
        main(["export", "results/compare_strategies", "--transactions", "-q", "--run", "p000-r000"])
        == 0
    )  # the run the example reads
    namespace: dict = {}
    exec(compile(docs_example(), "docs/analysis.md", "exec"), namespace)
    firm, rfm, bgf = namespace["firm"], namespace["rfm"], namespace["bgf"]
    # months from the dates: each purchase in its period's month, the horizon split in half
    assert ((firm["month"] >= firm["period"] - 1) & (firm["month"] < firm["period"])).all()
    assert (namespace["horizon"], namespace["cut"]) == (120, 60)
    # the summary: irregular repeat buyers, some B's before the log starts, some new
    assert len(rfm) > 300 and (rfm["frequency"] > 0).mean() > 0.8
    assert ((rfm["recency"] >= 0) & (rfm["recency"] <= rfm["T"]) & (rfm["T"] <= 60)).all()
    periods = namespace["calibration"].groupby("customer_id")["period"]
    gaps = periods.nunique() < periods.max() - periods.min() + 1  # a month without a purchase
    assert gaps.mean() > 0.5
    assert 0.2 < rfm["at_start"].mean() < 0.9
    assert (bgf.params_ > 0).all() and set(bgf.params_.index) == {"r", "alpha", "a", "b"}
    # BG/NBD, fitted on months 0-60, predicts the same customers' purchases in months 60-120
    predicted, actual = rfm["predicted"].sum(), rfm["actual"].sum()
    assert actual > 10_000 and abs(predicted - actual) < 0.25 * actual, (predicted, actual)
    assert abs(rfm["alive"].mean() - (rfm["actual"] > 0).mean()) < 0.10
    out = capsys.readouterr().out
    assert f"{len(rfm)} customers" in out and f"actual {actual:,};" in out
