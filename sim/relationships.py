"""The relationship log: one record per relationship ever, for survival analysis.

A relationship is one customer's tenure with one firm: it starts when the
firm acquires the customer (marketing, a referral, from a rival, a win-back;
or at the start of the run) and ends when the customer defects to a rival,
leaves the market, or leaves the category for life reasons (see
:func:`sim.kernel.end_relationship`). The log is off by default
(:meth:`sim.model.CRMModel.log_relationships` turns it on); it changes no
result.

How it is recorded, without slowing the kernel: the engine already marks
each end in the customer's row (``last_firm``, ``left_period``). With the log
on, :func:`sim.kernel.end_relationship` also writes, into three arrays of this
log indexed like the customers, what the start of a new relationship in the
same period would overwrite: the ended relationship's start, its trajectory
type and its reason (:data:`sim.kernel.ENDED_RIVAL`...). That runs only for
the customers whose relationship ends. Once a period, the model reads the
rows whose ``left_period`` is this period (:meth:`RelationshipLog.collect`),
before a new arrival can take the row of one who left the category. The
relationships still open when the table is made are censored at the model's
current period (:meth:`RelationshipLog.frame`).

Periods are the model's (``period``; the warm-up's are negative): a
relationship that starts in period ``a`` and ends in period ``e`` lasted
``e - a`` periods; it was a customer of the firm at the end of periods
``a .. e - 1``, as the ledger's cohorts count it.
"""

import numpy as np
import pandas as pd

from .kernel import ENDED_FROM_DECLINE, ENDED_RIVAL
from .population import NO_FIRM
from .stages import STAGE_NAMES, Stage, Trajectory, trajectory_type

REASONS = ("rival", "market", "life")
"""``reason`` of an ended relationship: to a rival, out of the market, out of the category.

In the order of the kernel's codes :data:`sim.kernel.ENDED_RIVAL`,
:data:`sim.kernel.ENDED_MARKET`, :data:`sim.kernel.ENDED_LIFE`.
"""

TRAJECTORY_NAMES = tuple(t.name for t in Trajectory)
"""``trajectory`` categories, in order (I-IV; see :func:`sim.stages.trajectory_type`)."""

STAGE_REACHED = {
    Trajectory.I: Stage.EXPLORATION,
    Trajectory.II: Stage.FORMATION,
    Trajectory.III: Stage.STABILITY,
    Trajectory.IV: Stage.STABILITY,
}
"""The deepest stage a relationship of each trajectory type reached (decline is not deeper)."""

COLUMNS = (
    "customer",
    "firm",
    "start",
    "end",
    "duration",
    "event",
    "entry",
    "reason",
    "from_decline",
    "stage_reached",
    "trajectory",
)
"""Columns of :meth:`RelationshipLog.frame`."""


class RelationshipLog:
    """Ends of relationships collected period by period, and the arrays the kernel writes them to.

    Attributes:
        ended_acquired: by customer row, the start (the model's clock) of the
            customer's last ended relationship.
        ended_trajectory: its :class:`sim.stages.Trajectory` code.
        ended_reason: its reason code (:data:`sim.kernel.ENDED_RIVAL`...).

    A settled start (``simulation.start: settled``) opens the run with
    relationships that began before it: their ``tenure`` counts periods the
    clock never saw, and their ``acquired_period`` is the clock's start.
    :meth:`begin` notes those periods per row, and the relationship's start
    is moved back by them, so its ``entry`` (left truncation) and
    ``duration`` count its whole tenure.
    """

    def __init__(self, customers: int, clock_dtype=np.int16):
        self.ended_acquired = np.zeros(customers, dtype=clock_dtype)
        self.ended_trajectory = np.zeros(customers, dtype=np.int8)
        self.ended_reason = np.zeros(customers, dtype=np.int8)
        self._ends: list[dict] = []
        self._collected = np.empty(0, dtype=np.intp)
        self._before = np.zeros(customers, dtype=np.int32)  # tenure before the clock began

    def begin(self, customers, t: int) -> None:
        """Note, at clock ``t``, the periods each open relationship had before the clock began.

        A relationship begun at clock ``a`` has tenure ``t - a`` at ``t``;
        one of a settled start has more: the difference is its tenure at the
        clock's start, which its recorded start leaves out.
        """
        rows = np.flatnonzero(customers.firm != NO_FIRM)
        seen = t - customers.acquired_period[rows].astype(np.int32)
        self._before[rows] = customers.tenure[rows].astype(np.int32) - seen

    @classmethod
    def off(cls, clock_dtype=np.int16) -> "RelationshipLog":
        """Empty arrays: the kernel writes nothing (the log is off)."""
        return cls(0, clock_dtype)

    def collect(self, customers, t: int, warm_up: int, rows=None) -> None:
        """Keep the relationships that ended at clock ``t`` (after the warm-up).

        Args:
            customers: the :class:`sim.population.Population`.
            t: the model's clock (warm-up periods included).
            warm_up: the warm-up's length; ends in it are not kept (they lie
                before the measured window).
            rows: the rows whose relationship just ended (a win-back from a
                rival, before the period's defections); None: every row whose
                ``left_period`` is ``t``, less those already collected this
                period unless a new relationship of theirs ended again.
        """
        if t <= warm_up or not self.on:
            return
        if rows is None:
            rows = np.flatnonzero(customers.left_period == t)
            again = self.ended_acquired[self._collected] == t
            rows = np.setdiff1d(rows, self._collected[~again], assume_unique=True)
            self._collected = np.empty(0, dtype=np.intp)
        else:
            self._collected = np.concatenate([self._collected, rows])
        if not rows.size:
            return
        before, self._before[rows] = self._before[rows], 0  # the next relationship starts afresh
        self._ends.append(
            {
                "customer": customers.identity[rows],
                "firm": customers.last_firm[rows],
                "start": self.ended_acquired[rows].astype(np.int32) - warm_up - before,
                "end": np.full(rows.size, t - warm_up, dtype=np.int32),
                "trajectory": self.ended_trajectory[rows],
                "reason": self.ended_reason[rows],
            }
        )

    @property
    def on(self) -> bool:
        """True if the kernel writes the ends (the arrays have a row per customer)."""
        return self.ended_acquired.size > 0

    def frame(
        self, customers, firm_names, period: int, warm_up: int, long_stability
    ) -> pd.DataFrame:
        """One row per relationship: those that ended, then those open at ``period`` (censored).

        Columns (:data:`COLUMNS`): ``customer`` (identity), ``firm``
        (categorical), ``start`` and ``end`` (periods; ``end`` is ``period``
        for an open relationship), ``duration`` (``end - start``), ``event``
        (1 ended, 0 censored), ``entry`` (the tenure at which the relationship
        came under observation: ``max(0, -start)``, positive for those begun
        before period 0, in the warm-up or a settled start), ``reason``
        (:data:`REASONS`, missing if censored), ``from_decline`` (a customer in
        decline who exited by choice), ``stage_reached`` (the deepest stage),
        ``trajectory`` (I-IV; of an open relationship, so far). Ended rows
        come in the order they ended; open ones by customer row.
        """
        open_rows = np.flatnonzero(customers.firm != NO_FIRM)
        kinds = trajectory_type(
            customers.deepest_stage[open_rows],
            customers.stability_periods[open_rows],
            long_stability,
        )
        censored = {
            "customer": customers.identity[open_rows],
            "firm": customers.firm[open_rows],
            "start": customers.acquired_period[open_rows].astype(np.int32)
            - warm_up
            - self._before[open_rows],
            "end": np.full(open_rows.size, period, dtype=np.int32),
            "trajectory": np.asarray(kinds, dtype=np.int8),
            "reason": np.zeros(open_rows.size, dtype=np.int8),
        }
        parts = [*self._ends, censored]
        data = {name: np.concatenate([p[name] for p in parts]) for name in censored}
        code = data["reason"].astype(np.int64)
        start, end = data["start"], data["end"]
        trajectory = data["trajectory"].astype(np.int64)
        reached = np.array([0, *(STAGE_REACHED[t] for t in Trajectory)])[trajectory]
        frame = pd.DataFrame(
            {
                "customer": data["customer"].astype(np.int64),
                "firm": pd.Categorical.from_codes(data["firm"].astype(np.int64), list(firm_names)),
                "start": start,
                "end": end,
                "duration": end - start,
                "event": (code > 0).astype(np.int8),
                "entry": np.maximum(0, -start).astype(np.int32),
                "reason": pd.Categorical.from_codes(
                    np.where(code > 0, _reason_index(code), -1), list(REASONS)
                ),
                "from_decline": code > ENDED_FROM_DECLINE,
                "stage_reached": pd.Categorical.from_codes(reached, list(STAGE_NAMES)),
                "trajectory": pd.Categorical.from_codes(trajectory - 1, list(TRAJECTORY_NAMES)),
            }
        )
        return frame[list(COLUMNS)]


def _reason_index(code: np.ndarray) -> np.ndarray:
    """Index into :data:`REASONS` of ``ended_reason`` codes (the decline flag removed)."""
    return np.where(code > ENDED_FROM_DECLINE, code - ENDED_FROM_DECLINE, code) - ENDED_RIVAL
