"""The crm-sim teaching dashboard: ``python run.py app`` (or ``solara run app.py``).

Students pick each firm's strategy, the setting and a few levers, press Reset,
then Step or Play, and watch customers move through the lifecycle while
retention and customer equity respond. Every browser session gets its own
model. Set ``CRM_SIM_SCENARIO`` to a scenario YAML file to start the controls
at its values (``dashboard.serve`` does this).
"""

import os

import solara

from dashboard import SCENARIO_ENV, guard_websockets, initial_state, keep_offline
from dashboard.page import ClassroomPage

keep_offline()
guard_websockets()
controls, sections, about = initial_state(os.environ.get(SCENARIO_ENV))


@solara.component
def Page():
    """Solara's entry point: a page, and a model, for each browser session."""
    ClassroomPage(controls, sections, about)
