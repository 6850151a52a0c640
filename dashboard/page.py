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
from mesa.visualization.solara_viz import _wrap_component, make_initial_grid_layout
from mesa.visualization.utils import update_counter

from i18n import N_

from .compare import KeepAndCompare
from .controls import ClassroomModel, check_control, model_params
from .exercises import ExercisePicker
from .follow import FollowCustomer
from .language import LanguageSwitch, language, page_gettext
from .play import PLAY_INTERVAL_MS, PlayController
from .views import Monitors, components

NAME = N_("crm-sim: customer relationships")
"""The page's name in its bar (and, in a language other than English, its browser tab's)."""

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
    lang = language()
    _ = page_gettext()
    title = _("Scenario: {name}").format(name=shown["name"]) if "name" in shown else shown["title"]
    panels = solara.use_memo(lambda: components(title, shown["description"]), [shown, title])

    def pick(picked_controls, picked_sections, picked_about) -> None:
        scenario.set((picked_controls, picked_sections, picked_about))
        parameters.set({**picked_controls, "base": picked_sections})

    if lang != "en":  # English keeps Solara's title ("App", from app.py), as before
        solara.Title(_(NAME))
    with solara.AppBar():
        solara.AppBarTitle(_(NAME))
        LanguageSwitch()
    with solara.Sidebar(), solara.Column():
        with solara.Card(_("Controls")):
            solara.SliderInt(_("Play interval (ms)"), value=play_interval, min=0, max=500, step=10)
            PlayController(model, parameters, play_interval)
        with solara.Card(_("Model parameters")):
            start, base, _about = scenario.value
            ClassroomControls(model_params(start, base, lang), parameters, start)
        with solara.Card(_("Information")):
            ShowTime(model.value)
    ExercisePicker((controls, sections, about), pick)
    Monitors(model.value)
    KeepAndCompare(model.value)
    Panels(list(panels), model.value)
    FollowCustomer(model.value)


@solara.component
def ShowTime(model):
    """The model's clock, as Mesa's ``ShowSteps`` shows it ("Time: 3.0"), translated."""
    update_counter.get()
    _ = page_gettext()
    solara.Text(_("Time: {time}").format(time=model.time))


@solara.component
def Panels(panels: list, model):
    """The panels in Mesa's draggable grid, as Mesa's ``ComponentsView`` draws one page of them.

    Its own because Mesa's names its tab in English ("Page 0").
    """
    layout, set_layout = solara.use_state(make_initial_grid_layout(len(panels)))
    _ = page_gettext()
    with solara.v.Tabs(v_model=0):
        solara.v.Tab(children=[_("Page {index}").format(index=0)])
    with solara.v.Window(v_model=0), solara.v.WindowItem():
        solara.GridDraggable(
            items=[_wrap_component(panel)(model) for panel in panels],
            grid_layout=layout,
            resizable=True,
            draggable=True,
            on_grid_layout=set_layout,
        )


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
    lang = language()
    _ = page_gettext()

    def accept(name: str, value: Any) -> None:
        try:  # in another language than English, a control is named by its label
            label = None if lang == "en" else spec[name]["label"]
            checked = check_control(name, value, lang, label)
        except ValueError as error:
            said = _("Refused: {error}. Still {value}.")
            refused.set(
                {**refused.value, name: said.format(error=error, value=parameters.value[name])}
            )
            return
        refused.set({key: text for key, text in refused.value.items() if key != name})
        parameters.set({**parameters.value, name: checked})

    def restore() -> None:
        refused.set({})
        parameters.set({**parameters.value, **start})

    solara.Style(CONTROL_CSS)
    solara.Text(_("Changed a control? Press RESET to start again with it."))
    solara.Button(_("Back to the scenario's values"), on_click=restore, outlined=True)
    for name, options in spec.items():
        if not isinstance(options, Mapping) or "type" not in options:
            continue  # a fixed parameter (the scenario's sections)
        value = parameters.value[name]

        def on_value(sent, name=name):
            accept(name, sent)

        if options["type"] == "Select":  # the values, shown by their names in the page's language
            items = options.get("texts", options["values"])
            solara.v.Select(
                label=options["label"],
                v_model=value,
                items=[
                    {"text": text, "value": each}
                    for text, each in zip(items, options["values"], strict=True)
                ],
                on_v_model=on_value,
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
                    _("value"),
                    value=f"{value:g}",
                    on_value=on_value,
                    continuous_update=False,
                    style={"max-width": "5em", "flex": "0 0 5em"},
                )
        if name in refused.value:
            solara.Error(refused.value[name])
