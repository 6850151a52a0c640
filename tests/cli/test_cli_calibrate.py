"""``run.py calibrate``: outputs, the calibrated scenario, bad input, workers."""

import pandas as pd
import pytest
import yaml

from cli.main import main
from experiments import calibrate as cal
from experiments.scenario import load_scenario

SCENARIO = """\
name: small_fit
firms:
  - {name: A, strategy: clasp}
  - {name: B, strategy: zipper}
simulation: {customers: 300, periods: 10, seed: 3, start: new}
calibrate:
  parameters:
    market.search_probability: [0.05, 0.8]
    relationship.exit_rate: [0.0, 0.5]
  firm: A
  replications: 2
  holdout: 2
  max_evaluations: 40
  seed: 12
"""
"""A 300-customer, 10-period market; 40 candidates x 2 runs take a second or two. It opens at
period 0 (``start: new``): the survival of the customers it starts with is then counted from
their acquisition, as the target's is."""

TARGET = "period,survival\n" + "".join(
    f"{k},{s}\n" for k, s in enumerate([1, 0.95, 0.91, 0.87, 0.84, 0.81, 0.79, 0.77, 0.75])
)


@pytest.fixture
def files(write_scenario, tmp_path):
    scenario = write_scenario(SCENARIO, "small_fit.yaml")
    target = tmp_path / "curve.csv"
    target.write_text(TARGET, encoding="utf-8")
    return scenario, target


def test_calibrate_writes_the_fit_and_a_runnable_scenario(files, tmp_path, capsys):
    scenario, target = files
    out = tmp_path / "out"
    assert main(["calibrate", scenario, "--target", target, "--out", out, "--workers", "1"]) == 0
    printed = capsys.readouterr().out
    assert "in sample" in printed and "out of sample" in printed
    assert sorted(p.name for p in out.iterdir()) == [
        ".crm-sim",  # the marker, listing the files below
        "calibrated.yaml",
        "calibration.csv",
        "calibration.md",
        "calibration.png",
        "evaluations.csv",
    ]
    table = pd.read_csv(out / "calibration.csv")
    assert list(table.columns) == [
        "period",
        "observed",
        "simulated",
        "error",
        "uncalibrated",
        "sample",
    ]
    assert list(table["sample"]) == ["in_sample"] * 7 + ["holdout"] * 2
    assert (table["error"] - (table["simulated"] - table["observed"])).abs().max() < 1e-12
    evaluations = pd.read_csv(out / "evaluations.csv")
    assert len(evaluations) == 40 and evaluations["loss"].notna().all()
    # the calibrated scenario carries the fitted values and runs
    calibrated = out / "calibrated.yaml"
    data = yaml.safe_load(calibrated.read_text())
    assert "calibrate" not in data
    fitted = load_scenario(calibrated).points[0].config
    summary = (out / "calibration.md").read_text()
    for value in (fitted.market.search_probability, fitted.relationship.exit_rate):
        assert f"| {value:g} |" in summary
    assert 0.05 <= fitted.market.search_probability <= 0.8
    assert main(["run", calibrated, "--out", tmp_path / "run", "--quiet", "--no-report"]) == 0


def test_the_fit_beats_the_scenario_as_written(files, tmp_path):
    scenario, target = files
    loaded = load_scenario(scenario)
    fit = cal.calibrate(loaded, cal.read_target(target, loaded))
    assert fit.rmse("in_sample") < fit.rmse("in_sample", "uncalibrated")
    best = fit.evaluations["loss"].min()
    assert best <= fit.evaluations["loss"].iloc[:20].min()  # the search improved on its start


@pytest.mark.parametrize("method", ["differential_evolution", "nelder_mead"])
def test_same_fit_with_one_and_two_workers(write_scenario, tmp_path, method):
    scenario = load_scenario(
        write_scenario(
            SCENARIO.replace("seed: 12", f"seed: 12\n  method: {method}"), "small_fit.yaml"
        )
    )
    (tmp_path / "curve.csv").write_text(TARGET, encoding="utf-8")
    target = cal.read_target(tmp_path / "curve.csv", scenario)
    one = cal.calibrate(scenario, target, workers=1)
    two = cal.calibrate(scenario, target, workers=2)
    assert one.parameters == two.parameters
    pd.testing.assert_frame_equal(one.evaluations, two.evaluations)
    pd.testing.assert_frame_equal(one.table, two.table)


BAD = {
    "missing target": (None, "nope.csv: no such file"),
    "wrong columns": ("tenure,survival\n0,1\n", "curve.csv:1: tenure: unknown column"),
    "rising curve": (
        "period,survival\n0,1\n1,0.8\n2,0.9\n3,0.7\n",
        "curve.csv:4: survival: 0.9 at period 2 is above 0.8",
    ),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_target(files, tmp_path, capsys, case):
    scenario, target = files
    text, expected = BAD[case]
    if text is None:
        target = tmp_path / "nope.csv"
    else:
        target.write_text(text, encoding="utf-8")
    out = tmp_path / "out"
    assert main(["calibrate", scenario, "--target", target, "--out", out]) == 2
    err = capsys.readouterr().err
    assert expected in err and "Traceback" not in err
    assert not out.exists()


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "relationship.exit_rate: [0.0, 0.5]",
            "relationship.exit_rat: [0.0, 0.5]",
            "small_fit.yaml:9: calibrate.parameters['relationship.exit_rat']: no such parameter: "
            "relationship has no field 'exit_rat'; did you mean 'exit_rate'?",
        ),
        (
            "relationship.exit_rate: [0.0, 0.5]",
            "relationship.exit_rate: [0.0, 0.9]",
            "bound 0.9: 0.9 is out of range; allowed: 0 <= value <= 0.5",
        ),
        ("calibrate:", "other:", "small_fit.yaml:6: other: unknown field"),
    ],
)
def test_bad_scenario(files, write_scenario, tmp_path, capsys, old, new, expected):
    _, target = files
    scenario = write_scenario(SCENARIO.replace(old, new), "small_fit.yaml")
    out = tmp_path / "out"
    assert main(["calibrate", scenario, "--target", target, "--out", out]) == 2
    err = capsys.readouterr().err
    assert expected in err and "Traceback" not in err
    assert not out.exists()


def test_scenario_without_calibrate_block(files, write_scenario, tmp_path, capsys):
    _, target = files
    scenario = write_scenario(SCENARIO.split("calibrate:")[0], "plain.yaml")
    assert main(["calibrate", scenario, "--target", target, "--out", tmp_path / "o"]) == 2
    assert "calibrate: the scenario has no calibrate block" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_validate_accepts_the_shipped_example(run_cli, run_py):
    example = run_py.parent / "scenarios" / "calibrate_example.yaml"
    done = run_cli("validate", example)
    assert done.returncode == 0, done.stderr


def test_curves_per_firm_and_cohort(write_scenario, tmp_path):
    scenario = write_scenario(SCENARIO.replace("  firm: A\n", ""), "small_fit.yaml")
    rows = ["period,survival,firm,cohort"]
    for firm, cohort, curve in (
        ("A", 0, [1, 0.9, 0.8, 0.7]),
        ("B", 0, [1, 0.97, 0.95, 0.93]),
        ("A", 3, [1, 0.85, 0.75]),
    ):
        rows += [f"{k},{s},{firm},{cohort}" for k, s in enumerate(curve)]
    (tmp_path / "curves.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    assert (
        main(
            [
                "calibrate",
                scenario,
                "--target",
                tmp_path / "curves.csv",
                "--out",
                out,
                "--workers",
                "1",
                "--quiet",
            ]
        )
        == 0
    )
    table = pd.read_csv(out / "calibration.csv")
    assert list(table.columns[:3]) == ["firm", "cohort", "period"]
    assert len(table) == 11 and table["simulated"].notna().all()
    # holdout by calendar period (cohort + period): the last two are 4 and 5 (A, cohort 3)
    held = table[table["sample"] == "holdout"]
    assert list(zip(held["firm"], held["cohort"], held["period"], strict=True)) == [
        ("A", 3, 1),
        ("A", 3, 2),
    ]
    assert "| firm A, cohort 3 | 2 |" in (out / "calibration.md").read_text()


FAST = SCENARIO.replace("  replications: 2", "  replications: 1\n  method: nelder_mead").replace(
    "max_evaluations: 40", "max_evaluations: 12"
)
"""One parameter, 12 candidates of one run: about a second."""


def test_firm_paths_are_calibrated(write_scenario, tmp_path, capsys):
    text = FAST.replace(
        "    market.search_probability: [0.05, 0.8]\n    relationship.exit_rate: [0.0, 0.5]\n",
        "    firms.1.quality: [0.4, 0.8]\n",
    )
    scenario = write_scenario(text, "small_fit.yaml")
    (tmp_path / "curve.csv").write_text(TARGET, encoding="utf-8")
    out = tmp_path / "out"
    assert (
        main(
            [
                "calibrate",
                scenario,
                "--target",
                tmp_path / "curve.csv",
                "--out",
                out,
                "--workers",
                "1",
            ]
        )
        == 0
    )
    fitted = load_scenario(out / "calibrated.yaml").points[0].config.firms[1].quality
    assert 0.4 <= fitted <= 0.8
    row = f"| `firms.1.quality` | {fitted:g} | 0.4 | 0.8 | [0.3, 0.9] |"
    assert row in (out / "calibration.md").read_text()
    assert row in capsys.readouterr().out
    assert pd.read_csv(out / "evaluations.csv").columns[0] == "firms.1.quality"


def test_an_implausible_fit_is_flagged_in_the_table_and_the_files(write_scenario, tmp_path, capsys):
    text = FAST.replace(
        "    market.search_probability: [0.05, 0.8]\n    relationship.exit_rate: [0.0, 0.5]\n",
        "    relationship.defection_hurdle: [-0.5, -0.1]\n",
    )
    scenario = write_scenario(text, "small_fit.yaml")
    (tmp_path / "curve.csv").write_text(TARGET, encoding="utf-8")
    out = tmp_path / "out"
    assert (
        main(
            [
                "calibrate",
                scenario,
                "--target",
                tmp_path / "curve.csv",
                "--out",
                out,
                "--workers",
                "1",
            ]
        )
        == 0
    )
    captured = capsys.readouterr()
    note = (
        "relationship.defection_hurdle: search bounds [-0.5, -0.1] reach beyond the "
        "plausible [0, 0.2]"
    )
    assert f"note: {note}" in captured.err
    fitted = load_scenario(out / "calibrated.yaml").points[0].config.relationship
    flag = (
        f"relationship.defection_hurdle = {fitted.defection_hurdle:g}: outside plausible [0, 0.2]"
    )
    summary = (out / "calibration.md").read_text()
    for text in (captured.out, summary):
        assert "| outside plausible [0, 0.2]" in text
        assert f"- **Warning**: {flag}" in text
        assert f"- Note: {note}" in text
    assert f"# WARNING: {flag}" in (out / "calibrated.yaml").read_text()
    # quiet prints errors only, and the warning
    assert (
        main(
            [
                "calibrate",
                scenario,
                "--target",
                tmp_path / "curve.csv",
                "--out",
                out,
                "--workers",
                "1",
                "--quiet",
                "--force",  # the fit above is in the folder
            ]
        )
        == 0
    )
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.startswith(f"warning: {flag}")


def test_a_plausible_fit_is_not_flagged(files, tmp_path, capsys):
    scenario, target = files
    out = tmp_path / "out"
    assert (
        main(["calibrate", scenario, "--target", target, "--out", out, "--workers", "1", "--quiet"])
        == 0
    )
    assert capsys.readouterr().err == ""
    summary = (out / "calibration.md").read_text()
    assert "Warning" not in summary and "| ok |" in summary
