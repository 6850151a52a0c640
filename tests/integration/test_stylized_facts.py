"""The stylized facts of MODEL.md section 9 on compare_strategies, at reduced size.

This runs ``run.py facts`` (:mod:`analysis.facts` defines each fact, its band
and interval) on ``scenarios/compare_strategies.yaml`` with 5 replications of
3,000 customers per setting, into a temporary folder, and asserts that every
fact (1-7) and every level check passes in every strategy x setting cell; on
failure it prints the whole table. It also checks that fact 7's lever does
what it claims: each firm's annual churn in its lever folder is half of base's
(within the pilots' tolerance). The full-size check is the command itself::

    python run.py facts            # 30 replications of 10,000 customers

Here the reduced size keeps the test at about a minute on two cores (fact 7's
pilots, of 5 replications too, about double the runs); the intervals are over
the 5 replications, so a fact that holds only by luck of a few seeds does not
pass.
"""

import contextlib
import io
from pathlib import Path

import pytest

from analysis import facts
from cli.main import main

pytestmark = pytest.mark.slow

SCENARIO = Path(__file__).resolve().parents[2] / "scenarios" / "compare_strategies.yaml"
REPLICATIONS = 5
CUSTOMERS = 3_000


@pytest.fixture(scope="module")
def facts_run(tmp_path_factory):
    """Exit code, printed table, facts table and output folder of ``run.py facts``."""
    out = tmp_path_factory.mktemp("facts") / "out"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = main(
            [
                "facts",
                SCENARIO,
                "--replications",
                str(REPLICATIONS),
                "--customers",
                str(CUSTOMERS),
                "--out",
                out,
                "--workers",
                "2",
                "--no-report",
                "-q",
            ]
        )
    return code, printed.getvalue(), facts.read_table(out / "facts.csv"), out


def test_every_cell_is_measured_over_every_replication(facts_run):
    code, printed, table, _ = facts_run
    assert code in (0, 1), printed  # 1: some fact fails; never bad input or failed runs
    cells = table[~table["fact"].isin(["4"]) & (table["strategy"] != "all")]
    assert len(set(zip(cells["strategy"], cells["setting"], strict=True))) == 6, printed
    assert table["value"].notna().all(), printed
    assert (table.loc[table["fact"] != "4", "runs"] == REPLICATIONS).all(), printed


@pytest.mark.parametrize("fact", [*map(str, range(1, 8)), "level"])
def test_fact_passes_in_every_cell(facts_run, fact):
    _, printed, table, _ = facts_run
    rows = table[table["fact"] == fact]
    assert len(rows), f"no rows for fact {fact}\n{printed}"
    failed = rows[~rows["passed"]]
    assert failed.empty, (
        f"fact {fact} ({facts.FACT_NAMES[fact]}) fails in "
        f"{len(failed)} of {len(rows)} rows:\n{printed}"
    )


def test_each_lever_halves_its_firms_annual_churn(facts_run):
    _, printed, _, out = facts_run
    factors = facts.churn_factors(out / facts.BASE)
    assert not factors["clipped"].any(), factors  # halving is possible everywhere
    for firm in factors["firm"].unique():
        achieved = facts.lever_churn(out / facts.BASE, out / facts.lever_folder(firm), firm)
        assert (achieved["runs"] == REPLICATIONS).all()
        off = (achieved["ratio"] - facts.CHURN_TARGET).abs()
        assert (off <= facts.CHURN_TOLERANCE).all(), f"firm {firm}:\n{achieved}\n{printed}"
