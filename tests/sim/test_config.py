"""The configuration object: defaults, validation messages, presets, round trips, freezing.

Expected values come from the registries (``SETTINGS``, ``STRATEGIES``), never
from calibrated numbers, so recalibrating the defaults does not break these.
"""

import pytest
from pydantic import ValidationError

from sim import SETTINGS, STRATEGIES, Config, FirmConfig, default_config, replace
from sim.config import CustomersConfig, MarketConfig, RelationshipConfig, SimulationConfig

MARKET_FIELDS = [name for name in MarketConfig.model_fields if name != "setting"]


def segment(name, share, **overrides):
    return {
        "name": name,
        "share": share,
        "need_distance": 0.2,
        "personalization_need": 0.4,
        "price_sensitivity": 0.5,
        "spend": 1.0,
        "churn_propensity": 1.0,
        **overrides,
    }


def errors_at(excinfo, path):
    """The validation errors whose location is the dotted ``path``."""
    return [e for e in excinfo.value.errors() if ".".join(str(part) for part in e["loc"]) == path]


# ---------------------------------------------------------------------------
# Defaults
# ---------------------------------------------------------------------------


def test_defaults_validate():
    config = default_config()
    assert isinstance(config, Config)
    assert config == Config()
    assert Config.model_validate(config.model_dump()) == config
    assert config.market.setting in SETTINGS
    assert {firm.strategy for firm in config.firms} <= set(STRATEGIES)


@pytest.mark.parametrize("setting", list(SETTINGS))
def test_every_setting_preset_validates(setting):
    config = default_config(market={"setting": setting})
    for field in MARKET_FIELDS:
        expected = SETTINGS[setting][field]
        got = getattr(config.market, field)
        assert (got.model_dump() if hasattr(got, "model_dump") else got) == expected, field


@pytest.mark.parametrize("strategy", list(STRATEGIES))
def test_every_strategy_preset_validates(strategy):
    firm = FirmConfig(name="F", strategy=strategy)
    for trait, value in STRATEGIES[strategy].traits.items():
        assert getattr(firm, trait) == value, trait


# ---------------------------------------------------------------------------
# Rejections name the field
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sections", "path"),
    [
        ({"market": {"bogus": 1}}, "market.bogus"),
        ({"relationship": {"trust_rate": 0.1}}, "relationship.trust_rate"),
        ({"simulation": {"customer": 10}}, "simulation.customer"),
        ({"firms": [{"name": "A", "colour": "red"}]}, "firms.0.colour"),
        (
            {"market": {"stage_weights": {"exploration": {"price": 0.1}}}},
            "market.stage_weights.exploration.price",
        ),
        ({"bogus_section": {}}, "bogus_section"),
    ],
)
def test_unknown_field_is_rejected_with_its_path(sections, path):
    with pytest.raises(ValidationError) as excinfo:
        default_config(**sections)
    assert path in str(excinfo.value)
    assert errors_at(excinfo, path)[0]["type"] == "extra_forbidden"


def test_a_bad_firm_entry_reports_only_its_own_error():
    """Not also a spurious 'firms: Tuple should have at least 1 item ..., not 0'."""
    with pytest.raises(ValidationError) as excinfo:
        default_config(firms=[{"name": "A", "colour": "red"}])
    assert [".".join(map(str, e["loc"])) for e in excinfo.value.errors()] == ["firms.0.colour"]


@pytest.mark.parametrize(
    ("sections", "path"),
    [
        ({"relationship": {"trust_build_rate": 1.5}}, "relationship.trust_build_rate"),
        (
            {"relationship": {"satisfaction_at_confirmation": 1.0}},
            "relationship.satisfaction_at_confirmation",
        ),
        ({"relationship": {"defection_temperature": 0.0}}, "relationship.defection_temperature"),
        ({"simulation": {"discount_rate": -0.01}}, "simulation.discount_rate"),
        ({"simulation": {"planning_horizon": -1}}, "simulation.planning_horizon"),
        ({"simulation": {"warm_up": -1}}, "simulation.warm_up"),
        ({"market": {"category_exit_rate": 0.5}}, "market.category_exit_rate"),
        ({"market": {"expectation_anchor": 1.5}}, "market.expectation_anchor"),
        ({"firms": [{"name": "A", "acquisition_cost": -1.0}]}, "firms.0.acquisition_cost"),
        ({"market": {"search_probability": -0.1}}, "market.search_probability"),
        ({"market": {"repair_window": 1000.0}}, "market.repair_window"),
        ({"simulation": {"customers": 0}}, "simulation.customers"),
        ({"simulation": {"periods": 0}}, "simulation.periods"),
        ({"firms": [{"name": "A", "acquisition_rate": 2.0}]}, "firms.0.acquisition_rate"),
        ({"firms": [{"name": "A", "adaptation": -0.5}]}, "firms.0.adaptation"),
        ({"firms": [{"name": ""}]}, "firms.0.name"),
        (
            {"customers": {"segments": [segment("all", 1.0, need_distance=1.5)]}},
            "customers.segments.0.need_distance",
        ),
    ],
)
def test_out_of_range_value_is_rejected_with_its_path(sections, path):
    with pytest.raises(ValidationError) as excinfo:
        default_config(**sections)
    assert path in str(excinfo.value)
    assert errors_at(excinfo, path)


def test_a_discount_rate_of_zero_is_allowed():
    """Customer equity projects over a finite planning horizon, so d = 0 stays finite."""
    assert default_config(simulation={"discount_rate": 0.0}).simulation.discount_rate == 0.0


def test_the_removed_referral_value_is_refused_with_a_pointer_to_its_replacement():
    with pytest.raises(ValidationError) as excinfo:
        default_config(firms=[{"name": "A", "referral_value": 2.0}])
    message = str(excinfo.value)
    assert "firms.0" in message
    assert "referral_value was removed" in message
    assert "acquisition_cost" in message and "referral_cost" in message


def test_a_referral_may_not_cost_more_than_an_acquisition():
    with pytest.raises(ValidationError, match="referral_cost must be at most acquisition_cost"):
        default_config(firms=[{"name": "A", "acquisition_cost": 1.0, "referral_cost": 1.5}])
    firm = default_config(
        firms=[{"name": "A", "acquisition_cost": 1.0, "referral_cost": 1.0}]
    ).firms[0]
    assert firm.referral_cost == firm.acquisition_cost == 1.0


@pytest.mark.parametrize("strategy", list(STRATEGIES))
def test_every_strategy_sets_its_price_and_acquisition_costs(strategy):
    traits = STRATEGIES[strategy].traits
    for name in ("price", "acquisition_cost", "referral_cost"):
        assert name in traits, name
    assert 0.0 <= traits["referral_cost"] <= traits["acquisition_cost"]


def test_unknown_setting_lists_the_valid_ones():
    with pytest.raises(ValidationError) as excinfo:
        default_config(market={"setting": "moon"})
    message = str(excinfo.value)
    assert "market.setting" in message
    assert "'moon'" in message
    for name in SETTINGS:
        assert name in message


def test_unknown_strategy_lists_the_valid_ones():
    with pytest.raises(ValidationError) as excinfo:
        default_config(firms=[{"name": "A", "strategy": "hook"}])
    message = str(excinfo.value)
    assert "firms.0.strategy" in message
    assert "'hook'" in message
    for name in STRATEGIES:
        assert name in message


def test_stage_weights_must_sum_to_at_most_one():
    with pytest.raises(ValidationError, match="at most 1") as excinfo:
        default_config(market={"stage_weights": {"formation": {"value": 1.0}}})
    assert errors_at(excinfo, "market.stage_weights.formation")


def test_trust_must_break_at_least_as_fast_as_it_builds():
    with pytest.raises(ValidationError, match="trust_break_rate"):
        default_config(relationship={"trust_build_rate": 0.5, "trust_break_rate": 0.1})


def test_segment_shares_must_sum_to_one():
    with pytest.raises(ValidationError, match="sum to 1") as excinfo:
        default_config(customers={"segments": [segment("a", 0.5), segment("b", 0.3)]})
    assert errors_at(excinfo, "customers")
    config = default_config(customers={"segments": [segment("a", 0.5), segment("b", 0.5)]})
    assert [s.name for s in config.customers.segments] == ["a", "b"]


def test_segment_names_unique():
    with pytest.raises(ValidationError, match="unique"):
        CustomersConfig(segments=[segment("a", 0.5), segment("a", 0.5)])


def test_firm_names_unique():
    with pytest.raises(ValidationError, match="unique") as excinfo:
        default_config(
            firms=[{"name": "A", "strategy": "clasp"}, {"name": "A", "strategy": "zipper"}]
        )
    assert "'A'" in str(excinfo.value)
    assert errors_at(excinfo, "firms")


def test_at_least_one_firm():
    with pytest.raises(ValidationError) as excinfo:
        default_config(firms=[])
    assert errors_at(excinfo, "firms")


# ---------------------------------------------------------------------------
# Presets fill fields; explicit values win
# ---------------------------------------------------------------------------


def test_setting_preset_fills_fields_and_explicit_override_wins():
    preset = SETTINGS["ecommerce"]
    override = preset["repair_window"] + 4.0  # differs from the preset whatever it is
    config = default_config(market={"setting": "ecommerce", "repair_window": override})
    assert config.market.setting == "ecommerce"
    assert config.market.repair_window == override
    for field in MARKET_FIELDS:
        if field in ("repair_window", "stage_weights"):
            continue
        assert getattr(config.market, field) == preset[field], field
    assert config.market.stage_weights.model_dump() == preset["stage_weights"]


def test_nested_override_keeps_the_rest_of_the_preset():
    preset = SETTINGS["ecommerce"]["stage_weights"]
    config = default_config(
        market={"setting": "ecommerce", "stage_weights": {"exploration": {"switching_cost": 0.0}}}
    )
    weights = config.market.stage_weights.model_dump()
    assert weights["exploration"] == {**preset["exploration"], "switching_cost": 0.0}
    for stage in ("formation", "stability", "decline"):
        assert weights[stage] == preset[stage]


def test_the_two_settings_differ():
    """Otherwise the setting tests above could not tell the presets apart."""
    traditional, ecommerce = (
        default_config(market={"setting": s}).market for s in ("traditional", "ecommerce")
    )
    assert traditional.model_dump(exclude={"setting"}) != ecommerce.model_dump(exclude={"setting"})


@pytest.mark.parametrize("strategy", list(STRATEGIES))
def test_strategy_preset_fills_traits_and_explicit_override_wins(strategy):
    traits = STRATEGIES[strategy].traits
    adaptation = 1.0 if traits["adaptation"] < 1.0 else 0.0
    config = default_config(firms=[{"name": "A", "strategy": strategy, "adaptation": adaptation}])
    firm = config.firms[0]
    assert firm.adaptation == adaptation
    for trait, value in traits.items():
        if trait != "adaptation":
            assert getattr(firm, trait) == value, trait


def test_replace_changes_fields_and_revalidates():
    base = default_config(market={"setting": "ecommerce"})
    changed = replace(base, simulation={"customers": 123}, relationship={"exit_rate": 0.2})
    assert changed.simulation.customers == 123
    assert changed.relationship.exit_rate == 0.2
    assert changed.market == base.market
    assert changed.firms == base.firms
    assert changed.simulation.model_dump(exclude={"customers"}) == base.simulation.model_dump(
        exclude={"customers"}
    )
    with pytest.raises(ValidationError, match=r"relationship\.exit_rate"):
        replace(base, relationship={"exit_rate": 5.0})


def test_replace_with_a_new_setting_fills_from_that_preset():
    base = default_config(market={"setting": "traditional", "repair_window": 99.0})
    switched = replace(base, market={"setting": "ecommerce"})
    assert switched.market == default_config(market={"setting": "ecommerce"}).market
    kept = replace(base, market={"outside_value": 0.0})
    assert kept.market.repair_window == 99.0
    assert kept.market.setting == "traditional"


# ---------------------------------------------------------------------------
# Round trips and freezing
# ---------------------------------------------------------------------------

ROUND_TRIP_CASES = [
    {},
    {"market": {"setting": "ecommerce", "repair_window": 10}},
    {"market": {"setting": "traditional", "stage_weights": {"decline": {"trust": 0.0}}}},
    {"firms": [{"name": name, "strategy": name, "price": 1.2} for name in STRATEGIES]},
    {
        "customers": {"segments": [segment("only", 1.0, involvement=0.3)]},
        "simulation": {"customers": 50, "periods": 7, "seed": 3},
    },
    {
        "relationship": {
            "wallet_share": {"exploration": 0.1, "formation": 0.2, "stability": 0.3, "decline": 0.4}
        }
    },
]


@pytest.mark.parametrize("sections", ROUND_TRIP_CASES)
def test_config_round_trips_through_model_dump(sections):
    config = default_config(**sections)
    dumped = config.model_dump()
    again = Config.model_validate(dumped)
    assert again == config
    assert again.model_dump() == dumped
    assert Config.model_validate_json(config.model_dump_json()) == config


def test_config_is_frozen():
    config = default_config()
    with pytest.raises(ValidationError):
        config.simulation = SimulationConfig(customers=5)
    with pytest.raises(ValidationError):
        config.simulation.customers = 5
    with pytest.raises(ValidationError):
        config.market.search_probability = 0.5
    with pytest.raises(ValidationError):
        config.firms[0].price = 2.0
    with pytest.raises(ValidationError):
        config.market.stage_weights.exploration.value = 0.0
    with pytest.raises(TypeError):
        config.firms[0] = config.firms[1]  # a tuple
    assert config == default_config()


def test_config_is_hashable_and_equal_by_value():
    assert hash(default_config()) == hash(default_config())
    assert default_config(simulation={"seed": 1}) != default_config(simulation={"seed": 2})


def test_relationship_defaults_validate_on_their_own():
    """``validate_default``: the defaults themselves pass the validators."""
    relationship = RelationshipConfig()
    assert relationship.trust_break_rate >= relationship.trust_build_rate
    assert 0.0 < relationship.satisfaction_at_confirmation < 1.0
