"""Issue 23 point 6, found by the outside tester: a bad command-line option printed the
five-line usage block before its error, and ``--replications -3`` was told "must be 0 or
more" although 0 is refused as well."""

import pytest
from hostile_helpers import one_line_error

from cli.main import main

CASES = {
    "--workers 0": (["run", "s.yaml", "--workers", "0"], "argument --workers: must be 1 or more"),
    "--replications -3": (
        ["run", "s.yaml", "--replications", "-3"],
        "argument --replications: must be 1 or more, got -3",
    ),
    "--seed 1.5": (["run", "s.yaml", "--seed", "1.5"], "argument --seed: expected a whole number"),
    "--start-date 2024-13-45": (
        ["export", "results/x", "--transactions", "--start-date", "2024-13-45"],
        "argument --start-date:",
    ),
    "--port 99999": (["app", "--port", "99999"], "argument --port: a port is 1 to 65535"),
    "an unknown option": (["validate", "s.yaml", "--frobnicate"], "unrecognized arguments"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_bad_option_is_one_line(case, capsys):
    argv, expected = CASES[case]
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    line = one_line_error(capsys.readouterr().err)
    assert line.startswith("run.py") and expected in line, line
    assert line.endswith("--help)"), line
