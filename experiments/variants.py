"""Scenario variants for the stylized facts: counterfactual folders and fact 7's aimed lever.

``python run.py facts`` (:mod:`cli.main`) runs a scenario and variants of it,
each into its own results folder: :func:`variant_scenario` changes values of
every sweep point while keeping its seeds (common random numbers),
:func:`lever_scenarios` gives each firm a folder with only its
``churn_factor`` set, and :func:`aim_churn_factors` aims each firm's ``k``
by pilot runs (the facts themselves are :mod:`analysis.facts`).
"""

import dataclasses
import math
from pathlib import Path

import pandas as pd

from analysis import facts
from sim.config import Config
from store.files import claim, write_text

from .scenario import Problem, Scenario, ScenarioError


def variant_scenario(
    scenario: Scenario,
    name: str,
    factors: dict[str, float] | None = None,
    values: dict[int, dict[str, float]] | None = None,
) -> Scenario:
    """``scenario`` with some values of each sweep point's configuration changed.

    ``factors`` (dotted path -> factor) multiplies each point's value at the
    path; ``values`` (point index -> {dotted path -> value}) sets a value at
    one point. The points keep their swept values, so their runs keep their
    seeds: a variant's run is paired with the scenario's run of the same point
    and replication (common random numbers).

    Raises:
        ScenarioError: a changed value is out of its allowed range.
    """
    factors, values = factors or {}, values or {}
    points, problems = [], []
    for point in scenario.points:
        raw = point.config.model_dump(mode="json")
        changes = {
            **{path: ("x", factor) for path, factor in factors.items()},
            **{path: ("=", value) for path, value in values.get(point.index, {}).items()},
        }
        for path, (how, number) in changes.items():
            *parents, leaf = path.split(".")
            node = raw
            for part in parents:
                node = node[int(part)] if isinstance(node, list) else node[part]
            node[leaf] = node[leaf] * number if how == "x" else number
        try:
            config = Config.model_validate(raw)
        except ValueError as error:
            changed = ", ".join(
                f"{path} {'x' if how == 'x' else '= '}{number:g}"
                for path, (how, number) in changes.items()
            )
            problems.append(
                Problem(
                    str(scenario.source),
                    None,
                    name,
                    f"variant {name} ({changed}) is invalid at point {point.values or 0}: {error}",
                )
            )
            continue
        points.append(dataclasses.replace(point, config=config))
    if problems:
        raise ScenarioError(problems)
    return dataclasses.replace(scenario, name=f"{scenario.name}-{name}", points=tuple(points))


def lever_scenarios(scenario: Scenario, factors=None) -> dict[str, Scenario]:
    """Fact 7: per firm, ``scenario`` with only that firm's ``churn_factor`` set.

    ``factors`` has columns ``point``, ``firm`` and ``k`` (as
    :func:`aim_churn_factors` returns): the firm's ``k`` at each sweep point
    (1, no lever, at a point it does not list, or everywhere if None). Keyed
    by the folder name (:func:`analysis.facts.lever_folder`).
    """
    rows = [] if factors is None else factors.itertuples()
    k = {(int(row.point), str(row.firm)): float(row.k) for row in rows}
    variants = {}
    for index, firm in enumerate(scenario.points[0].config.firms):
        name = facts.lever_folder(firm.name)
        values = {
            point.index: {f"firms.{index}.churn_factor": k.get((point.index, firm.name), 1.0)}
            for point in scenario.points
        }
        variants[name] = variant_scenario(scenario, name, values=values)
    return variants


AIM_COLUMNS = (
    "point",
    "firm",
    "strategy",
    "setting",
    "pilot",
    "k",
    "runs",
    "churn",
    "base_churn",
    "ratio",
    "hit",
    "chosen",
)
"""Columns of ``pilots/aims.csv``: one row per pilot of a firm at a sweep point."""


def aim_churn_factors(scenario: Scenario, folder: Path, run, say):
    """Fact 7: each firm's ``churn_factor`` per sweep point, aimed by pilot runs.

    Needs ``folder/base`` to have run. Per firm, each pilot is a lever folder
    ``folder/pilots/<lever folder>-<i>`` holding the sweep points still
    aimed at, with ``min(PILOT_REPLICATIONS, replications)`` replications
    (their seeds are those of base's first replications, so the pilot's annual
    churn is compared with base's on the same seeds). A point starts at the
    formula's ``k`` (:func:`analysis.facts.churn_factors` on those
    replications) and takes :func:`analysis.facts.next_churn_factor` of its
    ``(k, churn)`` points after each pilot, until the pilot's churn ratio to
    base is within ``CHURN_TARGET +- CHURN_TOLERANCE`` or
    ``PILOT_ITERATIONS`` pilots ran (then the closest pilot's ``k``,
    :func:`analysis.facts.closest_churn_factor`). A point whose life exits
    alone exceed half the churn in base (``clipped``) or without churn gets
    the formula's ``k`` without pilots. ``run(target, scenario, name)`` runs
    one results folder.

    Returns:
        ``(factors, aims)``: ``factors`` the columns of
        :func:`analysis.facts.churn_factors` with the aimed ``k`` plus
        ``pilots`` (how many ran) and ``pilot_ratio`` (the chosen pilot's
        churn ratio); ``aims`` one row per pilot (:data:`AIM_COLUMNS`), also
        written to ``folder/pilots/aims.csv``.
    """
    base = folder / facts.BASE
    factors = facts.churn_factors(base)
    size = {
        p.index: min(facts.PILOT_REPLICATIONS, p.config.simulation.replications)
        for p in scenario.points
    }
    pilot = variant_scenario(
        scenario,
        "pilot",
        values={index: {"simulation.replications": n} for index, n in size.items()},
    )
    replications = max(size.values())
    anchors = facts.churn_factors(base, replications=replications).set_index(["point", "firm"])
    firms = [firm.name for firm in scenario.points[0].config.firms]
    factors["pilots"] = 0
    factors["pilot_ratio"] = math.nan
    cells = {}  # (point, firm) -> the search's state
    for i, row in factors.iterrows():
        key = (int(row["point"]), str(row["firm"]))
        if row["clipped"] or not row["churn"] > 0 or key not in anchors.index:
            continue
        end = anchors.loc[key]
        points = [(0.0, float(end["life_churn"])), (1.0, float(end["churn"]))]
        target = facts.CHURN_TARGET * float(end["churn"])
        cells[key] = {
            "row": i,
            "points": points,
            "target": target,
            "pilots": [],
            "k": facts.next_churn_factor(points, target),
        }
    aims = []
    open_cells = dict(cells)
    for iteration in range(1, facts.PILOT_ITERATIONS + 1):
        for index, firm in enumerate(firms):
            mine = {point: cell for (point, f), cell in open_cells.items() if f == firm}
            if not mine:
                continue
            name = f"{facts.lever_folder(firm)}-{iteration}"
            points = tuple(p for p in pilot.points if p.index in mine)
            each = variant_scenario(
                dataclasses.replace(pilot, points=points),
                name,
                values={
                    point: {f"firms.{index}.churn_factor": cell["k"]}
                    for point, cell in mine.items()
                },
            )
            target = claim(folder / facts.PILOTS) / name  # crm-sim's folder of pilot folders
            run(target, each, f"{facts.PILOTS}/{name}")
            measured = facts.lever_churn(base, target, firm).set_index("point")
            said = []
            for point, cell in mine.items():
                k = cell["k"]
                found = point in measured.index and not pd.isna(measured.loc[point, "churn"])
                churn = float(measured.loc[point, "churn"]) if found else math.nan
                ratio = float(measured.loc[point, "ratio"]) if found else math.nan
                hit = found and abs(ratio - facts.CHURN_TARGET) <= facts.CHURN_TOLERANCE
                row = factors.loc[cell["row"]]
                aims.append(
                    {
                        "point": point,
                        "firm": firm,
                        "strategy": row["strategy"],
                        "setting": row["setting"],
                        "pilot": iteration,
                        "k": k,
                        "runs": int(measured.loc[point, "runs"]) if found else 0,
                        "churn": churn,
                        "base_churn": float(measured.loc[point, "base_churn"])
                        if found
                        else math.nan,
                        "ratio": ratio,
                        "hit": hit,
                        "chosen": False,
                    }
                )
                said.append(f"{row['setting']} k {k:.3f} -> {ratio:.2f}")
                if found:
                    cell["points"].append((k, churn))
                    cell["pilots"].append((k, churn, ratio))
                proposed = facts.next_churn_factor(cell["points"], cell["target"])
                if hit or not found or abs(proposed - k) < 1e-3:
                    del open_cells[(point, firm)]  # aimed, failed, or no better k to try
                else:
                    cell["k"] = proposed
            say(
                f"fact 7 pilot {iteration}, firm {firm} (annual churn lever/base, aim "
                f"{facts.CHURN_TARGET:.2f} +- {facts.CHURN_TOLERANCE:.2f}): " + ", ".join(said)
            )
        if not open_cells:
            break
    for (point, firm), cell in cells.items():
        i = cell["row"]
        factors.loc[i, "pilots"] = len(cell["pilots"])
        if not cell["pilots"]:
            continue  # every pilot run failed: the formula's k
        k, churn = facts.closest_churn_factor(
            [(k, c) for k, c, _ in cell["pilots"]], cell["target"]
        )
        factors.loc[i, "k"] = k
        factors.loc[i, "pilot_ratio"] = next(
            r for kk, c, r in cell["pilots"] if kk == k and c == churn
        )
        for aim in reversed(aims):
            if aim["point"] == point and aim["firm"] == firm and aim["k"] == k:
                aim["chosen"] = True
                break
    aims = pd.DataFrame(aims, columns=list(AIM_COLUMNS))
    write_text(claim(folder / facts.PILOTS) / "aims.csv", aims.to_csv(index=False))
    return factors, aims
