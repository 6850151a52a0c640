"""Golden regression: a small fixed scenario's headline figures, pinned.

The figures of every strategy x setting cell of a small market (retention,
customer equity, acquisitions, satisfied-defector share) are stored in
``golden.json`` beside this file. Any change to the economics moves them:
then re-run with ``CRM_SIM_UPDATE_GOLDEN=1 python -m pytest tests/golden``
and commit the new file in the same commit as the change, saying why the
figures moved. The tolerance only absorbs floating-point differences between
machines (the engine is deterministic for a seed).
"""

import json
import os
from pathlib import Path

import pytest

from experiments.runner import run_once
from sim import default_config

GOLDEN = Path(__file__).with_name("golden.json")
FIGURES = (
    "retention_rate",
    "annual_retention",
    "customer_equity",
    "acquisitions",
    "satisfied_defector_share",
)
RELATIVE = 1e-6
SEEDS = (1, 2)


def figures() -> dict:
    """Per setting and strategy, each figure's mean over the seeds."""
    result = {}
    for setting in ("traditional", "ecommerce"):
        config = default_config(
            market={"setting": setting},
            simulation={"customers": 1500, "periods": 48, "warm_up": 12},
        )
        runs = [run_once(config, seed).firms for seed in SEEDS]
        for strategy in ("clasp", "zipper", "velcro"):
            rows = [r[r.strategy == strategy].iloc[0] for r in runs]
            result[f"{setting}/{strategy}"] = {
                name: float(sum(float(row[name]) for row in rows) / len(rows)) for name in FIGURES
            }
    return result


def test_headline_figures_match_the_golden_file():
    measured = figures()
    if os.environ.get("CRM_SIM_UPDATE_GOLDEN"):
        GOLDEN.write_text(json.dumps(measured, indent=2, sort_keys=True) + "\n")
    pinned = json.loads(GOLDEN.read_text())
    assert set(measured) == set(pinned)
    for cell, values in pinned.items():
        for name, value in values.items():
            assert measured[cell][name] == pytest.approx(value, rel=RELATIVE, abs=1e-9), (
                f"{cell} {name}: measured {measured[cell][name]!r}, golden {value!r}; if the "
                "economics changed on purpose, update tests/golden/golden.json (see the "
                "module docstring)"
            )
