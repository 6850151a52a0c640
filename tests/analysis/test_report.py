"""``run.py report``: the files, what they say, --baseline, the policy section, bad input."""

import base64
import re
import shutil
import textwrap

import pandas as pd
import pytest

from analysis import report as report_module
from cli.main import main

TINY = """\
name: tiny
firms:
  - {name: A, strategy: clasp}
  - {name: B, strategy: zipper}
  - {name: C, strategy: velcro}
simulation: {customers: 300, periods: 12, seed: 5, replications: 3}
sweep:
  grid:
    market.setting: [traditional, ecommerce]
"""

POLICIES = """\
name: tiny_policies
firms:
  - {name: A, strategy: clasp}
  - {name: B, strategy: zipper}
simulation: {customers: 300, periods: 12, seed: 5, replications: 3}
sweep:
  grid:
    market.setting: [traditional, ecommerce]
    firms.0.policies:
      - []
      - [{name: loyalty_programme, budget: 0.5}]
      - [{name: onboarding, budget: 0}]
"""

FIGURES = {
    "equity.png",
    "churn.png",
    "equity_drivers.png",
    "clv_lorenz.png",
    "stages.png",
    "cohort_survival.png",
    "end_distributions.png",
}


def _run(tmp_path, text, name, *extra):
    path = tmp_path / f"{name}.yaml"
    path.write_text(textwrap.dedent(text))
    out = tmp_path / name
    code = main(["run", str(path), "--out", str(out), "--workers", "1", "--quiet", *extra])
    assert code == 0
    return out


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return _run(tmp_path_factory.mktemp("tiny"), TINY, "tiny")


@pytest.fixture(scope="module")
def policies(tmp_path_factory):
    return _run(tmp_path_factory.mktemp("policies"), POLICIES, "policies")


def test_run_writes_the_report_and_its_figures(tiny):
    assert (tiny / "report.md").exists() and (tiny / "report.html").exists()
    assert {p.name for p in (tiny / "figures").glob("*.png")} == FIGURES
    for figure in (tiny / "figures").glob("*.png"):
        assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_html_is_self_contained(tiny):
    page = (tiny / "report.html").read_text()
    assert "figures/" not in page  # no link to a file next to it
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(images) == len(FIGURES)
    assert all(base64.b64decode(i)[:4] == b"\x89PNG" for i in images)
    assert page.count("<figcaption>") == len(FIGURES)


def test_the_markdown_names_the_leader_of_each_setting_from_the_data(tiny):
    text = (tiny / "report.md").read_text()
    runs = pd.read_parquet(tiny / "runs.parquet")
    for setting, rows in runs.groupby("setting"):
        leader = rows.groupby("strategy")["customer_equity"].mean().idxmax()
        assert re.search(rf"\*\*{setting}\*\*: {leader} has the highest customer equity", text)
    for figure in FIGURES:
        assert f"(figures/{figure})" in text
    for caption in re.findall(r"^\*(.+)\*$", text, flags=re.MULTILINE):
        assert len(caption) > 40  # every figure says what to read from it


def test_report_command_rewrites_the_same_report(tiny, capsys):
    before = (tiny / "report.md").read_text()
    assert main(["report", str(tiny), "--quiet"]) == 0
    assert (tiny / "report.md").read_text() == before


def test_no_report_writes_none(tmp_path):
    out = _run(tmp_path, TINY.replace("replications: 3", "replications: 1"), "bare", "--no-report")
    assert not (out / "report.md").exists()
    assert not (out / "figures").exists()


def test_baseline_adds_the_roi_section(tiny, tmp_path):
    # the same scenario with costlier acquisition: same seeds, so pairs share random numbers
    costly = TINY.replace("name: tiny", "name: costly").replace(
        "{name: A, strategy: clasp}", "{name: A, strategy: clasp, acquisition_cost: 6.0}"
    )
    out = _run(tmp_path, costly, "costly")
    assert main(["report", str(out), "--baseline", str(tiny), "--quiet"]) == 0
    text = (out / "report.md").read_text()
    assert "## CRM ROI against the baseline tiny" in text
    assert "common random numbers" in text
    runs, base = pd.read_parquet(out / "runs.parquet"), pd.read_parquet(tiny / "runs.parquet")
    pairs = runs.merge(base, on=["seed", "firm"], suffixes=("", "_baseline"))
    assert len(pairs) == len(runs)
    summary, common = report_module.baseline_roi(
        report_module.load_results(out), report_module.load_results(tiny)
    )
    assert common
    clasp = summary[summary["label"] == "clasp"]
    assert set(clasp["pairs"]) == {3}


def test_policy_section_ranks_policies_against_none(policies):
    text = (policies / "report.md").read_text()
    assert "## Retention policies: which pays, where, and why" in text
    table = pd.read_parquet(policies / "policies.parquet")
    assert {
        "spend",
        "touched",
        "recovered",
        "won_back",
        "budget_exhausted_share",
        "firms.0.policies",
    } <= set(table.columns)
    assert set(table["policy"]) == {"loyalty_programme", "onboarding"}
    results = report_module.load_results(policies)
    comparison = report_module.policy_comparison(results)
    assert comparison["common_random_numbers"].all()
    # a zero budget is the same run as no policy: not a policy to rank, and said so
    assert set(comparison["policy"]) == {"loyalty_programme (budget 0.5)"}
    assert "onboarding (budget 0) spent nothing" in text
    assert "budget ran out" in text
    assert (policies / "figures" / "policy_roi.png").exists()


def test_policy_labels_of_a_column_are_each_values_label():
    values = pd.Series(["[]", '[{"name": "win_back", "budget": 3}]', "[]"] * 4)
    assert (
        report_module.policy_labels(values).tolist()
        == values.map(report_module.policy_label).tolist()
    )
    lists = pd.Series([[], [{"name": "a"}]])
    assert report_module.policy_labels(lists).tolist() == ["none", "a"]


def test_policy_labels():
    assert report_module.policy_label("[]") == "none"
    assert (
        report_module.policy_label('[{"name": "win_back", "budget": 3}]') == "win_back (budget 3)"
    )
    assert report_module.policy_label([{"name": "a"}, {"name": "b"}]) == "a + b"


@pytest.mark.parametrize(
    "make",
    [
        lambda tmp: tmp / "missing",
        lambda tmp: (tmp / "empty").mkdir() or tmp / "empty",
        lambda tmp: (tmp / "file.txt").write_text("x") and tmp / "file.txt",
    ],
)
def test_a_folder_that_is_not_results_is_refused(tmp_path, capsys, make):
    folder = make(tmp_path)
    before = sorted(tmp_path.rglob("*"))
    assert main(["report", str(folder)]) == 2
    assert "error:" in capsys.readouterr().err
    assert sorted(tmp_path.rglob("*")) == before


def test_a_bad_baseline_writes_nothing(tiny, tmp_path, capsys):
    snapshot = {p: p.stat().st_mtime_ns for p in tiny.rglob("*") if p.is_file()}
    assert main(["report", str(tiny), "--baseline", str(tmp_path / "nowhere")]) == 2
    assert "nowhere: no such folder" in capsys.readouterr().err
    assert {p: p.stat().st_mtime_ns for p in tiny.rglob("*") if p.is_file()} == snapshot


def test_a_damaged_table_is_refused(tmp_path, tiny, capsys):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(tiny, copy)
    (copy / "runs.parquet").write_bytes(b"not parquet")
    (copy / "report.md").unlink()
    assert main(["report", str(copy)]) == 2
    assert "cannot be read as Parquet" in capsys.readouterr().err
    assert not (copy / "report.md").exists()


def test_a_policy_sweep_without_a_none_point_is_refused(tmp_path, capsys):
    text = (
        POLICIES.replace("      - []\n", "")
        .replace("      - [{name: onboarding, budget: 0}]\n", "")
        .replace("replications: 3", "replications: 1")
    )
    out = _run(tmp_path, text, "no_none", "--no-report")
    assert main(["report", str(out)]) == 2
    assert "no point has an empty policy list ([]) or zero budgets" in capsys.readouterr().err
    assert not (out / "report.md").exists()


def test_a_bad_policy_in_a_sweep_value_is_named(tmp_path, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text(POLICIES.replace("onboarding", "onbording"))
    assert main(["run", str(path), "--out", str(tmp_path / "out"), "--quiet"]) == 2
    assert "unknown policy 'onbording'" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_a_report_removes_its_own_stale_figures_and_never_a_users_file(tmp_path):
    from store.files import owned_files

    out = _run(tmp_path, TINY, "owned")
    figures = out / "figures"
    assert set(owned_files(figures)) == FIGURES
    mine = figures / "my_chart.png"  # a user's own file, named like a figure
    mine.write_bytes(b"not ours")
    notes = figures / "notes.txt"
    notes.write_text("the user's")
    stale = figures / "roi.png"  # a figure an earlier report wrote and this one has not
    stale.write_bytes(b"\x89PNG old")
    listed = sorted(FIGURES | {"roi.png"})
    (figures / ".crm-sim").write_text("".join(f"{name}\n" for name in listed))
    assert main(["report", str(out)]) == 0
    assert not stale.exists()
    assert mine.read_bytes() == b"not ours" and notes.read_text() == "the user's"
    # a fresh run into the same folder clears the old report's figures, not the user's
    path = tmp_path / "owned.yaml"
    assert main(["run", str(path), "--out", str(out), "--workers", "1", "--quiet", "--force"]) == 0
    assert mine.read_bytes() == b"not ours" and notes.read_text() == "the user's"
    assert {p.name for p in figures.glob("*.png")} == FIGURES | {"my_chart.png"}


def test_the_survival_curve_is_kaplan_meier_from_the_relationships(tiny, tmp_path):
    from analysis.report import build, load_results
    from analysis.retention import kaplan_meier

    text = (tiny / "report.md").read_text()
    assert "Kaplan-Meier" in text and "relationships.parquet" in text
    results = load_results(tiny, lean=True)
    assert set(results.relationships.columns) >= {"label", "setting", "duration", "event"}
    whole = pd.read_parquet(tiny / "relationships.parquet")
    assert len(results.relationships) == len(whole)
    curves = kaplan_meier(results.relationships, keys=results.keys)
    assert ((curves["lower"] <= curves["survival"]) & (curves["survival"] <= curves["upper"])).all()
    # a folder written before the table existed keeps the pooled cohort curve, and says so
    older = tmp_path / "older"
    shutil.copytree(tiny, older)
    (older / "relationships.parquet").unlink()
    document = build(load_results(older, lean=True))
    captions = [
        figure.caption for figure in document.figures if figure.name == "cohort_survival.png"
    ]
    assert captions and "no relationships.parquet" in captions[0]
