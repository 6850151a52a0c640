"""The classroom controls and the model they build.

Mesa's ``SolaraViz`` rebuilds the model on Reset by calling its class with
every control as a keyword argument. :class:`ClassroomModel` takes those
keywords, turns them into one :class:`sim.config.Config` (on top of a
scenario's sections, if one was given) and hands it to :class:`CRMModel`:
the dashboard never runs a second engine.

The levers are multipliers on the setting's own numbers (``1`` = what is usual
in that setting), so that switching the setting keeps its meaning: e-commerce
already has a lower switching-cost build-up than a traditional market.
"""

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

import i18n
from i18n import N_
from sim import SETTINGS, STRATEGIES, Config, CRMModel
from sim.config import MarketConfig

from .scenario import CONFIG_SECTIONS, FIRM_SLOTS, load_scenario

LEVERS = {
    # control name: (market field it multiplies, label for students)
    "switching_cost_build": ("switching_cost_scale", N_("Switching-cost build-up (x usual)")),
    "personalization": ("personalization_weight", N_("Wish for personal offers (x usual)")),
    "word_of_mouth": ("word_of_mouth_reach", N_("Word of mouth (x usual)")),
}
"""Market levers shown as multipliers of the chosen setting's preset value (labels translated
with ``_``; a label's words before `` (`` name the lever in the page's text)."""

LEVER_RANGE = (0.0, 3.0, 0.1)
PRICE_RANGE = (0.5, 2.0, 0.05)
CUSTOMERS_RANGE = (200, 20_000, 100)
SEED_RANGE = (0, 99, 1)

TRACKED = 200
"""Customers (places in the market) every classroom model follows from month 0
(:meth:`sim.model.CRMModel.follow`), for the page's "Follow a customer"
(:mod:`dashboard.follow`)."""

CONTROL_BOUNDS: dict[str, tuple[tuple[float, float, float], type]] = {
    **{f"price_{slot}": (PRICE_RANGE, float) for slot in FIRM_SLOTS},
    "customers": (CUSTOMERS_RANGE, int),
    **{control: (LEVER_RANGE, float) for control in LEVERS},
    "seed": (SEED_RANGE, int),
}
"""The numeric controls: ``(low, high, step)`` and type. The one table the sliders,
the typed values and the server's check (:func:`check_control`) read; the model's
own config bounds (:class:`sim.config.Config`) still apply on top."""

CHOICES: dict[str, Mapping[str, Any]] = {
    **{f"strategy_{slot}": STRATEGIES for slot in FIRM_SLOTS},
    "setting": SETTINGS,
}
"""The choice controls and the registry whose names they offer."""

DEFAULT_SECTIONS: dict[str, Any] = {
    "firms": [
        {"name": "A", "strategy": "clasp"},
        {"name": "B", "strategy": "zipper"},
        {"name": "C", "strategy": "velcro"},
    ],
    "simulation": {"customers": 2_000, "periods": 120},
}
"""What the dashboard starts with when no scenario is given."""


def controls_from_sections(sections: Mapping[str, Any]) -> dict[str, Any]:
    """The control values that reproduce a scenario's config.

    Levers become multipliers of the scenario's setting preset; values outside
    a slider's range are clipped to it.
    """
    config = Config.model_validate(dict(sections))
    market, preset = config.market, SETTINGS[config.market.setting]
    controls: dict[str, Any] = {"setting": market.setting}
    for slot, firm in zip(FIRM_SLOTS, config.firms, strict=True):
        controls[f"strategy_{slot}"] = firm.strategy
        controls[f"price_{slot}"] = 1.0  # a multiplier of the firm's own price
    for control, (field, _) in LEVERS.items():
        usual = preset[field]
        multiplier = getattr(market, field) / usual if usual else 1.0
        controls[control] = round(_clip(multiplier, CONTROL_BOUNDS[control][0]), 2)
    for control in ("customers", "seed"):
        value = getattr(config.simulation, control)
        controls[control] = int(_clip(value, CONTROL_BOUNDS[control][0]))
    return controls


def check_control(name: str, value: Any, lang: str = i18n.DEFAULT, label: str | None = None) -> Any:
    """A control's value, checked on the server before it may reach a model.

    The browser sends what it likes; this is what the page and
    :class:`ClassroomModel` trust instead.

    Args:
        name: a key of :data:`CONTROL_BOUNDS` or :data:`CHOICES`.
        value: the value sent, or typed text (``"1.5"``; a decimal comma is read as a point).
        lang: the language of the error's message.
        label: what the message calls the control (default: its name).

    Returns:
        The value as the control's type (``int`` or ``float``; a name for choices).

    Raises:
        ValueError: one line naming the control and what is allowed, in ``lang``
            (the control's name and the allowed names as the code writes them).
    """
    _ = i18n.translator(lang)
    shown = name if label is None else label
    if name in CHOICES:
        if value not in CHOICES[name]:
            message = (
                _("{name}: {value} is not allowed; valid settings: {allowed}")
                if name == "setting"
                else _("{name}: {value} is not allowed; valid strategies: {allowed}")
            )
            raise ValueError(
                message.format(name=shown, value=repr(value), allowed=", ".join(CHOICES[name]))
            )
        return value
    if name not in CONTROL_BOUNDS:
        raise ValueError(_("{name}: not a control of the dashboard").format(name=name))
    (low, high, _step), kind = CONTROL_BOUNDS[name]
    allowed = (
        _("a number from {low} to {high} (whole)")
        if kind is int
        else _("a number from {low} to {high}")
    ).format(low=f"{low:g}", high=f"{high:g}")
    said = {"name": shown, "value": repr(value), "allowed": allowed}
    try:
        number = float(value.strip().replace(",", ".")) if isinstance(value, str) else float(value)
    except (TypeError, ValueError):
        raise ValueError(
            _("{name}: {value} is not a number; allowed: {allowed}").format(**said)
        ) from None
    if isinstance(value, bool) or not math.isfinite(number) or not low <= number <= high:
        raise ValueError(_("{name}: {value} is out of range; allowed: {allowed}").format(**said))
    if kind is int:
        if number != int(number):
            raise ValueError(
                _("{name}: {value} is not a whole number; allowed: {allowed}").format(**said)
            )
        return int(number)
    return number


def _clip(value, bounds):
    low, high, _ = bounds
    return min(max(value, low), high)


def classroom_config(base: Mapping[str, Any] | None = None, **controls) -> Config:
    """Build the model's config from a scenario's sections and the control values.

    The controls win over the scenario for the fields they set. A firm whose
    strategy control differs from the scenario's loses the scenario's trait
    overrides, so that the new strategy's own traits apply.

    Args:
        base: config sections (default: :data:`DEFAULT_SECTIONS`).
        **controls: the keyword arguments of :class:`ClassroomModel`.

    Returns:
        The validated :class:`Config`.
    """
    sections = {
        key: value for key, value in (base or DEFAULT_SECTIONS).items() if key in CONFIG_SECTIONS
    }
    setting = controls["setting"]
    market = {
        key: value
        for key, value in dict(sections.get("market", {})).items()
        if key not in {field for field, _ in LEVERS.values()}
    }
    if market.get("setting", "traditional") != setting:
        # a new preset: the scenario's market overrides belonged to the old one
        market = {}
    market["setting"] = setting
    if setting not in SETTINGS:
        MarketConfig.model_validate(market)  # raises, listing the valid settings
    preset = SETTINGS[setting]
    for control, (field, _) in LEVERS.items():
        market[field] = preset[field] * controls[control]

    base_firms = list(sections.get("firms", DEFAULT_SECTIONS["firms"]))
    if len(base_firms) != len(FIRM_SLOTS):
        raise ValueError(f"the dashboard shows {len(FIRM_SLOTS)} firms, got {len(base_firms)}")
    firms = []
    for slot, firm in zip(FIRM_SLOTS, base_firms, strict=True):
        firm = dict(firm)
        strategy = controls[f"strategy_{slot}"]
        if firm.get("strategy", "clasp") != strategy and strategy in STRATEGIES:
            traits = set(STRATEGIES[strategy].traits)
            firm = {key: value for key, value in firm.items() if key not in traits}
        # the price control multiplies the firm's usual price: the scenario's, or its strategy's
        usual = firm.get(
            "price", STRATEGIES[strategy].traits["price"] if strategy in STRATEGIES else 1.0
        )
        firm.update(strategy=strategy, price=controls[f"price_{slot}"] * usual)
        firms.append(firm)

    simulation = {
        **dict(sections.get("simulation", {})),
        "customers": int(controls["customers"]),
        "seed": int(controls["seed"]),
    }
    return Config.model_validate(
        {**sections, "market": market, "firms": firms, "simulation": simulation}
    )


class ClassroomModel(CRMModel):
    """A :class:`CRMModel` built from the dashboard's controls (keyword arguments).

    Args:
        strategy_a: relationship strategy of the first firm (likewise ``_b``, ``_c``).
        price_a: price of the first firm as a multiple of its usual price (the scenario's,
            else its strategy's; 1 = usual; likewise ``_b``, ``_c``).
        setting: commerce setting, a key of :data:`sim.settings.SETTINGS`.
        customers: number of customers in the market.
        switching_cost_build: multiplier on the setting's switching-cost build-up.
        personalization: multiplier on the setting's weight of personalization.
        word_of_mouth: multiplier on the setting's word-of-mouth reach.
        seed: seed of the model's random generator.
        base: config sections of a scenario the controls start from (fixed).
        track: customers to follow from month 0 (:func:`tracked_rows`; 0: none).

    Attributes:
        controls: the control values this model was built with.
    """

    def __init__(
        self,
        *,
        strategy_a: str = "clasp",
        price_a: float = 1.0,
        strategy_b: str = "zipper",
        price_b: float = 1.0,
        strategy_c: str = "velcro",
        price_c: float = 1.0,
        setting: str = "traditional",
        customers: int = 2_000,
        switching_cost_build: float = 1.0,
        personalization: float = 1.0,
        word_of_mouth: float = 1.0,
        seed: int = 0,
        base: Mapping[str, Any] | None = None,
        track: int = TRACKED,
    ):
        sent = {
            "strategy_a": strategy_a,
            "price_a": price_a,
            "strategy_b": strategy_b,
            "price_b": price_b,
            "strategy_c": strategy_c,
            "price_c": price_c,
            "setting": setting,
            "customers": customers,
            "switching_cost_build": switching_cost_build,
            "personalization": personalization,
            "word_of_mouth": word_of_mouth,
            "seed": seed,
        }
        # never build a model from values the server did not check
        self.controls = {name: check_control(name, value) for name, value in sent.items()}
        config = classroom_config(base, **self.controls)
        super().__init__(config, rng=self.controls["seed"])
        if track:
            self.follow(tracked_rows(len(self.customers), track))
        # Mesa counts the step (``steps``, ``time``) before running ours: wrap its counting
        self._counted_step = self.step
        self.step = self._step_within_horizon

    def _step_within_horizon(self) -> None:
        """One period, or nothing (not even the counters) once the horizon is reached.

        The page may call ``step`` a few times past the end within one render
        interval; the month counter must stop at the horizon.
        """
        if self.period >= self.config.simulation.periods:
            self.running = False
            return
        self._counted_step()


def tracked_rows(n_customers: int, size: int = TRACKED) -> np.ndarray:
    """Rows to follow from month 0: evenly spaced, so the same ones for every seed.

    Customers are generated in random order: evenly spaced rows are a random
    sample, drawn without the model's generator (no result changes).
    """
    return np.unique(np.linspace(0, n_customers - 1, min(size, n_customers)).astype(np.intp))


def model_params(
    controls: Mapping[str, Any], base: Mapping[str, Any] | None = None, lang: str = i18n.DEFAULT
) -> dict[str, Any]:
    """SolaraViz ``model_params``: one input per control, starting at ``controls``.

    Args:
        controls: initial control values (see :func:`controls_from_sections`).
        base: scenario sections, passed to the model unchanged (not a control).
        lang: the language of the labels, and of the choices' ``texts`` (the names
            of ``values`` as the page shows them: the glossary's terms).

    Returns:
        The dict ``SolaraViz(model_params=...)`` expects.
    """
    _ = i18n.translator(lang)
    firms = (base or DEFAULT_SECTIONS).get("firms", DEFAULT_SECTIONS["firms"])
    names = [firm["name"] for firm in firms]
    params: dict[str, Any] = {}
    for slot, name in zip(FIRM_SLOTS, names, strict=True):
        params[f"strategy_{slot}"] = {
            "type": "Select",
            "label": _("Firm {name}: strategy").format(name=name),
            "value": controls[f"strategy_{slot}"],
            "values": list(STRATEGIES),
            "texts": [_(strategy) for strategy in STRATEGIES],
        }
        params[f"price_{slot}"] = _slider(
            _("Firm {name}: price (1 = usual)").format(name=name), f"price_{slot}", controls
        )
    params["setting"] = {
        "type": "Select",
        "label": _("Setting: where customers buy"),
        "value": controls["setting"],
        "values": list(SETTINGS),
        "texts": [_(setting) for setting in SETTINGS],
    }
    params["customers"] = _slider(_("Number of customers"), "customers", controls)
    for control, (_field, label) in LEVERS.items():
        params[control] = _slider(_(label), control, controls)
    params["seed"] = _slider(_("Random seed (same seed, same run)"), "seed", controls)
    params["base"] = dict(base or DEFAULT_SECTIONS)
    return params


def _slider(label, name, controls):
    (low, high, step), kind = CONTROL_BOUNDS[name]
    return {
        "type": "SliderFloat" if kind is float else "SliderInt",
        "label": label,
        "value": kind(controls[name]),
        "min": low,
        "max": high,
        "step": step,
    }


def initial_state(scenario_path: str | Path | None) -> tuple[dict, dict, dict[str, str]]:
    """Controls, scenario sections and name/description the page starts with.

    Args:
        scenario_path: a scenario YAML file, or ``None`` for the classroom default.

    Returns:
        ``(controls, sections, about)``: see :func:`controls_from_sections`
        and :func:`load_scenario`.
    """
    if scenario_path:
        sections, about = load_scenario(scenario_path)
    else:
        sections = DEFAULT_SECTIONS
        about = {  # translated where shown (the page's own text)
            "title": N_("crm-sim classroom"),
            "description": N_("Three firms, one strategy each, compete for the same customers."),
        }
    return controls_from_sections(sections), dict(sections), about
