"""Shared scenarios of the policy tests: a three-firm market and a recorder of contacts.

Every policy test runs the same market: firm A (clasp) runs the policies under
test, B (zipper) and C (velcro) run none unless a test gives B some too. The
recorder wraps each policy's ``apply`` on one model, so a test can see whom
the engine chose to touch and what the population looked like at that moment,
without changing what the policy does.
"""

from dataclasses import dataclass

import numpy as np

from sim import default_config
from sim.policies import POLICIES
from sim.stages import Stage, is_active

NAMES = list(POLICIES)
"""Every registered policy: the tests are parametrized over the registry itself."""

FALLBACK_COST = 0.05
"""Cost per contact for budget tests of policies whose default cost is zero."""


def market(policies=(), *, customers=1500, periods=24, policies_b=()):
    """The test market: A (clasp) runs ``policies``, B (zipper) ``policies_b``, C none."""
    firms = [
        {"name": "A", "strategy": "clasp", "policies": list(policies)},
        {"name": "B", "strategy": "zipper", "policies": list(policies_b)},
        {"name": "C", "strategy": "velcro"},
    ]
    return default_config(firms=firms, simulation={"customers": customers, "periods": periods})


def firm_rows(frame, firm="A"):
    """Rows of one firm in periods 1..T (period 0 is the initial state)."""
    return frame[(frame.firm == firm) & (frame.period > 0)].reset_index(drop=True)


def paid_cost(name):
    """A positive cost per contact for ``name``: its default, or a fallback if that is 0."""
    default = POLICIES[name].parameters["cost_per_contact"].default
    return default if default > 0.0 else FALLBACK_COST


def commitment(name, cost):
    """The most one contact of ``name`` can cost in a period at ``cost`` per contact.

    The budget's unit (``Policy.committed``): the cost per contact, plus, for a
    policy that gives discounts, its default allowance per customer.
    """
    policy = POLICIES[name]
    return cost + sum(
        policy.parameters[p].default for p in policy.committed if p != "cost_per_contact"
    )


def gives_discounts(name):
    """True for policies whose spend includes the discounts they give (price promotion)."""
    return POLICIES[name].allowance_parameter is not None


def targets_former_customers(name):
    """True for policies aimed at customers who no longer have a firm (win-back)."""
    return not any(is_active(stage) for stage in POLICIES[name].stages)


def other_stages(name):
    """A stage target different from the policy's own.

    For a policy aimed at former customers: the other stage without a firm
    (prospect or exited). Otherwise an active stage it does not target by
    default, or, if it targets them all, only the last of them.
    """
    defaults = POLICIES[name].stages
    if targets_former_customers(name):
        return tuple(s for s in (Stage.PROSPECT, Stage.EXITED) if s not in defaults)[:1]
    outside = [
        stage
        for stage in (Stage.EXPLORATION, Stage.FORMATION, Stage.STABILITY, Stage.DECLINE)
        if stage not in defaults
    ]
    return (outside[0],) if outside else (defaults[-1],)


@dataclass
class Contact:
    """One call of a policy's ``apply``: whom it touched and the population at that moment."""

    period: int
    firm: int
    policy: str
    touched: np.ndarray
    firm_of: np.ndarray
    last_firm: np.ndarray
    stage: np.ndarray
    left_period: np.ndarray
    segment: np.ndarray
    spend: np.ndarray


def record_contacts(model):
    """Record every ``apply`` call of ``model``'s policies into the returned list.

    The engine only calls ``apply`` when it touched somebody, so periods in
    which a policy touched nobody leave no contact.
    """
    contacts = []
    for run in model.policies:
        original = run.policy.apply

        def apply(effects, touched, population, params, _run=run, _original=original):
            contacts.append(
                Contact(
                    period=model.steps,
                    firm=_run.firm,
                    policy=_run.spec.name,
                    touched=np.array(touched),
                    firm_of=population.firm.copy(),
                    last_firm=population.last_firm.copy(),
                    stage=population.stage.copy(),
                    left_period=population.left_period.copy(),
                    segment=population.segment.copy(),
                    spend=population.spend.copy(),
                )
            )
            _original(effects, touched, population, params)

        run.policy.apply = apply
    return contacts
