"""The teaching dashboard: a Mesa SolaraViz page over the crm-sim engine.

Start it with ``solara run app.py`` or :func:`serve` (``python run.py app``).
``controls`` maps the page's inputs to a :class:`sim.config.Config`,
``views`` draws the panels, ``server`` starts Solara on 127.0.0.1.
"""

from .controls import ClassroomModel, initial_state, load_scenario, model_params
from .server import LANG_ENV, SCENARIO_ENV, guard_websockets, keep_offline, page_language, serve
from .views import components

__all__ = [
    "LANG_ENV",
    "SCENARIO_ENV",
    "ClassroomModel",
    "components",
    "guard_websockets",
    "initial_state",
    "keep_offline",
    "load_scenario",
    "model_params",
    "page_language",
    "serve",
]
