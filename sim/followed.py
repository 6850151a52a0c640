"""The followed customers' history: their state at the end of every period, and how they joined.

:meth:`sim.model.CRMModel.follow` names rows (places in the market) to
follow. After each period the model copies those rows' state here
(:meth:`FollowedHistory.snapshot`): a few rows, read with numpy indexing
after the compiled kernels have run, so following changes no result and
costs the other customers nothing.

What a row's state shows and what it does not: the end of a relationship
leaves ``last_firm`` and ``left_period`` in the row (:func:`sim.kernel.end_relationship`),
and a customer who leaves the category is replaced in its row by a new
arrival with a new ``identity``. How a new relationship began is not in the
row: the model notes it here for the followed rows only
(:meth:`FollowedHistory.note`, from acquisition and win-back, in Python);
a relationship that began in the period and was not noted is a customer
who moved from a rival in step 5 (the kernel starts it there).
"""

import numpy as np
import pandas as pd

from .population import NEVER, NO_FIRM
from .stages import STAGE_NAMES

HISTORY_COLUMNS = (
    "identity",
    "stage",
    "firm",
    "stage_age",
    "tenure",
    "expectation",
    "value",
    "satisfaction",
    "trust",
    "switching_cost",
    "revenue_to_date",
    "clv",
)
"""The customer arrays a snapshot of a followed customer (or a sampled one) copies."""

FOLLOW_COLUMNS = (*HISTORY_COLUMNS, "acquired_period", "last_firm", "left_period", "joined")
"""Columns of :meth:`FollowedHistory.frame` besides ``period`` and ``customer``.

``acquired_period`` and ``left_period`` are periods (the warm-up's
negative; ``left_period`` missing if no relationship of the row's customer
has ended), ``last_firm`` the firm of the last ended relationship, ``joined``
how the current relationship began if it began in this period
(:data:`JOINED`), else ``""``.
"""

JOINED = ("", "marketing", "referral", "win-back", "rival", "unknown")
"""``joined`` names, by code: not in this period; won by the firm's marketing, by a
referral, by a win-back policy; moved from a rival by the customer's own
choice; began in the period the row was first followed (not noted)."""
NOT_JOINED, MARKETING, REFERRAL, WIN_BACK, RIVAL, UNKNOWN = range(len(JOINED))


class FollowedHistory:
    """The rows followed, their snapshots, and this period's notes of how they joined.

    Attributes:
        rows: the followed rows, sorted.
    """

    def __init__(self):
        self.rows = np.empty(0, dtype=np.intp)
        self._joined = np.empty(0, dtype=np.int8)
        self._joined_firm = np.empty(0, dtype=np.int8)
        self._records: list[dict[str, np.ndarray]] = []

    def add(self, rows: np.ndarray, firm: np.ndarray) -> None:
        """Follow ``rows`` too; ``firm`` is every row's current firm (the population's)."""
        merged = np.unique(np.concatenate([self.rows, rows]))
        joined = np.full(merged.size, UNKNOWN, dtype=np.int8)  # joined before being followed
        joined_firm = firm[merged].astype(np.int8)
        kept = np.searchsorted(merged, self.rows)
        joined[kept], joined_firm[kept] = self._joined, self._joined_firm
        self.rows, self._joined, self._joined_firm = merged, joined, joined_firm

    def new_period(self) -> None:
        """Forget the last period's notes (called when a period starts)."""
        self._joined[:] = NOT_JOINED

    def note(self, rows: np.ndarray, firms: np.ndarray, channels: np.ndarray) -> None:
        """Note that the followed ones among ``rows`` just joined ``firms`` through ``channels``."""
        if not self.rows.size or not len(rows):
            return
        rows = np.asarray(rows, dtype=np.intp)
        place = np.minimum(np.searchsorted(self.rows, rows), self.rows.size - 1)
        hit = self.rows[place] == rows
        self._joined[place[hit]] = np.asarray(channels)[hit]
        self._joined_firm[place[hit]] = np.asarray(firms)[hit]

    def snapshot(self, pop, period: int, clock: int) -> None:
        """Copy the followed rows' state at the end of ``period`` (model clock ``clock``)."""
        if not self.rows.size:
            return
        rows = self.rows
        record = {"period": np.full(rows.size, period, dtype=np.int64), "customer": rows}
        for column in (*HISTORY_COLUMNS, "acquired_period", "last_firm", "left_period"):
            record[column] = getattr(pop, column)[rows]
        began = (record["acquired_period"] == clock) & (record["firm"] != NO_FIRM)
        # noted with another firm: a later move in the same period (step 5), to a rival
        noted = self._joined != NOT_JOINED
        same = self._joined_firm == record["firm"]
        record["joined"] = np.where(
            began, np.where(noted & same, self._joined, RIVAL), NOT_JOINED
        ).astype(np.int8)
        self._records.append(record)

    def frame(self, firm_names, warm_up: int, rows=None) -> pd.DataFrame:
        """One row per followed row x period (the latest snapshot of a period wins).

        Columns ``period``, ``customer`` (the row) and :data:`FOLLOW_COLUMNS`;
        ``stage`` and ``joined`` as names, ``firm`` and ``last_firm`` as
        categories of the firm names (missing: no firm). ``rows``: only these
        followed rows (default: all).
        """
        columns = ["period", "customer", *FOLLOW_COLUMNS]
        records = self._records
        if rows is not None:
            keep = [np.isin(r["customer"], rows) for r in records]
            records = [{k: v[m] for k, v in r.items()} for r, m in zip(records, keep, strict=True)]
        if not records:
            return pd.DataFrame(columns=columns)
        data = {name: np.concatenate([r[name] for r in records]) for name in columns}
        for column in ("firm", "last_firm"):  # code -1 (no firm): missing
            data[column] = pd.Categorical.from_codes(data[column].astype(np.int64), firm_names)
        data["stage"] = np.array(STAGE_NAMES)[data["stage"]]
        data["joined"] = np.array(JOINED)[data["joined"]]
        data["acquired_period"] = data["acquired_period"].astype(np.int32) - warm_up
        left = data["left_period"]
        data["left_period"] = pd.array(
            np.where(left == NEVER, 0, left.astype(np.int32) - warm_up), dtype="Int32"
        )
        data["left_period"][left == NEVER] = pd.NA
        frame = pd.DataFrame(data)
        return frame.drop_duplicates(["period", "customer"], keep="last").reset_index(drop=True)
