"""Reading a scenario file for the dashboard: its config sections, name and description.

Apart from :mod:`dashboard.controls` so that ``python run.py app`` can check a
scenario before it starts the server without importing the model (Mesa,
pandas): the server process imports those itself, and the browser's first
page waits for both.
"""

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from sim.config import Config

CONFIG_SECTIONS = ("market", "customers", "relationship", "firms", "simulation")
"""Top-level keys of a scenario file that are sections of :class:`Config`."""

FIRM_SLOTS = ("a", "b", "c")
"""The dashboard shows three firms; their controls end in ``_a``, ``_b``, ``_c``."""


def load_scenario(path: str | Path) -> tuple[dict[str, Any], dict[str, str]]:
    """Read a scenario file: its config sections and its name and description.

    Args:
        path: a YAML file with top-level keys ``name``, ``description`` and
            sections of :class:`Config` (other keys are ignored here).

    Returns:
        ``(sections, about)``: the sections as plain dicts, validated as a
        whole, and ``{"title": ..., "description": ..., "name": ...}`` for the page.

    Raises:
        ValueError: if the file is not a mapping, the config is invalid, or it
            does not have exactly three firms.
    """
    path = Path(path)
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, Mapping):
        raise ValueError(f"{path}: a scenario must be a mapping of sections")
    sections = {key: data[key] for key in CONFIG_SECTIONS if key in data}
    config = Config.model_validate(sections)  # fail here, before any page is served
    if len(config.firms) != len(FIRM_SLOTS):
        raise ValueError(
            f"{path}: the dashboard shows {len(FIRM_SLOTS)} firms; "
            f"this scenario has {len(config.firms)}"
        )
    about = {
        "title": f"Scenario: {data.get('name') or path.stem}",
        "description": str(data.get("description", "")).strip(),
        "name": str(data.get("name") or path.stem),
    }
    return sections, about
