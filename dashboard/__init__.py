"""The teaching dashboard: a Mesa SolaraViz page over the crm-sim engine.

Start it with ``solara run app.py`` or :func:`serve` (``python run.py app``).
``controls`` maps the page's inputs to a :class:`sim.config.Config`,
``views`` draws the panels, ``server`` starts Solara on 127.0.0.1.

The names below are imported when first used: ``python run.py app`` only
starts the server process (:mod:`dashboard.server`), and should not wait for
Solara, Mesa and matplotlib to load in a process that never draws.
"""

import importlib

_HOMES = {
    "ClassroomModel": "controls",
    "initial_state": "controls",
    "load_scenario": "scenario",
    "model_params": "controls",
    "LANG_ENV": "server",
    "SCENARIO_ENV": "server",
    "guard_websockets": "server",
    "keep_offline": "server",
    "page_language": "server",
    "serve": "server",
    "components": "views",
}

__all__ = sorted(_HOMES, key=str.lower)


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_HOMES[name]}", __name__), name)
