"""Commerce settings as presets of numbers (MODEL.md section 5, seed 000).

A setting is never a branch in the rules: it is a dict of market parameters.
A scenario names a preset and may override any field of it. Adding a third
setting means adding one entry to :data:`SETTINGS`.

What e-commerce changes, after seed 000 (each line names the fields):

* value gains digital items (system performance, security, payment risk) and
  customers ask more personalization: ``digital_weight``, ``personalization_weight``;
* prices are compared at a click (information is cheap): ``price_weight``;
* expectations start higher and rise faster: ``initial_expectation``,
  ``expectation_adapt_rate``, ``expectation_drift``;
* trust rests more on reputation and brand and is the most prominent
  determinant: ``reputation_weight``, ``stage_weights.*.trust``;
* switching costs are lower (learning and search costs fall, personal ties
  weak): ``switching_cost_floor``, ``switching_cost_scale``, ``switching_cost_decay``;
* competitors imitate personalization faster: ``imitation``;
* less time to repair a declining relationship: ``repair_window``;
* customers search more (search costs fall): ``search_probability``; a
  searcher sees each rival with the same ``rival_visibility`` in both settings
  (calibrated: a higher online value makes rival switching swamp every other
  acquisition channel, against fact 4 of MODEL.md section 9);
* word of mouth travels faster and wider: ``word_of_mouth_reach``,
  ``negative_word_of_mouth``.

Teaching note: the presets follow the seed. Shankar, Smith & Rangaswamy (2003)
found loyalty *higher* online; a scenario can encode that view by overriding
these numbers.
"""

_TRADITIONAL_WEIGHTS = {
    # value, satisfaction, trust, switching cost (seed 000: S early, T middle, C late)
    "exploration": {"value": 0.35, "satisfaction": 0.45, "trust": 0.10, "switching_cost": 0.10},
    "formation": {"value": 0.30, "satisfaction": 0.20, "trust": 0.40, "switching_cost": 0.10},
    "stability": {"value": 0.25, "satisfaction": 0.15, "trust": 0.25, "switching_cost": 0.35},
    "decline": {"value": 0.25, "satisfaction": 0.15, "trust": 0.20, "switching_cost": 0.40},
}

_ECOMMERCE_WEIGHTS = {
    # trust is the most prominent determinant online; switching cost weighs less
    "exploration": {"value": 0.30, "satisfaction": 0.40, "trust": 0.25, "switching_cost": 0.05},
    "formation": {"value": 0.25, "satisfaction": 0.15, "trust": 0.50, "switching_cost": 0.10},
    "stability": {"value": 0.25, "satisfaction": 0.15, "trust": 0.40, "switching_cost": 0.20},
    "decline": {"value": 0.25, "satisfaction": 0.15, "trust": 0.35, "switching_cost": 0.25},
}

SETTINGS: dict[str, dict] = {
    "traditional": {
        "initial_expectation": 0.50,
        "expectation_adapt_rate": 0.05,
        "expectation_adapt_down_rate": 0.02,
        "expectation_anchor": 0.5,
        "expectation_drift": 0.0,
        "digital_weight": 0.0,
        "personalization_weight": 1.0,
        "price_weight": 1.0,
        "imitation": 0.2,
        "fit_spread": 0.20,
        "reputation_weight": 0.15,
        "switching_cost_floor": 0.10,
        "switching_cost_scale": 1.0,
        "switching_cost_decay": 0.02,
        "repair_window": 6.0,
        "search_probability": 0.10,
        "rival_visibility": 0.5,
        "outside_value": 0.30,
        "word_of_mouth_reach": 1.0,
        "negative_word_of_mouth": 1.0,
        "reentry_rate": 0.02,
        "category_exit_rate": 0.003,
        "stage_weights": _TRADITIONAL_WEIGHTS,
    },
    "ecommerce": {
        "initial_expectation": 0.52,
        "expectation_adapt_rate": 0.10,
        "expectation_adapt_down_rate": 0.04,
        "expectation_anchor": 0.5,
        "expectation_drift": 0.001,
        "digital_weight": 0.30,
        "personalization_weight": 1.5,
        "price_weight": 1.3,
        "imitation": 0.4,
        "fit_spread": 0.20,
        "reputation_weight": 0.35,
        "switching_cost_floor": 0.03,
        "switching_cost_scale": 0.3,
        "switching_cost_decay": 0.04,
        "repair_window": 3.0,
        "search_probability": 0.11,
        "rival_visibility": 0.5,
        "outside_value": 0.30,
        "word_of_mouth_reach": 10.0,
        "negative_word_of_mouth": 2.0,
        "reentry_rate": 0.06,
        "category_exit_rate": 0.003,
        "stage_weights": _ECOMMERCE_WEIGHTS,
    },
}
"""Registry of commerce settings: name -> market parameter values."""
