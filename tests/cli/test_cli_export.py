"""``run.py export RESULTS_DIR --transactions``: the purchase log round-trips exactly.

A small sweep (two settings x two replications, firms with retention policies
that restart relationships back to back) is run once; the tests read the
exported CSV files back with plain ``pandas.read_csv`` and rebuild the
engine's own totals bit for bit.
"""

import json
import math
import re
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.cli import main
from analysis.export import (
    CUSTOMER_CLV_COLUMNS,
    TRANSACTION_FILE_COLUMNS,
    ExportError,
    choose_runs,
    period_dates,
)

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

README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """The scenario run into ``results/shop``, exported with the defaults."""
    here = tmp_path_factory.mktemp("export")
    (here / "shop.yaml").write_text(SCENARIO)
    folder = here / "results" / "shop"
    assert main(["run", here / "shop.yaml", "--out", folder, "--workers", "1", "-q",
                 "--no-report"]) == 0
    assert main(["export", folder, "--transactions", "-q"]) == 0
    return folder


@pytest.fixture(scope="module")
def exported(results):
    """The exported files read back as a researcher would."""
    out = results / "transactions"
    return (pd.read_csv(out / "transactions.csv"), pd.read_csv(out / "customers_clv.csv"),
            json.loads((out / "export.json").read_text()))


def test_the_files_have_the_documented_layout(results, exported):
    transactions, customers, record = exported
    swept = ["market.setting"]
    assert list(transactions.columns) == [*TRANSACTION_FILE_COLUMNS[:9], *swept,
                                          *TRANSACTION_FILE_COLUMNS[9:]]
    assert list(customers.columns) == [*CUSTOMER_CLV_COLUMNS[:7], *swept,
                                       *CUSTOMER_CLV_COLUMNS[7:]]
    # default: replication 0 of every point
    assert sorted(transactions["run_id"].unique()) == ["p000-r000", "p001-r000"]
    assert [run["run_id"] for run in record["runs"]] == ["p000-r000", "p001-r000"]
    runs = pd.read_parquet(results / "runs.parquet").drop_duplicates("run_id")
    seeds = dict(zip(runs["run_id"], runs["seed"], strict=True))
    assert all(seeds[r["run_id"]] == r["seed"] for r in record["runs"])
    assert (transactions["setting"] == transactions["market.setting"]).all()
    assert (transactions["monetary_value"] > 0).all()
    assert not transactions.duplicated(["run_id", "period", "customer_id"]).any()
    # period 1 is the start date, one month per period
    dates = dict(zip(transactions["period"], transactions["date"], strict=False))
    assert dates[1] == "2020-01-01" and dates[PERIODS] == "2021-04-01"


def test_revenue_rebuilds_the_ledger_exactly(results, exported):
    transactions, _, _ = exported
    ledger = pd.read_parquet(results / "timeseries.parquet")
    for (run_id, period), rows in transactions.groupby(["run_id", "period"]):
        books = ledger[(ledger["run_id"] == run_id) & (ledger["period"] == period)]
        firms = pd.Categorical(rows["firm"], categories=list(books["firm"])).codes
        order = np.argsort(rows["customer_id"].to_numpy(), kind="stable")  # engine's order
        revenue = np.bincount(firms[order], weights=rows["monetary_value"].to_numpy()[order],
                              minlength=len(books))
        assert (revenue == books["revenue"].to_numpy()).all(), (run_id, period)


def test_per_customer_totals_rebuild_the_engine_accumulators_exactly(results, exported):
    """The engine adds float32 sales to ``revenue_to_date`` and CLV increments to ``clv``."""
    transactions, _, _ = exported
    stored = pd.read_parquet(results / "customers.parquet")  # the original runs' end state
    checked = 0
    for run_id, rows in transactions.groupby("run_id"):
        end = stored[stored["run_id"] == run_id]
        current = rows.merge(end[["customer", "firm", "acquired_period"]],
                             left_on=["customer_id", "firm", "acquired_period"],
                             right_on=["customer", "firm", "acquired_period"])
        revenue, clv = {}, {}
        for row in current.sort_values("period", kind="stable").itertuples():
            revenue[row.customer_id] = np.float32(
                revenue.get(row.customer_id, np.float32(0)) + np.float32(row.monetary_value))
            clv[row.customer_id] = np.float32(
                clv.get(row.customer_id, np.float32(0)) + np.float32(row.clv_increment))
        expected_revenue = [revenue.get(c, np.float32(0)) for c in end["customer"]]
        expected_clv = [float(clv.get(c, np.float32(0))) for c in end["customer"]]
        assert expected_revenue == list(end["revenue_to_date"])
        assert expected_clv == list(end["realized_clv"])
        checked += len(end)
    assert checked > 500


def test_customer_totals_are_the_exact_sums_of_the_purchases(results, exported):
    transactions, customers, _ = exported
    keys = ["run_id", "firm", "customer_id"]
    grouped = transactions.groupby(keys)
    table = customers.set_index(keys)
    bought = table[table["purchases"] > 0]
    assert len(bought) == grouped.ngroups
    rebuilt = grouped.agg(purchases=("period", "size"), first=("period", "min"),
                          last=("period", "max"),
                          total_revenue=("monetary_value", math.fsum),
                          realized_clv=("clv_increment", math.fsum)).loc[bought.index]
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
    assert main(["export", results, "--transactions", "--run", "p001-r001", "--out", out,
                 "--start-date", "2024-01-31", "--period-length", "month",
                 "--format", "parquet"]) == 0
    assert "p001-r001" in capsys.readouterr().err
    transactions = pd.read_parquet(out / "transactions.parquet")
    assert set(transactions["run_id"]) == {"p001-r001"}
    dates = dict(zip(transactions["period"], transactions["date"], strict=False))
    assert [dates[p] for p in (1, 2, 3)] == ["2024-01-31", "2024-02-29", "2024-03-31"]
    assert sorted(p.name for p in out.iterdir()) == ["customers_clv.parquet", "export.json",
                                                    "transactions.parquet"]
    assert main(["export", results, "--transactions", "--all", "--out", out, "-q",
                 "--period-length", "week"]) == 0
    transactions = pd.read_csv(out / "transactions.csv")
    assert transactions["run_id"].nunique() == 4
    assert not (out / "transactions.parquet").exists()  # the other format is not left stale
    assert period_dates(3, pd.Timestamp("2024-01-01").date(), "week") == [
        "2023-12-25", "2024-01-01", "2024-01-08", "2024-01-15"]


def test_a_fresh_run_removes_the_stale_export(tmp_path):
    (tmp_path / "s.yaml").write_text(SCENARIO.replace("replications: 2", "replications: 1")
                                     .replace("customers: 600", "customers: 100"))
    folder = tmp_path / "results"
    assert main(["run", tmp_path / "s.yaml", "--out", folder, "-q", "--workers", "1",
                 "--no-report"]) == 0
    assert main(["export", folder, "--transactions", "-q"]) == 0
    assert (folder / "transactions" / "transactions.csv").exists()
    assert main(["run", tmp_path / "s.yaml", "--out", folder, "-q", "--workers", "1",
                 "--no-report", "--seed", "4"]) == 0
    assert not any((folder / "transactions").iterdir())


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
    _fails(capsys, results, "--transactions", "--run", "p009-r000", "--out", tmp_path / "x",
           match=r"unknown run 'p009-r000'; valid run ids .*p000-r000, p000-r001, p001-r000")
    assert not (tmp_path / "x").exists()


def test_a_failed_run_is_named_as_failed_not_unknown():
    runs = pd.DataFrame({"run_id": ["p000-r000"], "point": [0], "replication": [0],
                         "seed": [7]})
    failures = [{"run_id": "p000-r001", "error": "ValueError: boom"}]
    with pytest.raises(ExportError, match=r"run 'p000-r001' failed \(ValueError: boom\), so "
                                          r"it has no results to export.*--resume"):
        choose_runs(runs, {0: None}, (), ["p000-r001"], failures=failures)
    with pytest.raises(ExportError, match="unknown run 'p000-r002'"):
        choose_runs(runs, {0: None}, (), ["p000-r002"], failures=failures)
    assert [r.run_id for r in choose_runs(runs, {0: None}, (), ["p000-r000"],
                                          failures=failures)] == ["p000-r000"]


def test_nothing_to_export_and_conflicting_choices(results, capsys):
    _fails(capsys, results, match="nothing to export: add --transactions")
    _fails(capsys, results, "--transactions", "--all", "--run", "p000-r000",
           match="either --run or --all")


@pytest.mark.parametrize("date", ["2024-13-01", "yesterday", "2024-02-30"])
def test_a_bad_date_is_a_usage_error(results, capsys, date):
    with pytest.raises(SystemExit) as exit_info:
        main(["export", str(results), "--transactions", "--start-date", date])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert f"--start-date: {date!r} is not a date; give YYYY-MM-DD" in err


def test_an_output_folder_that_is_a_file(results, tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    _fails(capsys, results, "--transactions", "--out", tmp_path / "file",
           match="output folder .*file: exists and is not a folder")


def _copy(results: Path, target: Path) -> Path:
    target.mkdir()
    for name in ("runs.parquet", "timeseries.parquet", "scenario.resolved.yaml",
                 "manifest.json", "customers.parquet"):
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
    _fails(capsys, folder, "--transactions", "--out", earlier,
           match=r"re-running p001-r000 \(seed \d+\) does not reproduce its stored results "
                 r"\(revenue of firm A in period 5.*another version.*run the scenario again")
    assert snapshot(earlier) == before  # the earlier export is left as it was
    _fails(capsys, folder, "--transactions", match="does not reproduce")
    assert not (folder / "transactions").exists()


# ---------------------------------------------------------------------------
# The README's worked example runs as printed
# ---------------------------------------------------------------------------


def readme_example() -> str:
    """The Python block of the README section "Transactions for CLV models"."""
    text = README.read_text(encoding="utf-8")
    section = text.split("## Transactions for CLV models", 1)[1].split("\n## ", 1)[0]
    return textwrap.dedent(re.findall(r"```python\n(.*?)```", section, re.S)[0])


def test_the_readme_example_fits_an_sbg_close_to_the_true_clv(tmp_path, monkeypatch, capsys):
    scenario = README.parent / "scenarios" / "compare_strategies.yaml"
    monkeypatch.chdir(tmp_path)
    small = (scenario.read_text().replace("customers: 10000", "customers: 2000")
             .replace("replications: 30", "replications: 1"))
    Path("compare_strategies.yaml").write_text(small)
    assert main(["run", "compare_strategies.yaml", "-q", "--workers", "1", "--no-report"]) == 0
    assert main(["export", "results/compare_strategies", "--transactions", "-q",
                 "--run", "p000-r000"]) == 0  # the run the example reads
    namespace: dict = {}
    exec(compile(readme_example(), "README.md", "exec"), namespace)
    forecast, truth = namespace["forecast"], namespace["truth"].mean()
    assert namespace["alpha"] > 0 and namespace["beta"] > 0
    assert abs(forecast - truth) < 0.25 * truth  # a fair forecast of the true CLV
    assert "sBG forecast" in capsys.readouterr().out
