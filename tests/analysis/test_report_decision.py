"""A policy budget sweep's report opens with the decision: table, headline, response curves.

One tiny budget sweep of the *second* firm's policies (so a headline that
named the first firm, or a rival, would be caught), run once. The policy is
a cross-sell that lifts the share of wallet threefold and costs no goodwill:
it pays many times over (ROI about 60, every lower bound above 50), so at
the default hurdle of 0 the larger budget is recommended. The hurdle is
then raised to 100 in the scenario and the folder resumed: nothing runs
again (the hurdle is not part of the scenario's fingerprint) and no level
qualifies.
"""

import re

import pytest

from analysis import report as report_module
from cli.main import main

SCENARIO = """\
name: tiny_budgets
firms:
  - {name: A, strategy: clasp}
  - {name: B, strategy: zipper}
simulation: {customers: 300, periods: 12, seed: 21, replications: 4}
sweep:
  grid:
    firms.1.policies:
      - []
      - [{name: cross_sell, spend_lift: 3, pushiness: 0, budget: 1}]
      - [{name: cross_sell, spend_lift: 3, pushiness: 0, budget: 4}]
"""


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("decision")
    path = root / "tiny_budgets.yaml"
    path.write_text(SCENARIO)
    out = root / "out"
    assert main(["run", str(path), "--out", str(out), "--workers", "1", "--quiet"]) == 0
    return out


def test_the_report_opens_with_the_decision_table(folder):
    text = (folder / "report.md").read_text()
    headings = re.findall(r"^## (.+)$", text, re.M)
    assert headings[0] == "Decision: which policy, at what budget"
    assert text.index("| setting | firm | policy | budget |") < text.index(
        "## Which strategy wins where"
    )
    page = (folder / "report.html").read_text()
    assert page.index("<h2>Decision: which policy, at what budget</h2>") < page.index(
        "<h2>Which strategy wins where</h2>"
    )
    assert (folder / "figures" / "response_curves.png").exists()


def test_the_table_has_a_row_per_level_and_agrees_with_the_decision_logic(folder):
    table = report_module.budget_decision(report_module.load_results(folder))
    assert table["firm"].unique().tolist() == ["B"]  # the firm whose policies are swept
    assert table["budget"].tolist() == [1.0, 4.0]
    assert table["pairs"].tolist() == [4, 4]
    text = (folder / "report.md").read_text()
    row = r"^\| traditional \| B \| cross_sell \(pushiness 0, spend_lift 3\) \| (\d+) \|"
    assert re.findall(row + ".*$", text, re.M) == ["1", "4"]
    assert table.loc[table["recommended"], "budget"].tolist() == [4.0]
    assert re.findall(row + r".*\*\*yes\*\* \|$", text, re.M) == ["4"]
    assert (
        "firm B (zipper) should run cross_sell (pushiness 0, spend_lift 3) at a budget of 4" in text
    )


def test_the_headline_names_the_firm_whose_policies_are_swept(folder):
    text = (folder / "report.md").read_text()
    decision = text.split("## Which strategy wins where")[0]
    assert "firm B (zipper)" in decision
    assert "firm A" not in decision and "clasp" not in decision
    # the strategy verdicts compare firm B's policy sets, not its rival's rows
    verdicts = text.split("## Which strategy wins where")[1].split("|")[0]
    assert "clasp" not in verdicts and "zipper" in verdicts


def test_a_hurdle_set_in_the_scenario_changes_the_advice_without_running_again(folder, tmp_path):
    path = tmp_path / "tiny_budgets.yaml"
    path.write_text(SCENARIO + "report: {hurdle_rate: 100}\n")
    assert main(["run", str(path), "--out", str(folder), "--resume", "--quiet"]) == 0
    results = report_module.load_results(folder)
    assert results.hurdle_rate == 100
    assert not report_module.budget_decision(results)["recommended"].any()
    text = (folder / "report.md").read_text()
    assert (
        "**traditional**: no policy and budget of firm B (zipper) has a marginal ROI whose "
        "lower 95% bound exceeds the hurdle rate of 100: keep the policy budget at 0." in text
    )


@pytest.mark.parametrize(
    ("block", "message"),
    [
        (
            "report: {hurdle_rate: -0.1}",
            "report.hurdle_rate: -0.1 is out of range; allowed: 0 <= value <= 100",
        ),
        ("report: {hurdle_rate: high}", "report.hurdle_rate: expected a number, got 'high'"),
        ("report: {hurdle_rate: .nan}", "report.hurdle_rate: nan is out of range"),
        ("report: {hurdle: 0.1}", "report.hurdle: unknown field; did you mean 'hurdle_rate'?"),
    ],
)
def test_a_bad_hurdle_is_one_line_naming_file_and_field_exit_2(tmp_path, capsys, block, message):
    path = tmp_path / "bad.yaml"
    path.write_text(SCENARIO + block + "\n")
    line = SCENARIO.count("\n") + 1
    out = tmp_path / "out"
    assert main(["run", str(path), "--out", str(out), "--quiet"]) == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 1 and errors[0].startswith(f"{path}:{line}: {message}")
    assert not out.exists()


def test_the_written_report_has_the_payback_of_every_level(folder):
    """The report reads a lean timeseries (``load_results(lean=True)``): the
    payback needs its ledger columns, or every level would read "n/a"."""
    table = report_module.budget_decision(report_module.load_results(folder, lean=True))
    assert table["payback_period"].notna().all()  # it pays many times over: within the run
    assert set(report_module.LEDGER_MONEY) <= set(report_module.REPORT_TIMESERIES_COLUMNS)
