"""Issue 23, point 4: names that differ only by Unicode normalisation or case are the same name.

On main, firms 'Café' (precomposed) and 'Café' (e + combining accent), or 'A'
and 'a', were two firms whose labels, tables and facts folders a reader (or
a case-insensitive file system) cannot tell apart.
"""

import json

import pytest
from hostile_helpers import one_line_error

from sim.config import default_config

FIRMS = {
    "NFC": ("Caf\u00e9", "Cafe\u0301"),
    "NFKC": ("x", "\uff58"),  # full-width x
    "case": ("Alpha", "ALPHA"),
}


@pytest.mark.parametrize("pair", FIRMS.values(), ids=FIRMS.keys())
def test_firm_names_equal_after_normalisation_are_refused(pair, write, cli, tmp_path):
    first, second = pair
    scenario = write(
        f"firms:\n  - {{name: {first}, strategy: clasp}}\n"
        f"  - {{name: {second}, strategy: zipper}}\n"
        "simulation: {customers: 10, periods: 2}\n"
    )
    code, _, err = cli("validate", scenario)
    assert code == 2
    line = one_line_error(err)
    assert line.startswith(f"{scenario}:3: firms.1.name: firm names must be unique")
    assert "ignoring case, spaces and Unicode normalisation" in line


@pytest.mark.parametrize("pair", FIRMS.values(), ids=FIRMS.keys())
def test_segment_names_equal_after_normalisation_are_refused(pair, write, cli):
    segment = default_config().customers.segments[0].model_dump()
    segments = [{**segment, "name": name, "share": 0.5} for name in pair]
    scenario = write(f"customers:\n  segments: {json.dumps(segments, ensure_ascii=False)}\n")
    code, _, err = cli("validate", scenario)
    assert code == 2
    line = one_line_error(err)
    assert "segment names must be unique" in line and "normalisation" in line
