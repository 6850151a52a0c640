"""The strategy x setting table of a results folder, and the confidence intervals of means.

:func:`mean_ci` (Student t) is the interval every table, report section and
fact uses; :func:`strategy_setting_table` is the main table of ``summary.md``,
the terminal and the report (definitions of the outcomes: :mod:`analysis.metrics`).
"""

import functools
import re
import unicodedata

import numpy as np
import pandas as pd

import i18n
from i18n import N_, _
from sim.settings import SETTINGS
from sim.strategies import STRATEGIES

TABLE_OUTCOMES = (
    ("retention_rate", N_("monthly retention")),
    ("annual_retention", N_("annual retention")),
    ("expected_lifetime", N_("lifetime (years)")),
    ("customer_equity", N_("customer equity")),
)
"""Outcomes of the strategy x setting table: column and label (definitions: analysis.metrics).

The labels are English; the tables show them in the language in force (``_(label)``).
"""
KEY_NAMES = {"strategy": N_("strategy"), "setting": N_("setting")}
"""The table's key columns as it names them (a swept path keeps its own name)."""
_DIGITS = {"retention_rate": 4, "annual_retention": 3, "expected_lifetime": 1}
"""Decimals of the table's outcomes (money: none)."""


# scipy.special, not scipy.stats: the same functions (scipy.stats.t calls them) at a
# fraction of the import time, which every report pays
@functools.lru_cache(maxsize=256)  # a report asks for the same few hundreds of times
def t_quantile(degrees_of_freedom: int, level: float = 0.95) -> float:
    """Two-sided Student-t quantile, e.g. 2.093 for 19 degrees of freedom at 95%."""
    from scipy import special

    return float(special.stdtrit(degrees_of_freedom, 0.5 + level / 2.0))


def t_test_p_value(values) -> float:
    """Two-sided p-value of the one-sample t-test that the mean of ``values`` is 0.

    As ``scipy.stats.ttest_1samp(values, 0).pvalue``: ``t = mean / (s / sqrt(n))``
    with ``n - 1`` degrees of freedom. Needs at least two values with some spread.
    """
    from scipy import special

    values = np.asarray(values, dtype=float)
    n = values.size
    t = values.mean() / np.sqrt(values.var(ddof=1) / n)
    return float(2.0 * special.stdtr(n - 1, -abs(t)))


def mean_ci(values, level: float = 0.95) -> tuple[int, float, float, float]:
    """``(n, mean, low, high)``: the t-interval of the mean over non-missing values.

    In numpy (a report asks for hundreds of them; a pandas Series' ``mean`` and
    ``std`` cost a millisecond each in overhead), with the same arithmetic. An
    infinite value (an expected lifetime where a run lost no customer in a
    year) makes the mean infinite and leaves no interval.
    """
    values = np.asarray(values, dtype=float)
    values = values[~np.isnan(values)]
    n = values.size
    if n == 0:
        return 0, np.nan, np.nan, np.nan
    mean = float(values.mean())
    if n == 1 or not np.isfinite(mean):  # one value, or an infinite one: no spread to speak of
        return n, mean, np.nan, np.nan
    half = t_quantile(n - 1, level) * float(values.std(ddof=1)) / np.sqrt(n)
    return n, mean, mean - half, mean + half


def grouping_paths(sweep_paths) -> list[str]:
    """Swept paths that split the table further (those that set strategy or setting do not)."""
    return [
        p
        for p in sweep_paths
        if p != "market.setting" and not re.fullmatch(r"firms\.\d+\.strategy", p)
    ]


def _registry_order(values: pd.Series, registry) -> pd.Series:
    order = {name: i for i, name in enumerate(registry)}
    return values.map(lambda v: order.get(v, len(order)))


def strategy_setting_table(runs: pd.DataFrame, sweep_paths=()) -> pd.DataFrame:
    """Mean and 95% CI over replications of retention and customer equity.

    Rows are (strategy, setting) and any other swept parameter. Within one run
    the firms that share a strategy are averaged first, so each run counts once.

    Returns:
        Columns ``strategy``, ``setting``, the other swept paths, ``runs``, and
        for each outcome ``<outcome>``, ``<outcome>_low``, ``<outcome>_high``.
    """
    keys = ["strategy", "setting", *grouping_paths(sweep_paths)]
    outcomes = [name for name, _ in TABLE_OUTCOMES if name in runs.columns]
    per_run = runs.groupby([*keys, "run_id"], sort=False, dropna=False)[outcomes].mean()
    rows = []
    for group, frame in per_run.groupby(level=keys, sort=False, dropna=False):
        row = dict(zip(keys, group, strict=True))
        row["runs"] = len(frame)
        for name in outcomes:
            _n, row[name], row[f"{name}_low"], row[f"{name}_high"] = mean_ci(frame[name])
        rows.append(row)
    table = pd.DataFrame(rows)
    table = table.sort_values(
        ["strategy", "setting"],
        kind="stable",
        key=lambda c: _registry_order(c, STRATEGIES if c.name == "strategy" else SETTINGS),
    )
    return table.reset_index(drop=True)


def _number(value: float, digits: int) -> str:
    """A number with thousands groups, in the language in force's symbols (CLDR, Babel).

    Missing or infinite values are "n/a", as in the report (an expected
    lifetime where no customer was lost in a year is not a number of years).
    """
    if pd.isna(value) or not np.isfinite(value):
        return "n/a"
    return i18n.localize(f"{value:,.{digits}f}")


def _cells(table: pd.DataFrame) -> tuple[list[str], list[list[str]], int]:
    """Header and rows in the language in force, and how many key columns lead them.

    Labels and the key columns' values (strategies and settings: course terms)
    are translated once per table, not per cell.
    """
    outcome_columns = {f"{n}{s}" for n, _label in TABLE_OUTCOMES for s in ("", "_low", "_high")}
    keys = [c for c in table.columns if c not in ("runs", *outcome_columns)]
    header = [*(_(KEY_NAMES[k]) if k in KEY_NAMES else k for k in keys), _("runs")]
    shown = [(name, label) for name, label in TABLE_OUTCOMES if name in table.columns]
    interval_name = _("95% CI")
    for _name, label in shown:
        header += [_(label), interval_name]
    names = {v: _(v) for k in keys if k in KEY_NAMES for v in map(str, table[k].unique())}
    rows = []
    for _i, row in table.iterrows():
        cells = [names.get(str(row[k]), str(row[k])) for k in keys] + [str(row["runs"])]
        for name, _label in shown:
            digits = _DIGITS.get(name, 0)
            low, high = row[f"{name}_low"], row[f"{name}_high"]
            interval = (
                "n/a" if pd.isna(low) else f"[{_number(low, digits)}, {_number(high, digits)}]"
            )
            cells += [_number(row[name], digits), interval]
        rows.append(cells)
    return header, rows, len(keys)


def display_width(text: str) -> int:
    """Columns ``text`` takes in a terminal: a wide (CJK) character takes two."""
    if text.isascii():
        return len(text)
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def format_table(table: pd.DataFrame) -> str:
    """The table as aligned text for the terminal (in the language in force)."""
    header, rows, keys = _cells(table)
    widths = [max(display_width(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells):
        padded = []
        for i, (c, w) in enumerate(zip(cells, widths, strict=True)):
            pad = " " * (w - display_width(c))
            padded.append(c + pad if i < keys else pad + c)  # keys left, numbers right
        return "  ".join(padded).rstrip()

    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows)])


def markdown_table(table: pd.DataFrame) -> str:
    """The table as a Markdown table."""
    header, rows, _keys = _cells(table)
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] * len(header)) + "|"]
    lines += ["| " + " | ".join(cells) + " |" for cells in rows]
    return "\n".join(lines)
