"""An opt-in purchase log: what each active customer bought each period, and what it was worth.

``CRMModel.log_transactions()`` attaches a :class:`TransactionLog`; from then
on the engine hands it, once per period, the per-customer sales and CLV
increment it books in its money phase. ``CRMModel.transactions_frame()``
returns the log as one row per purchase.

Contract with the engine (whatever computes the money phase must keep it):
when logging is on, the engine calls :meth:`TransactionLog.record` once per
period ``t`` with, for every customer active in that period's money phase
(in row order), its identity, firm code, the period its current
relationship began, its sales (the same values added to
``customers.revenue_to_date`` and summed into the ledger's ``revenue``), its
CLV increment (the same values added to ``customers.clv``: discounted
contribution minus what the firm's policies spent on it) and its purchase
occasions. When logging is off nothing is recorded and the run is
bit-identical.

Customers buy on purchase occasions (:func:`sim.rules.occasions`): a
Poisson number per period whose rate is the customer's own, rising with the
relationship's depth. The log holds one row per occasion, dated to the day:
each occasion of period ``t`` falls on a day drawn uniformly within it
(``day`` = ``30 (t - 1)`` + 0..29, 30-day periods), from the model's own log
stream, so that logging changes no result. An occasion's ``revenue`` is the
period's sales split equally over its occasions, and so is its
``clv_increment`` (the serve cost of the period is in it). A customer with no
occasion in a period has no row (nor its CLV increment: the serve cost of a
period without a purchase), so recency and frequency carry information, as
BG/NBD and Pareto/NBD models read them. The log's revenue adds up to the
ledger's, to float32 rounding.
"""

import numpy as np
import pandas as pd

TRANSACTION_COLUMNS = (
    "period",
    "day",
    "customer",
    "firm",
    "acquired_period",
    "revenue",
    "clv_increment",
)
"""Columns of :meth:`TransactionLog.frame`."""

_DTYPES = (np.int16, np.int32, np.int64, np.int8, np.int32, np.float32, np.float32)
DAYS_PER_PERIOD = 30
"""Days in one period, for the occasions' dates."""


class TransactionLog:
    """Per-period chunks of the engine's per-customer sales and CLV increments.

    Chunks are kept as numpy arrays and concatenated only when the frame is
    asked for, so recording costs a few array copies per period.
    """

    def __init__(self):
        self._chunks: list[tuple[np.ndarray, ...]] = []

    def __len__(self) -> int:
        return sum(chunk[0].size for chunk in self._chunks)

    def record(
        self,
        period: int,
        customers,
        firm,
        acquired_period,
        revenue,
        clv_increment,
        occasions,
        rng: np.random.Generator,
    ) -> None:
        """Keep one period's purchases (arrays of equal length, one entry per active customer).

        Args:
            period: the period ``t`` (1 for the first step).
            customers: identities of the active customers, in row order.
            firm: each one's firm code (index into the model's firms).
            acquired_period: the period its current relationship began.
            revenue: its sales this period, as added to ``revenue_to_date``.
            clv_increment: its CLV increment this period, as added to ``clv``.
            occasions: its purchase occasions this period (0 for none).
            rng: draws each occasion's day within the period.
        """
        count = np.asarray(occasions).astype(np.int64)
        rows = np.repeat(np.arange(count.size), count)
        share = (1.0 / np.maximum(count, 1))[rows]
        days = DAYS_PER_PERIOD * (period - 1) + rng.integers(0, DAYS_PER_PERIOD, size=rows.size)
        self._chunks.append(
            (
                np.full(rows.size, period, dtype=np.int16),
                days.astype(np.int32),
                np.asarray(customers, dtype=np.int64)[rows],
                np.array(firm, dtype=np.int8)[rows],
                np.array(acquired_period, dtype=np.int32)[rows],
                (np.asarray(revenue)[rows] * share).astype(np.float32),
                (np.asarray(clv_increment)[rows] * share).astype(np.float32),
            )
        )

    def frame(self, firm_names) -> pd.DataFrame:
        """The log as a frame: one row per purchase occasion, by period then customer.

        Args:
            firm_names: the firms' names in model order (firm codes index them).

        Returns:
            Columns :data:`TRANSACTION_COLUMNS`; ``firm`` is categorical with
            the firms in model order; ``day`` counts days from the start of
            period 1; ``revenue`` and ``clv_increment`` are float32 shares of
            the engine's per-period values.
        """
        if self._chunks:
            columns = [np.concatenate(parts) for parts in zip(*self._chunks, strict=True)]
        else:
            columns = [np.empty(0, dtype=dtype) for dtype in _DTYPES]
        data = dict(zip(TRANSACTION_COLUMNS, columns, strict=True))
        data["firm"] = pd.Categorical.from_codes(data["firm"], list(firm_names))
        return pd.DataFrame(data)
