"""An opt-in purchase log: what each active customer bought each period, and what it was worth.

``CRMModel.log_transactions()`` attaches a :class:`TransactionLog`; from then
on the engine hands it, once per period, the per-customer sales and CLV
increment it books in its money phase. ``CRMModel.transactions_frame()``
returns the log as one row per purchase.

Contract with the engine (whatever computes the money phase must keep it):
when logging is on, the engine calls :meth:`TransactionLog.record` once per
period ``t`` with, for every customer active in that period's money phase
(in customer-index order), its firm code, the period its current
relationship began, its sales (the same values added to
``customers.revenue_to_date`` and summed into the ledger's ``revenue``) and
its CLV increment (the same values added to ``customers.clv``: discounted
profit minus what the firm's policies spent on it plus referral value, in
the engine's dtype). When logging is off nothing is recorded and the run is
bit-identical.

Every active customer buys every period: revenue is ``spend x price x
wallet_share(stage)`` (:func:`sim.rules.revenue`) with no purchase draw, so
the log holds one row per active customer-period. This is the contractual,
discrete-time setting (a purchase each period until the relationship ends),
where the shifted-beta-geometric (sBG) model of Fader & Hardie applies; a
model for non-contractual purchasing such as BG/NBD sees perfectly regular
buyers. An amount is 0 only if a scenario sets a stage's wallet share to 0.
"""

import numpy as np
import pandas as pd

TRANSACTION_COLUMNS = ("period", "customer", "firm", "acquired_period", "revenue",
                       "clv_increment")
"""Columns of :meth:`TransactionLog.frame`."""

_DTYPES = (np.int16, np.int32, np.int8, np.int16, np.float32, np.float32)


class TransactionLog:
    """Per-period chunks of the engine's per-customer sales and CLV increments.

    Chunks are kept as numpy arrays and concatenated only when the frame is
    asked for, so recording costs a few array copies per period.
    """

    def __init__(self):
        self._chunks: list[tuple[np.ndarray, ...]] = []

    def __len__(self) -> int:
        return sum(chunk[1].size for chunk in self._chunks)

    def record(self, period: int, customers, firm, acquired_period, revenue,
               clv_increment) -> None:
        """Keep one period's purchases (arrays of equal length, one entry per active customer).

        Args:
            period: the period ``t`` (1 for the first step).
            customers: indices of the active customers, increasing.
            firm: each one's firm code (index into the model's firms).
            acquired_period: the period its current relationship began.
            revenue: its sales this period, as added to ``revenue_to_date``.
            clv_increment: its CLV increment this period, as added to ``clv``.
        """
        ids = np.asarray(customers, dtype=np.int32)
        self._chunks.append((
            np.full(ids.size, period, dtype=np.int16), ids,
            np.array(firm, dtype=np.int8), np.array(acquired_period, dtype=np.int16),
            np.array(revenue), np.array(clv_increment),
        ))

    def frame(self, firm_names) -> pd.DataFrame:
        """The log as a frame: one row per purchase, by period then customer.

        Args:
            firm_names: the firms' names in model order (firm codes index them).

        Returns:
            Columns :data:`TRANSACTION_COLUMNS`; ``firm`` is categorical with
            the firms in model order, ``revenue`` and ``clv_increment`` keep
            the engine's dtype (float32), so that they add up exactly as the
            engine's accumulators do.
        """
        if self._chunks:
            columns = [np.concatenate(parts) for parts in zip(*self._chunks, strict=True)]
        else:
            columns = [np.empty(0, dtype=dtype) for dtype in _DTYPES]
        data = dict(zip(TRANSACTION_COLUMNS, columns, strict=True))
        data["firm"] = pd.Categorical.from_codes(data["firm"], list(firm_names))
        return pd.DataFrame(data)
