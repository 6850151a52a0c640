"""The one configuration object: typed, frozen, validated, with defaults.

``Config`` nests ``market`` (the exogenous setting), ``customers`` (who is in
the market), ``relationship`` (how relationships move), ``firms`` (the levers:
strategy and firm parameters) and ``simulation`` (size, horizon, seed,
measurement). Unknown fields and out-of-range values are rejected with the
dotted path of the field and what is allowed.

Presets merge under what the user gives: ``market.setting`` fills every market
field from :data:`sim.settings.SETTINGS`, and each firm's ``strategy`` fills its
traits from :data:`sim.strategies.STRATEGIES`; any field given explicitly wins.
A dumped config (``config.model_dump()``) holds every value and loads back to
an equal config.
"""

import copy
import difflib
import math
import types
import unicodedata
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import annotated_types
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from .policies import POLICIES
from .registry import N_, Refusal, check_name
from .settings import SETTINGS
from .stages import STAGE_NAMES
from .strategies import STRATEGIES

Share = Annotated[float, Field(ge=0.0, le=1.0)]
Rate = Annotated[float, Field(ge=0.0, le=1.0)]
Positive = Annotated[float, Field(gt=0.0)]
NonNegative = Annotated[float, Field(ge=0.0)]


def _numeric(annotation: Any) -> bool:
    """True if a field of type ``annotation`` holds a number (an int or a float, maybe None)."""
    if get_origin(annotation) is Annotated:
        return _numeric(get_args(annotation)[0])
    if get_origin(annotation) in (Union, types.UnionType):
        kinds = [kind for kind in get_args(annotation) if kind is not type(None)]
        return bool(kinds) and all(_numeric(kind) for kind in kinds)
    return annotation in (int, float)


def _numbers(annotation: Any) -> bool:
    """True if a field of type ``annotation`` holds a number or a tuple or list of numbers."""
    if get_origin(annotation) in (tuple, list):
        kinds = [kind for kind in get_args(annotation) if kind is not Ellipsis]
        return bool(kinds) and all(_numeric(kind) for kind in kinds)
    return _numeric(annotation)


def _bound(value) -> str:
    """A bound as written: integers in full (a seed's 18446744073709551615), floats short."""
    return str(value) if isinstance(value, int) else f"{value:g}"


def allowed_range(info) -> str | None:
    """``0 <= value <= 120`` from a field's constraints, or None if it has none."""
    if info is None:
        return None
    low = high = ""
    for constraint in info.metadata:
        if isinstance(constraint, annotated_types.Ge):
            low = f"{_bound(constraint.ge)} <= "
        elif isinstance(constraint, annotated_types.Gt):
            low = f"{_bound(constraint.gt)} < "
        elif isinstance(constraint, annotated_types.Le):
            high = f" <= {_bound(constraint.le)}"
        elif isinstance(constraint, annotated_types.Lt):
            high = f" < {_bound(constraint.lt)}"
    return f"{low}value{high}" if low or high else None


class NumberChecks(BaseModel):
    """Base of every section: a number field holds a finite number, not a boolean.

    YAML reads ``true``, ``false`` (and YAML 1.1's ``yes``, ``no``) as booleans, and
    Python counts a boolean as the number 1 or 0: ``customers: true`` would run one
    customer. YAML also reads ``.inf`` and ``.nan``, which a field with only a lower
    bound (a cost, a budget) would take and turn into a NaN customer equity. A number
    field (int or float, or a list of them) refuses both.
    """

    @field_validator("*", mode="before")
    @classmethod
    def _strict_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        field = cls.model_fields.get(info.field_name) if info.field_name else None
        if field is None or not _numbers(field.annotation):
            return value
        for each in value if isinstance(value, list | tuple) else (value,):
            if isinstance(each, bool):
                raise Refusal(N_("expected a number, got true or false"))
            if isinstance(each, float) and not math.isfinite(each):
                allowed = allowed_range(field)
                if allowed:
                    raise Refusal(
                        N_("{value} is out of range: give a finite number; allowed: {allowed}"),
                        value=each,
                        allowed=allowed,
                    )
                raise Refusal(N_("{value} is out of range: give a finite number"), value=each)
        return value


class StrictModel(NumberChecks):
    """Base: frozen, no unknown fields, defaults validated, strict numbers (NumberChecks)."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


def _deep_merge(base: dict, override: dict) -> dict:
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _with_preset(data: Any, key: str, registry: dict, default: str, presets) -> Any:
    """Merge the named preset under ``data`` (user values win).

    An unknown name merges the default preset, so that the only error reported
    is the unknown name itself (raised by the field validator).
    """
    if not isinstance(data, dict):
        return data
    name = data.get(key, default)
    preset = presets(name if isinstance(name, str) and name in registry else default)
    return _deep_merge(preset, data)


# ---------------------------------------------------------------------------
# Market: the commerce setting
# ---------------------------------------------------------------------------


class Weights(StrictModel):
    """Weights of the four determinants in the loyalty drive for one stage."""

    value: Share
    satisfaction: Share
    trust: Share
    switching_cost: Share

    @model_validator(mode="after")
    def _at_most_one(self):
        total = self.value + self.satisfaction + self.trust + self.switching_cost
        if total > 1.0 + 1e-9:
            raise Refusal(
                N_("the four weights must sum to at most 1 (they sum to {total:.3g})"), total=total
            )
        return self


class StageWeights(StrictModel):
    """Loyalty-drive weights per active stage (seed 000 point 7)."""

    exploration: Weights
    formation: Weights
    stability: Weights
    decline: Weights


class MarketConfig(StrictModel):
    """The commerce setting: a named preset of numbers, overridable field by field.

    See :mod:`sim.settings` for what each setting changes and why.
    """

    setting: str = Field("traditional", description="preset name: traditional or ecommerce")
    initial_expectation: Share = Field(description="mean value expectation of a new customer")
    expectation_adapt_rate: Rate = Field(
        description="share of the gap to the expectation target closed per period when it rises"
    )
    expectation_adapt_down_rate: Rate = Field(
        description="share of the gap closed per period when the target is below the expectation"
    )
    expectation_anchor: Share = Field(
        description="how far expectations follow the firm's own delivery (1: all the way); "
        "the rest stays with the customer's own expectation norm"
    )
    expectation_drift: Annotated[float, Field(ge=0.0, le=0.05)] = Field(
        description="upward drift of expectations per period"
    )
    digital_weight: Share = Field(description="weight of digital quality in value")
    personalization_weight: Annotated[float, Field(ge=0.0, le=5.0)] = Field(
        description="multiplier on customers' personalization need"
    )
    imitation: Share = Field(description="share of a firm's personalization rivals copy")
    price_weight: Annotated[float, Field(ge=0.0, le=5.0)] = Field(
        description="multiplier on customers' price sensitivity (prices are compared more online)"
    )
    fit_spread: Annotated[float, Field(ge=0.0, le=1.0)] = Field(
        description="spread of customers' idiosyncratic taste for each firm's standard offer"
    )
    reputation_weight: Share = Field(description="weight of firm reputation in the trust target")
    switching_cost_floor: Share = Field(description="switching cost of a fresh relationship")
    switching_cost_scale: Annotated[float, Field(ge=0.0, le=5.0)] = Field(
        description="multiplier on every firm's switching-cost build-up"
    )
    switching_cost_decay: Rate = Field(description="per-period decay toward the floor")
    repair_window: Annotated[float, Field(ge=0.0, le=120.0)] = Field(
        description="periods to repair a declining relationship"
    )
    search_probability: Rate = Field(description="chance a customer looks at alternatives")
    rival_visibility: Rate = Field(description="chance a given rival is seen when searching")
    outside_value: Annotated[float, Field(ge=-1.0, le=2.0)] = Field(
        description="value of leaving the market (the outside option)"
    )
    word_of_mouth_reach: Annotated[float, Field(ge=0.0, le=50.0)] = Field(
        description="multiplier on referrals per advocate"
    )
    negative_word_of_mouth: Annotated[float, Field(ge=0.0, le=20.0)] = Field(
        description="strength of acquisition damping by detractors"
    )
    reentry_rate: Rate = Field(description="per-period chance an out-of-market customer returns")
    category_exit_rate: Annotated[float, Field(ge=0.0, le=0.2)] = Field(
        description="per-period chance a customer leaves the category for life reasons; "
        "each is replaced by a new prospect"
    )
    stage_weights: StageWeights

    @model_validator(mode="before")
    @classmethod
    def _fill_from_preset(cls, data):
        return _with_preset(data, "setting", SETTINGS, "traditional", lambda n: SETTINGS[n])

    @field_validator("setting")
    @classmethod
    def _known_setting(cls, name):
        return check_name(SETTINGS, name, "setting")


# ---------------------------------------------------------------------------
# Customers
# ---------------------------------------------------------------------------


class Segment(StrictModel):
    """A customer segment: its share and the centre of its traits' distributions."""

    name: str
    share: Annotated[float, Field(gt=0.0, le=1.0)]
    need_distance: Share = Field(description="distance of needs from the standard offer")
    personalization_need: Share = Field(description="how much misfit with the offer hurts")
    price_sensitivity: Annotated[float, Field(ge=0.0, le=5.0)]
    spend: Positive = Field(
        description="median spend per purchase occasion at full share of wallet"
    )
    churn_propensity: Annotated[float, Field(ge=0.0, le=10.0)] = Field(
        description="multiplier on the search probability"
    )
    involvement: Share = Field(
        1.0, description="how much relational benefits and switching-cost build-up count"
    )
    purchase_rate: Annotated[float, Field(gt=0.0, le=4.0)] = Field(
        1.0, description="mean purchase occasions per period in the category"
    )


DEFAULT_SEGMENTS = (
    {
        "name": "mainstream",
        "share": 0.55,
        "need_distance": 0.20,
        "personalization_need": 0.40,
        "price_sensitivity": 0.5,
        "spend": 1.0,
        "churn_propensity": 1.0,
    },
    {
        "name": "individualists",
        "share": 0.30,
        "need_distance": 0.60,
        "personalization_need": 0.80,
        "price_sensitivity": 0.3,
        "spend": 1.4,
        "churn_propensity": 0.8,
    },
    {
        "name": "bargain_hunters",
        "share": 0.15,
        "need_distance": 0.30,
        "personalization_need": 0.20,
        "price_sensitivity": 1.2,
        "spend": 0.7,
        "churn_propensity": 1.8,
        "involvement": 0.5,
    },
)


class CustomersConfig(StrictModel):
    """Who is in the market: segments and the spread of traits within them."""

    segments: tuple[Segment, ...] = DEFAULT_SEGMENTS
    trait_spread: Annotated[float, Field(ge=0.0, le=1.0)] = Field(
        0.15, description="standard deviation of need distance and personalization need"
    )
    spend_dispersion: Annotated[float, Field(ge=0.0, le=3.0)] = Field(
        0.9, description="sigma of the lognormal spend distribution"
    )
    churn_dispersion: Annotated[float, Field(gt=0.0, le=100.0)] = Field(
        3.0, description="gamma shape of churn propensity (larger: more alike)"
    )
    expectation_spread: Annotated[float, Field(ge=0.0, le=0.5)] = Field(
        0.17, description="standard deviation of customers' expectation norms"
    )
    purchase_rate_dispersion: Annotated[float, Field(gt=0.0, le=100.0)] = Field(
        2.0, description="gamma shape of the purchase rate (larger: more alike)"
    )

    @model_validator(mode="after")
    def _shares_sum_to_one(self):
        if not self.segments:
            raise Refusal(N_("at least one segment is needed"))
        total = sum(segment.share for segment in self.segments)
        if abs(total - 1.0) > 1e-6:
            raise Refusal(N_("segment shares must sum to 1 (they sum to {total:.6g})"), total=total)
        _check_unique([segment.name for segment in self.segments], "segment", ("segments",))
        return self


def name_key(name: str) -> str:
    """The form two names are compared in: NFKC-normalised, case-folded, spaces collapsed.

    ``Café`` written precomposed or as ``e`` + combining accent, ``Ａ`` (full width)
    and ``a``, ``A`` and ``A `` (a trailing space): one name each, so that
    tables, labels and folders never tell apart two firms a reader cannot.
    """
    return " ".join(unicodedata.normalize("NFKC", name).casefold().split())


class LocatedError(ValueError):
    """A ValueError that says where, below what its validator checks, the problem lies.

    ``loc`` is appended to the validator's own location in messages: a duplicate firm
    name is reported at ``firms.1.name`` and its line, not at ``firms``.
    """

    def __init__(self, message: str, loc: tuple[str | int, ...]):
        super().__init__(message)
        self.loc = loc


def _check_unique(names: list[str], kind: str, where: tuple[str, ...] = ()) -> None:
    """Raise naming the first two of ``names`` that are the same name (see :func:`name_key`).

    ``where``: the list's location below the validator's (``("segments",)``).
    """
    seen: dict[str, str] = {}
    for index, name in enumerate(names):
        first = seen.get(name_key(name))
        seen.setdefault(name_key(name), name)
        if first is not None:
            same = "given twice" if first == name else f"the same name as {first!r}"
            if first.casefold() != name.casefold():  # not a matter of case: show the code points
                same += f" (other Unicode code points: {name!a} vs {first!a})"
            raise LocatedError(
                f"{kind} names must be unique (compared ignoring case, spaces and Unicode "
                f"normalisation): {name!r} is {same}; give each {kind} its own name",
                (*where, index, "name"),
            )


# ---------------------------------------------------------------------------
# Relationship dynamics (behavioural constants, same in every setting)
# ---------------------------------------------------------------------------


class PerStage(StrictModel):
    """A number per active stage."""

    exploration: float
    formation: float
    stability: float
    decline: float


class RelationshipConfig(StrictModel):
    """How relationships move: satisfaction, trust, stage transitions, defection, money."""

    satisfaction_at_confirmation: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.72
    satisfaction_sensitivity: Annotated[float, Field(ge=0.0, le=100.0)] = 6.0
    satisfaction_rate: Rate = 0.35
    satisfaction_convexity: Annotated[float, Field(ge=1.0, le=10.0)] = 2.5
    initial_trust: Share = Field(0.3, description="trust at the start of a relationship")
    trust_build_rate: Rate = 0.04
    reputation_smoothing: Rate = Field(0.2, description="how fast reputation follows satisfaction")
    trust_break_rate: Rate = 0.15
    advance_threshold_exploration: Share = 0.50
    advance_threshold_formation: Share = 0.58
    decline_threshold: Share = 0.40
    recovery_threshold: Share = 0.45
    steepness: Annotated[float, Field(gt=0.0, le=200.0)] = 14.0
    advance_rate: Rate = 0.30
    decline_rate: Annotated[float, Field(ge=0.0, le=0.5)] = 0.13
    recovery_rate: Annotated[float, Field(ge=0.0, le=0.5)] = 0.25
    min_age_exploration: Annotated[int, Field(ge=0, le=120)] = 2
    min_age_formation: Annotated[int, Field(ge=0, le=120)] = 4
    exit_rate: Annotated[float, Field(ge=0.0, le=0.5)] = 0.18
    switching_cost_buffer: Share = 0.8
    overdue_exit_multiplier: Annotated[float, Field(ge=1.0, le=10.0)] = 3.0
    defection_hurdle: Annotated[float, Field(ge=-1.0, le=1.0)] = 0.02
    defection_switching_cost_weight: NonNegative = 0.5
    defection_trust_weight: NonNegative = 0.10
    defection_temperature: Annotated[float, Field(gt=0.0, le=1.0)] = 0.05
    wallet_share: PerStage = PerStage(
        exploration=0.35, formation=0.65, stability=0.90, decline=0.50
    )
    purchase_depth: PerStage = PerStage(exploration=0.6, formation=0.8, stability=1.0, decline=0.6)
    referral_rate: Annotated[float, Field(ge=0.0, le=1.0)] = Field(
        0.08, description="people each advocate recommends the firm to per period (at reach 1)"
    )

    @model_validator(mode="after")
    def _trust_breaks_faster(self):
        if self.trust_break_rate < self.trust_build_rate:
            raise Refusal(
                N_(
                    "trust_break_rate must be at least trust_build_rate "
                    "(trust builds slowly and breaks fast)"
                )
            )
        return self


# ---------------------------------------------------------------------------
# Retention policies
# ---------------------------------------------------------------------------


class PolicyConfig(NumberChecks):
    """One retention policy of a firm: which, for whom, with what budget and parameters.

    ``name`` picks the policy from :data:`sim.policies.POLICIES`; its parameters
    (e.g. ``cost_per_contact``, ``value_lift``) are given as fields next to it
    and default to the policy's own. ``budget`` is the most the firm spends on it
    per period (``null``: unlimited); ``stages`` and ``segment`` narrow whom it
    targets (default: the policy's own stages, every segment); ``start`` and
    ``end`` make it a campaign that runs in those periods only (default: the
    whole run).
    """

    model_config = ConfigDict(extra="allow", frozen=True, validate_default=True)

    name: str
    budget: NonNegative | None = Field(None, description="spend cap per period; null: none")
    stages: tuple[str, ...] | None = Field(None, description="target stages (default: policy's)")
    segment: str | None = Field(None, description="target segment (default: all)")
    start: Annotated[int, Field(ge=1)] = Field(
        1, description="first period it runs: a campaign's start (periods after warm-up)"
    )
    end: Annotated[int, Field(ge=1)] | None = Field(
        None, description="last period it runs (null: to the end of the run)"
    )

    @model_validator(mode="before")
    @classmethod
    def _fill_parameters(cls, data):
        if isinstance(data, dict) and data.get("name") in POLICIES:
            parameters = POLICIES[data["name"]].parameters
            defaults = {k: p.default for k, p in parameters.items()}
            # a switch written true/false is stored as the number 1/0, as the others
            switches = {
                k: float(v)
                for k, v in data.items()
                if k in parameters and parameters[k].switch and isinstance(v, bool)
            }
            return {**defaults, **data, **switches}
        return data

    @field_validator("name")
    @classmethod
    def _known_policy(cls, name):
        return check_name(POLICIES, name, "policy")

    @field_validator("stages")
    @classmethod
    def _known_stages(cls, stages):
        for stage in stages or ():
            check_name(STAGE_NAMES, stage, "stage")
        return stages

    @model_validator(mode="after")
    def _check_campaign(self):
        if self.end is not None and self.end < self.start:
            raise Refusal(
                N_("end: must be >= start ({start}), got {end}"), start=self.start, end=self.end
            )
        return self

    def runs_in(self, period: int) -> bool:
        """Whether the policy runs in ``period`` (after warm-up): ``start <= period <= end``."""
        return self.start <= period and (self.end is None or period <= self.end)

    @model_validator(mode="after")
    def _check_parameters(self):
        parameters = POLICIES[self.name].parameters
        for key, value in (self.model_extra or {}).items():
            if key not in parameters:
                fields = [*type(self).model_fields, *parameters]
                close = difflib.get_close_matches(str(key), fields, n=1, cutoff=0.6)
                if close:
                    raise Refusal(
                        N_("{key}: not a field of policy {policy!r}; did you mean {close!r}?"),
                        key=key,
                        policy=self.name,
                        close=close[0],
                    )
                raise Refusal(
                    N_("{key}: not a field of policy {policy!r}; valid: {fields}"),
                    key=key,
                    policy=self.name,
                    fields=", ".join(fields),
                )
            spec = parameters[key]
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise Refusal(N_("{key}: must be a number, got {value!r}"), key=key, value=value)
            if not spec.low <= value <= spec.high:
                raise Refusal(
                    N_("{key}: must be in [{low:g}, {high:g}], got {value!r}"),
                    key=key,
                    low=spec.low,
                    high=spec.high,
                    value=value,
                )
            if spec.switch and value not in (0, 1):
                raise Refusal(
                    N_("{key}: must be true or false (1 or 0), got {value!r}"), key=key, value=value
                )
        return self

    @property
    def params(self) -> dict[str, float]:
        """The policy's parameters, defaults filled in."""
        return {key: float(value) for key, value in (self.model_extra or {}).items()}


# ---------------------------------------------------------------------------
# Firms
# ---------------------------------------------------------------------------


class FirmConfig(StrictModel):
    """One firm: its strategy (which fills the traits) and its own parameters."""

    name: str = Field(min_length=1)
    strategy: str = "clasp"
    # strategy traits (defaults come from the strategy registry)
    adaptation: Share
    relational_benefit: Annotated[float, Field(ge=0.0, le=1.0)]
    trust_build: Annotated[float, Field(ge=0.0, le=10.0)]
    switching_cost_build: Rate
    serve_cost: NonNegative
    experience_noise: Annotated[float, Field(ge=0.0, le=1.0)]
    responsiveness: Annotated[float, Field(ge=0.0, le=100.0)]
    # firm parameters, the same default for every strategy
    relational_tau: Annotated[float, Field(gt=0.0, le=1000.0)] = 12.0
    quality: Share = 0.60
    digital_quality: Share = 0.60
    price: Annotated[float, Field(gt=0.0, le=10.0)]
    margin: Share = Field(0.40, description="gross margin on revenue")
    acquisition_rate: Rate = Field(0.01, description="share of prospects reached per period")
    acquisition_cost: NonNegative = Field(
        description="cost of winning one customer by marketing or from a rival"
    )
    referral_cost: NonNegative = Field(
        description="cost of one referred customer (the referral reward)"
    )
    churn_factor: Annotated[float, Field(ge=0.0, le=5.0)] = Field(
        1.0,
        description="retention lever: multiplier on its customers' chance to search and "
        "to exit from decline (1: none; run.py facts uses it for fact 7)",
    )
    policies: tuple[PolicyConfig, ...] = Field((), description="retention policies it runs")

    @model_validator(mode="before")
    @classmethod
    def _fill_from_strategy(cls, data):
        if isinstance(data, dict) and "referral_value" in data:
            raise Refusal(
                N_(
                    "referral_value was removed: a referral is now worth the "
                    "acquisition cost it saves; set acquisition_cost and referral_cost"
                )
            )
        return _with_preset(
            data, "strategy", STRATEGIES, "clasp", lambda n: dict(STRATEGIES[n].traits)
        )

    @model_validator(mode="after")
    def _referral_cheaper(self):
        if self.referral_cost > self.acquisition_cost:
            raise Refusal(
                N_(
                    "referral_cost must be at most acquisition_cost "
                    "(a referral saves acquisition cost)"
                )
            )
        return self

    @field_validator("strategy")
    @classmethod
    def _known_strategy(cls, name):
        return check_name(STRATEGIES, name, "strategy")


DEFAULT_FIRMS = (
    {"name": "A", "strategy": "clasp"},
    {"name": "B", "strategy": "zipper"},
    {"name": "C", "strategy": "velcro"},
)


# ---------------------------------------------------------------------------
# Simulation and the whole config
# ---------------------------------------------------------------------------


MAX_SEED = 2**64 - 1
"""Largest seed: numpy's SeedSequence takes any size, but a seed is stored and shown as an
unsigned 64-bit number (docs/scenarios.md, Seeds)."""


class SimulationConfig(StrictModel):
    """Size, horizon, randomness and measurement."""

    customers: Annotated[int, Field(ge=1, le=100_000_000)] = 10_000
    periods: Annotated[int, Field(ge=1, le=10_000)] = 120
    seed: Annotated[int, Field(ge=0, le=MAX_SEED)] = 0
    replications: Annotated[int, Field(ge=1, le=100_000)] = 1
    initial_customer_share: Share = Field(
        0.75, description="share of customers that start with a firm"
    )
    start: Literal["settled", "new"] = Field(
        "settled",
        description="settled: the market has been running (customers with a firm "
        "have a history with it; the others are prospects or out of the "
        "market at the balance of the flows); new: every relationship "
        "starts at period 0, in exploration, the others are prospects",
    )
    initial_tenure: Annotated[float, Field(ge=0.0, le=600.0)] = Field(
        60.0,
        description="mean tenure, in periods, of the relationships at a settled start (geometric)",
    )
    warm_up: Annotated[int, Field(ge=0, le=1_000)] = Field(
        0,
        description="periods run before period 0 and excluded from every figure, so that "
        "measurement starts from the market's steady state",
    )
    discount_rate: Annotated[float, Field(ge=0.0, le=1.0)] = Field(
        0.01, description="discount rate per period"
    )
    planning_horizon: Annotated[int, Field(ge=0, le=600)] = Field(
        36,
        description="periods after the run over which current customers' remaining "
        "value is projected (customer equity's projected remainder)",
    )
    satisfied_threshold: Share = Field(
        0.5,
        description="satisfaction at or above which a customer counts as satisfied "
        "(one mark for every strategy and setting)",
    )
    long_stability: Annotated[int, Field(ge=1, le=10_000)] = Field(
        24, description="periods of stability that make a trajectory type IV"
    )


class Config(StrictModel):
    """The whole model configuration, as ``CRMModel`` takes it."""

    market: MarketConfig = MarketConfig()
    customers: CustomersConfig = CustomersConfig()
    relationship: RelationshipConfig = RelationshipConfig()
    firms: tuple[FirmConfig, ...] = Field(DEFAULT_FIRMS, max_length=100)
    simulation: SimulationConfig = SimulationConfig()

    @field_validator("firms")
    @classmethod
    def _unique_firm_names(cls, firms):
        if not firms:
            raise Refusal(N_("at least one firm is needed"))
        _check_unique([firm.name for firm in firms], "firm")
        return firms

    @model_validator(mode="after")
    def _policy_segments_exist(self):
        segments = [segment.name for segment in self.customers.segments]
        for i, firm in enumerate(self.firms):
            for j, policy in enumerate(firm.policies):
                if policy.segment is not None and policy.segment not in segments:
                    raise Refusal(
                        N_(
                            "firms.{i}.policies.{j}.segment: unknown segment {segment!r}; "
                            "valid segments: {segments}"
                        ),
                        i=i,
                        j=j,
                        segment=policy.segment,
                        segments=", ".join(segments),
                    )
        return self


def default_config(**sections) -> Config:
    """The default configuration, with whole sections or fields overridden.

    Example:
        ``default_config(market={"setting": "ecommerce"}, simulation={"customers": 1000})``

    Args:
        **sections: top-level sections (market, customers, relationship, firms,
            simulation) as dicts of the fields to change.

    Returns:
        A validated :class:`Config`.
    """
    return Config.model_validate(sections)


def replace(config: Config, **sections) -> Config:
    """A copy of ``config`` with some fields of some sections changed and re-validated.

    Dict values are merged into the section (``market={"setting": "ecommerce"}``
    switches the preset but keeps explicitly changed fields only if given);
    other values replace it.
    """
    data = config.model_dump()
    for key, value in sections.items():
        if key == "market" and isinstance(value, dict) and "setting" in value:
            data[key] = value  # a new preset: fill the rest from it
        elif isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = _deep_merge(data[key], value)
        else:
            data[key] = value
    return Config.model_validate(data)
