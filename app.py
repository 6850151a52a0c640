"""The crm-sim teaching dashboard: ``solara run app.py`` (or ``python run.py app``).

Students pick each firm's strategy, the setting and a few levers, press Reset,
then Step or Play, and watch customers move through the lifecycle while
retention and customer equity respond. Set ``CRM_SIM_SCENARIO`` to a scenario
YAML file to start the controls at its values (``dashboard.serve`` does this).
"""

import os

from mesa.visualization import SolaraViz

from dashboard import (
    SCENARIO_ENV,
    ClassroomModel,
    components,
    initial_state,
    keep_offline,
    model_params,
)

keep_offline()
controls, sections, about = initial_state(os.environ.get(SCENARIO_ENV))
model = ClassroomModel(**controls, base=sections)

page = SolaraViz(
    model,
    components=components(about["title"], about["description"]),
    model_params=model_params(controls, sections),
    name="crm-sim: customer relationships",
)
