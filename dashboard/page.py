"""The page: one model per browser session, the classroom's controls, monitors and panels.

Built from Mesa's parts (``ComponentsView`` for the panels, ``ShowSteps``),
with :class:`dashboard.play.PlayController` for Reset, Play and Step instead of
Mesa's ``ModelController`` (quick Play, prompt Pause), not from ``SolaraViz``
as a whole: that one takes one model object for every session and sends slider values to the
model unchecked. Here each session builds its own model (component state
lives and dies with the browser session) and a control reaches the model only
through :func:`dashboard.controls.check_control`.
"""

from collections.abc import Mapping
from typing import Any

import solara
from mesa.visualization.solara_viz import ComponentsView, ShowSteps

from .compare import KeepAndCompare
from .controls import ClassroomModel, check_control, model_params
from .exercises import ExercisePicker
from .follow import FollowCustomer
from .play import PLAY_INTERVAL_MS, PlayController
from .views import Monitors, components

NAME = "crm-sim: customer relationships"

CONTROL_CSS = """
.crm-control { flex-wrap: nowrap; }
.crm-control > :first-child { flex: 1 1 auto; min-width: 0; }
.crm-control .v-input__slot { flex-wrap: wrap; }
.crm-control .v-input__slot > .v-label { flex: 1 0 100%; margin-bottom: 30px; }
"""
"""Each slider's label on a line of its own above the track, the typed value to its right."""


@solara.component
def ClassroomPage(controls: Mapping[str, Any], sections: Mapping[str, Any], about: Mapping):
    """The whole page for one browser session.

    Args:
        controls: the control values the page starts at.
        sections: the scenario's config sections (fixed for the page).
        about: ``{"title": ..., "description": ...}`` of the scenario.
    """
    # built once for this session; dropped with the session's state when it closes
    first = solara.use_memo(lambda: ClassroomModel(**controls, base=sections), [])
    model = solara.use_reactive(first)
    parameters = solara.use_reactive({**controls, "base": sections})
    play_interval = solara.use_reactive(PLAY_INTERVAL_MS)
    # the scenario picked (controls, sections, about); its panels' text once Reset starts it
    scenario = solara.use_reactive((controls, sections, about))
    shown = solara.use_memo(lambda: scenario.value[2], [model.value])
    panels = solara.use_memo(lambda: components(shown["title"], shown["description"]), [shown])

    def pick(picked_controls, picked_sections, picked_about) -> None:
        scenario.set((picked_controls, picked_sections, picked_about))
        parameters.set({**picked_controls, "base": picked_sections})

    with solara.AppBar():
        solara.AppBarTitle(NAME)
    with solara.Sidebar(), solara.Column():
        with solara.Card("Controls"):
            solara.SliderInt("Play interval (ms)", value=play_interval, min=0, max=500, step=10)
            PlayController(model, parameters, play_interval)
        with solara.Card("Model parameters"):
            start, base, _ = scenario.value
            ClassroomControls(model_params(start, base), parameters, start)
        with solara.Card("Information"):
            ShowSteps(model.value)
    ExercisePicker((controls, sections, about), pick)
    Monitors(model.value)
    KeepAndCompare(model.value)
    ComponentsView(list(panels), model.value)
    FollowCustomer(model.value)


@solara.component
def ClassroomControls(
    spec: Mapping[str, Any], parameters: solara.Reactive, start: Mapping[str, Any]
):
    """One input per control: sliders show their value and take a typed one.

    A value is checked on the server (:func:`check_control`) before it is
    kept for the next Reset; a refused one leaves the control as it was and
    says why, in red, under it.

    Args:
        spec: :func:`dashboard.controls.model_params` (labels, bounds, choices).
        parameters: the values Reset builds the next model with.
        start: the values "Back to the scenario's values" restores.
    """
    refused = solara.use_reactive({})

    def accept(name: str, value: Any) -> None:
        try:
            checked = check_control(name, value)
        except ValueError as error:
            refused.set(
                {**refused.value, name: f"Refused: {error}. Still {parameters.value[name]}."}
            )
            return
        refused.set({key: text for key, text in refused.value.items() if key != name})
        parameters.set({**parameters.value, name: checked})

    def restore() -> None:
        refused.set({})
        parameters.set({**parameters.value, **start})

    solara.Style(CONTROL_CSS)
    solara.Text("Changed a control? Press RESET to start again with it.")
    solara.Button("Back to the scenario's values", on_click=restore, outlined=True)
    for name, options in spec.items():
        if not isinstance(options, Mapping) or "type" not in options:
            continue  # a fixed parameter (the scenario's sections)
        value = parameters.value[name]

        def on_value(sent, name=name):
            accept(name, sent)

        if options["type"] == "Select":
            solara.Select(
                options["label"], value=value, values=options["values"], on_value=on_value
            )
        else:
            slider = solara.SliderFloat if options["type"] == "SliderFloat" else solara.SliderInt
            with solara.Row(classes=["crm-control"], style={"align-items": "center"}):
                slider(
                    options["label"],
                    value=value,
                    min=options["min"],
                    max=options["max"],
                    step=options["step"],
                    on_value=on_value,
                    thumb_label="always",
                )
                solara.InputText(
                    "value",
                    value=f"{value:g}",
                    on_value=on_value,
                    continuous_update=False,
                    style={"max-width": "5em", "flex": "0 0 5em"},
                )
        if name in refused.value:
            solara.Error(refused.value[name])
