"""Lifecycle stages, the stage-transition rule and trajectory types.

The stages follow Chen Mingliang's customer lifecycle (客户生命周期, seed 000/002):
a prospect is acquired into *exploration* (考察期), may advance to *formation*
(形成期) and *stability* (稳定期); any active stage can slide into *decline*
(退化期), from which the customer either *recovers* (back to the stage it left)
or *exits* (to a rival or out of the market).

The transition rule is two functions, :func:`transition_probabilities` and
:func:`next_stage`, written with the helpers of :mod:`sim.rules`: they work on
whole arrays of customers or on a single customer (plain Python numbers, the
cheap way, or numpy scalars); the engine's kernel runs the same functions
compiled for scalars (:mod:`sim.compiled`).
"""

from enum import IntEnum

import numpy as np

from .rules import gated_logistic, minimum, select, take


class Stage(IntEnum):
    """Where a customer is in its relationship with its current firm."""

    PROSPECT = 0
    EXPLORATION = 1
    FORMATION = 2
    STABILITY = 3
    DECLINE = 4
    EXITED = 5


# the codes as plain ints: against an IntEnum member numpy widens an int8 array of codes
# first (10x slower), and numba types the member apart from the int8 codes
PROSPECT, EXPLORATION, FORMATION, STABILITY, DECLINE, EXITED = (int(stage) for stage in Stage)

ACTIVE_STAGES = (Stage.EXPLORATION, Stage.FORMATION, Stage.STABILITY, Stage.DECLINE)
"""Stages in which a customer has a current firm."""

STAGE_NAMES = tuple(stage.name.lower() for stage in Stage)

NO_FIRM = -1
"""Firm code of a customer with no current firm (prospect or exited).

Here, beside the stage codes, and not in :mod:`sim.population` (which
re-exports it): :mod:`sim.policies`, and through it :mod:`sim.config`, need
it, and the population module loads the compiled random draws (numba, a
second of start-up that reading results never needs).
"""


class Trajectory(IntEnum):
    """How far a finished relationship got (seed 002's four trajectory types).

    I ended in exploration, II ended in formation, III reached stability but left
    early, IV had a long stability before it ended.
    """

    I = 1  # noqa: E741 (the literature's own name)
    II = 2
    III = 3
    IV = 4


def codes(stage):
    """Stage codes: a Python ``int`` for one customer, else an array (``np.asarray``).

    A numpy integer scalar stays itself; compiled (:mod:`sim.compiled`), the
    scalar itself.
    """
    if isinstance(stage, int):  # a plain int, or a Stage member made one
        return int(stage)
    if isinstance(stage, np.integer):
        return stage
    return np.asarray(stage)


def code_like(stage, code):
    """``code`` in the integer type of the stage codes ``stage`` (an IntEnum would widen them)."""
    if isinstance(stage, int):
        return int(code)
    if isinstance(stage, np.integer):
        return type(stage)(code)
    return np.asarray(stage).dtype.type(code)


def is_active(stage):
    """True where the customer has a current firm (exploration .. decline)."""
    stage = codes(stage)
    return (stage >= Stage.EXPLORATION) & (stage <= Stage.DECLINE)


def is_advocate(stage, satisfaction, satisfied_threshold):
    """Advocates: stable customers at or above the satisfied threshold (they refer others)."""
    return (codes(stage) == Stage.STABILITY) & (satisfaction >= satisfied_threshold)


def transition_probabilities(
    stage,
    stage_age,
    loyalty,
    switching_cost,
    advance_threshold,
    decline_threshold,
    recovery_threshold,
    steepness,
    advance_rate,
    decline_rate,
    recovery_rate,
    min_stage_age,
    exit_rate,
    repair_window,
    switching_cost_buffer,
    overdue_exit_multiplier,
):
    """Per-period probabilities of moving up, sliding into decline, recovering, exiting.

    With the logistic ``sigma(x) = 1 / (1 + exp(-x))`` and the loyalty drive ``L``:

    * advance (exploration -> formation -> stability), once the stage age has
      reached ``min_stage_age[stage]``:
      ``p_up = advance_rate * sigma(steepness * (L - advance_threshold[stage]))``;
    * slide into decline from an active, non-declining stage:
      ``p_down = decline_rate * sigma(steepness * (decline_threshold - L))``;
    * recover from decline: ``p_rec = recovery_rate * sigma(steepness * (L - recovery_threshold))``;
    * exit from decline: ``p_exit = exit_rate * (1 - switching_cost_buffer * C)``,
      multiplied by ``overdue_exit_multiplier`` once the customer has been
      declining longer than the repair window, which switching cost stretches:
      ``repair_window * (1 + C)``.

    Switching cost therefore acts where seed 000 says it does: in decline, as a
    buffer that slows exit and buys the firm time to repair the relationship.

    Args:
        stage: current :class:`Stage` codes.
        stage_age: periods spent in the current stage.
        loyalty: loyalty drive ``L`` (see :func:`sim.rules.loyalty_drive`).
        switching_cost: switching cost ``C`` in [0, 1].
        advance_threshold: array indexed by stage, loyalty needed to move up.
        decline_threshold: loyalty below which a relationship starts to decline.
        recovery_threshold: loyalty above which a declining customer recovers.
        steepness: slope of the logistic around each threshold.
        advance_rate: highest per-period chance to move up.
        decline_rate: highest per-period chance to slide into decline.
        recovery_rate: highest per-period chance to recover (scalar, or per customer
            when a service-recovery policy adds to it).
        min_stage_age: array indexed by stage, periods before moving up is possible.
        exit_rate: per-period exit chance of a declining customer within the window.
        repair_window: periods a firm has to repair a declining relationship.
        switching_cost_buffer: how much switching cost damps exit, in [0, 1].
        overdue_exit_multiplier: exit hazard multiplier past the repair window.

    Where a configuration makes ``p_up + p_down`` (or ``p_recover + p_exit``)
    exceed 1, the harsher move keeps its chance and the other gets the rest
    (``p_up <= 1 - p_down``, ``p_recover <= 1 - p_exit``), so one uniform draw
    realizes exactly the returned probabilities (:func:`next_stage`).

    Returns:
        Tuple ``(p_up, p_down, p_recover, p_exit)`` of arrays shaped like ``stage``;
        each is zero where it does not apply.

    Over 80 lines for its sixteen parameters, one a line, and their
    description; the rule itself is the 25 lines below, one function because
    the four chances share their tests and the two rising moves one logistic.
    """
    stage = codes(stage)
    in_decline = stage == Stage.DECLINE
    can_advance = (stage == Stage.EXPLORATION) | (stage == Stage.FORMATION)
    can_advance &= stage_age >= take(min_stage_age, stage)
    can_decline = is_active(stage) & (stage != Stage.DECLINE)  # no ~: on a bool it is -1 or -2

    # advancing and recovering are one move up the ladder: a customer can make
    # only one of them (recovery in decline, advance elsewhere), so one logistic
    # serves both; each chance is computed only where it applies
    rise_rate = select(in_decline, recovery_rate, advance_rate)
    rise_threshold = select(in_decline, recovery_threshold, take(advance_threshold, stage))
    p_rise = gated_logistic(
        can_advance | in_decline, rise_rate, steepness * (loyalty - rise_threshold)
    )
    p_down = gated_logistic(can_decline, decline_rate, steepness * (decline_threshold - loyalty))
    window = repair_window * (1.0 + switching_cost)
    overdue = select(stage_age >= window, overdue_exit_multiplier, 1.0)
    p_exit = minimum(exit_rate * (1.0 - switching_cost_buffer * switching_cost) * overdue, 1.0)
    # one draw decides at most one move; where the two chances add up past 1 the
    # harsher move keeps its chance (as in next_stage, where it is applied last)
    p_up = minimum(p_rise, 1.0 - p_down)
    p_recover = minimum(minimum(p_rise, 1.0), 1.0 - p_exit)
    return (
        select(can_advance, p_up, 0.0),
        p_down,
        select(in_decline, p_recover, 0.0),
        select(in_decline, p_exit, 0.0),
    )


def next_stage(stage, stage_before_decline, uniform, p_up, p_down, p_recover, p_exit):
    """Apply the transition probabilities with one uniform draw per customer.

    One draw ``u`` in [0, 1) decides every move, so a customer makes at most one
    move per period: an active customer moves up if ``u < p_up`` and else slides
    into decline if ``u >= 1 - p_down``; a declining customer recovers (back to
    the stage it left) if ``u < p_recover`` and else exits if ``u >= 1 - p_exit``.
    The caller keeps ``p_up + p_down <= 1`` and ``p_recover + p_exit <= 1``.

    Args:
        stage: current :class:`Stage` codes.
        stage_before_decline: the stage each customer left when it started to decline.
        uniform: one uniform [0, 1) draw per customer.
        p_up: probability of moving up a stage.
        p_down: probability of sliding into decline.
        p_recover: probability of recovering from decline.
        p_exit: probability of exiting from decline.

    Returns:
        The new stage codes (``Stage.EXITED`` for exits), same shape as ``stage``.
    """
    stage = codes(stage)
    new = select(uniform < p_up, stage + 1, stage)
    new = select(uniform >= 1.0 - p_down, code_like(stage, Stage.DECLINE), new)
    new = select(uniform < p_recover, stage_before_decline, new)
    new = select(uniform >= 1.0 - p_exit, code_like(stage, Stage.EXITED), new)
    return code_like(stage, new)


def trajectory_type(deepest_stage, stability_periods, long_stability):
    """Classify finished relationships into trajectory types I-IV.

    Args:
        deepest_stage: the deepest stage the relationship reached (decline does
            not count as deeper).
        stability_periods: periods the relationship spent in stability.
        long_stability: periods of stability that make a trajectory type IV.

    Returns:
        :class:`Trajectory` codes (1-4).
    """
    deepest_stage = codes(deepest_stage)
    later = select(stability_periods < long_stability, Trajectory.III, Trajectory.IV)
    later = select(deepest_stage == Stage.FORMATION, Trajectory.II, later)
    return select(deepest_stage <= Stage.EXPLORATION, Trajectory.I, later)


def climbed_stage(tenure, min_stage_age, wait_exploration, wait_formation):
    """Stage, stage age and periods in stability of a relationship that climbed without declining.

    The relationship is ``tenure`` periods old and moved up as
    :func:`transition_probabilities` lets it: not before its stage age reached
    ``min_stage_age`` of the stage (the table by stage), then after
    ``wait_exploration`` (``wait_formation``) more periods in which it did not
    move; a move takes a period and starts the new stage at age 0. So it
    reached formation at tenure ``t_F = m_E + 1 + w_E`` and stability at
    ``t_S = t_F + m_F + 1 + w_F``. Its stage age is the time since it entered
    its stage; in stability, the periods in stability are the stage age plus
    1 (the period of the move counts, as in the engine).

    Used for the starting state of a market that has been running
    (:meth:`sim.population.Population.settle`).

    Returns:
        ``(stage, stage_age, stability_periods)``, shaped like ``tenure``.
    """
    formation_at = take(min_stage_age, Stage.EXPLORATION) + 1 + wait_exploration
    stability_at = formation_at + take(min_stage_age, Stage.FORMATION) + 1 + wait_formation
    stage = select(
        tenure < formation_at, EXPLORATION, select(tenure < stability_at, FORMATION, STABILITY)
    )
    entered = select(
        stage == EXPLORATION, 0, select(stage == FORMATION, formation_at, stability_at)
    )
    stage_age = tenure - entered
    return stage, stage_age, select(stage == STABILITY, stage_age + 1, 0)
