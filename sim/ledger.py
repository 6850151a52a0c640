"""Per-period, per-firm bookkeeping in preallocated arrays, returned as tidy frames.

The model writes one row per firm each period into a ``(periods + 1, firms,
columns)`` float array (period 0 is the initial state); :meth:`Ledger.frame`
returns it as a long table with one row per period x firm. Market-wide counts
(prospects, customers out of the market) live in a second, per-period array.
"""

import numpy as np
import pandas as pd

FIRM_COLUMNS = (
    # stock at the end of the period
    "customers",
    "exploration",
    "formation",
    "stability",
    "decline",
    "advocates",
    # retention: customers at the start, and how many of them are still there
    "customers_start",
    "retained",
    "retention",
    # means of the four determinants over the firm's customers (end of period)
    "mean_value",
    "mean_expectation",
    "mean_satisfaction",
    "mean_trust",
    "mean_switching_cost",
    "mean_misfit",
    # purchases and money in this period: contribution = margin x revenue - serve cost;
    # profit = contribution + referral_value - acquisition_cost - policy_cost (cash), where
    # acquisition_cost charges every acquisition (referrals too) at the full cost and
    # referral_value credits the saving; acquisition_spend = acquisition_cost - referral_value
    "occasions",
    "revenue",
    "serve_cost",
    "contribution",
    "acquisition_cost",
    "referral_value",
    "acquisition_spend",
    "policy_cost",
    "cost",
    "profit",
    # the equity ledger: the same terms discounted to period 0 (profit = the sum of the rest)
    "discounted_profit",
    "discounted_contribution",
    "discounted_referral_value",
    "discounted_acquisition_cost",
    "discounted_policy_cost",
    # acquisitions by source
    "acquisitions",
    "acquisitions_spend",
    "acquisitions_referral",
    "acquisitions_rival",
    "acquisitions_win_back",
    # defections by reason, and how many of the defectors were satisfied
    # (life: left the category; satisfied_defectors and exits_from_decline count the others)
    "defections",
    "defections_rival",
    "defections_market",
    "defections_life",
    "exits_from_decline",
    "satisfied_defectors",
    # defections by the stage the relationship was in when it ended
    "defections_exploration",
    "defections_formation",
    "defections_stability",
    "defections_decline",
    # stage moves
    "advances",
    "declines",
    "recoveries",
    # finished relationships by trajectory type, and their realized CLV
    "trajectory_I",
    "trajectory_II",
    "trajectory_III",
    "trajectory_IV",
    "ended_clv",
    # the firm's state and levers
    "reputation",
    "acquisition_rate",
    "relationship_effort",
    "adaptation",
)

MARKET_COLUMNS = ("prospects", "out_of_market", "reentries", "arrivals")

INTEGER_COLUMNS = frozenset(
    (
        "customers",
        "exploration",
        "formation",
        "stability",
        "decline",
        "advocates",
        "customers_start",
        "retained",
        "acquisitions",
        "acquisitions_spend",
        "acquisitions_referral",
        "acquisitions_rival",
        "acquisitions_win_back",
        "defections",
        "defections_rival",
        "defections_market",
        "defections_life",
        "occasions",
        "exits_from_decline",
        "satisfied_defectors",
        "defections_exploration",
        "defections_formation",
        "defections_stability",
        "defections_decline",
        "advances",
        "declines",
        "recoveries",
        "trajectory_I",
        "trajectory_II",
        "trajectory_III",
        "trajectory_IV",
    )
)
"""Count columns, returned as integers."""


MAX_COHORTS = 121
"""Cohort survival keeps at most this many acquisition cohorts (wider ones on long runs)."""


class Ledger:
    """Preallocated per-period records of every firm and of the market.

    Besides the per-firm columns, it keeps cohort survival: for every period,
    firm and acquisition cohort, how many customers acquired in that cohort
    are still with the firm. A cohort is ``cohort_width`` consecutive
    acquisition periods (1 for runs of up to 120 periods).

    With a warm-up of ``warm_up`` periods, the model's clock runs from
    ``-warm_up``: :attr:`cohort_of` takes the model's clock (``0 ..
    warm_up + periods``) and puts every customer acquired in the warm-up in
    cohort 0, with those the firms have at period 0.
    """

    def __init__(self, periods: int, firm_names, strategies, warm_up: int = 0):
        self.firm_names = tuple(firm_names)
        self.strategies = tuple(strategies)
        self.firm = np.zeros((periods + 1, len(self.firm_names), len(FIRM_COLUMNS)))
        self.market = np.zeros((periods + 1, len(MARKET_COLUMNS)))
        self.cohort_width = -(-(periods + 1) // MAX_COHORTS)  # ceil
        n_cohorts = periods // self.cohort_width + 1
        # the cohort of a customer acquired in each period (a look-up is faster than dividing)
        clock = np.arange(warm_up + periods + 1)
        self.cohort_of = np.maximum(clock - warm_up, 0) // self.cohort_width
        self.cohorts = np.zeros((periods + 1, len(self.firm_names), n_cohorts), dtype=np.int32)
        self.column = {name: i for i, name in enumerate(FIRM_COLUMNS)}
        self.last_period = -1

    def write(self, period: int, values: dict, market: dict) -> None:
        """Store one period: ``values`` maps column names to per-firm arrays."""
        row = self.firm[period]
        for name, column in values.items():
            row[:, self.column[name]] = column
        for i, name in enumerate(MARKET_COLUMNS):
            self.market[period, i] = market[name]
        self.last_period = period

    def get(self, name: str, period: int | None = None) -> np.ndarray:
        """One column for every firm, at ``period`` (default: the last written)."""
        period = self.last_period if period is None else period
        return self.firm[period, :, self.column[name]]

    def frame(self) -> pd.DataFrame:
        """One row per period x firm, every column of :data:`FIRM_COLUMNS`."""
        periods = self.last_period + 1
        n_firms = len(self.firm_names)
        data = self.firm[:periods].reshape(periods * n_firms, len(FIRM_COLUMNS))
        frame = pd.DataFrame(data, columns=FIRM_COLUMNS)
        for name in INTEGER_COLUMNS:
            frame[name] = frame[name].round().astype(np.int64)
        frame.insert(0, "period", np.repeat(np.arange(periods), n_firms))
        frame.insert(1, "firm", np.tile(self.firm_names, periods))
        frame.insert(2, "strategy", np.tile(self.strategies, periods))
        return frame

    def write_cohort_counts(self, period: int, counts: np.ndarray) -> None:
        """Store each firm's customers by acquisition cohort (``counts[firm, cohort]``).

        A customer acquired in period ``a`` belongs to cohort ``a // cohort_width``.
        """
        self.cohorts[period] = counts

    def cohort_frame(self) -> pd.DataFrame:
        """Cohort survival: one row per period x firm x cohort acquired by then.

        Columns ``period``, ``firm``, ``strategy``, ``cohort`` (first acquisition
        period of the cohort; 0 holds the customers a firm starts with),
        ``tenure`` (``period - cohort``) and ``active`` (customers of that cohort
        still with the firm at the end of ``period``).
        """
        periods = self.last_period + 1
        n_firms, n_cohorts = self.cohorts.shape[1:]
        period, firm, cohort = np.meshgrid(
            np.arange(periods),
            np.arange(n_firms),
            np.arange(n_cohorts) * self.cohort_width,
            indexing="ij",
        )
        keep = cohort <= period
        frame = pd.DataFrame(
            {
                "period": period[keep],
                "firm": np.asarray(self.firm_names)[firm[keep]],
                "strategy": np.asarray(self.strategies)[firm[keep]],
                "cohort": cohort[keep],
                "tenure": (period - cohort)[keep],
                "active": self.cohorts[:periods][keep],
            }
        )
        return frame.sort_values(["firm", "cohort", "period"], kind="stable", ignore_index=True)

    def market_frame(self) -> pd.DataFrame:
        """One row per period: prospects, customers out of the market, re-entries."""
        periods = self.last_period + 1
        frame = pd.DataFrame(self.market[:periods].round().astype(np.int64), columns=MARKET_COLUMNS)
        frame.insert(0, "period", np.arange(periods))
        return frame
