"""Issue 23, point 3: tiny runs (1 customer, 1 period, shorter than a year) run and report.

On main, ``report`` of a 1-customer 1-period run raised KeyError ('share',
'exploration') in the churn-by-stage table; the others reported bare ``n/a``
cells with nothing saying why.
"""

import math
import re

import pytest
from hostile_helpers import SECTIONS

from analysis.report import TOO_FEW

CASES = {
    "one customer, one period": "customers: 1, periods: 1, replications: 1",
    "one period": "customers: 200, periods: 1, replications: 2",
    "one customer": "customers: 1, periods: 24, replications: 2",
    "shorter than a year": "customers: 50, periods: 6, replications: 2",
}


@pytest.mark.parametrize("simulation", CASES.values(), ids=CASES.keys())
def test_tiny_run_reports_every_section(simulation, write, cli, tmp_path):
    scenario = write(
        f"""\
        name: tiny
        firms:
          - {{name: A, strategy: clasp}}
          - {{name: B, strategy: zipper}}
        simulation: {{{simulation}, seed: 3}}
        """
    )
    out = tmp_path / "out"
    code, _, err = cli("run", scenario, "--out", out, "--workers", "1", "-q")
    assert code == 0, err
    assert "Traceback" not in err and "could not be written" not in err, err
    code, _, err = cli("report", out, "-q")
    assert code == 0, err
    report = (out / "report.md").read_text(encoding="utf-8")
    for section in SECTIONS:
        assert section in report
    # every number is finite, and a gap says why
    assert not re.search(r"\b(nan|inf)\b", report, flags=re.IGNORECASE)
    if "| n/a" in report:
        assert TOO_FEW in report
    if "periods: 1," in simulation or "periods: 6," in simulation:
        assert "Too few data for annual figures" in report
    for cell in re.findall(r"\|\s*(-?[\d,]+\.?\d*)\s*(?=\|)", report):
        assert math.isfinite(float(cell.replace(",", "")))
