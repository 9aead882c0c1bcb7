"""Auto-balance a draft: redraw the units of its free grids with the engine, keeping the rest."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from geo.zoning.params import ZoningParams
from geo.zoning.partition import Partition
from geo.zoning.solve.community import solve_units
from geo.zoning.solve.plan import CommunityPlan

__all__ = ["rebalance"]


def rebalance(p: Partition, params: ZoningParams = ZoningParams(), *, code: str = "",
              grids=None) -> CommunityPlan:
    """Auto-balance a draft: redraw the units of its free grids with the engine, keeping the rest.

    The draft's own grids play the current grids (:func:`~geo.zoning.solve.community.solve_units`
    with ``current`` = the draft): its locked grids (``p.locked``) and, when ``grids`` is given,
    every grid not named there stay exactly as they are; the units of the others are redrawn into
    balanced grids (their count derived from their households), which keep the labels of the draft
    grids they overlap most.  The households moved still count against the published grids
    (``p.home``).

    Parameters
    ----------
    p : Partition
        The draft (one community; metric CRS).
    params : ZoningParams
        Target, band, weights (its ``locked``, ``stay_close`` and ``n_grids`` are not used).
    code : str
        Community code (labels of grids beyond the draft's).
    grids : iterable of str, optional
        Labels of the grids to rebalance (default: every unlocked grid).

    Returns
    -------
    CommunityPlan
        Its partition's ``home`` is the draft's (published grids), by label.
    """
    chosen = set(p.labels) if grids is None else set(grids)
    unknown = chosen - set(p.labels)
    if unknown:
        raise ValueError(f"no grid {sorted(unknown)[0]!r} in this draft")
    keep = {p.labels[g] for g in p.locked} | (set(p.labels) - chosen)
    run = replace(params, locked=tuple(sorted(keep)), stay_close=False, n_grids=None)
    home_label = [p.labels[h] if h >= 0 else None for h in p.home.tolist()]
    home_gone = p.home < -1  # a published grid the draft no longer has (stored by code, not by index)
    plan = solve_units(p.units, run, code=code, current=(list(p.labels), p.polygons(lonlat=False)), graph=p.graph)
    q = plan.partition
    index = {lab: i for i, lab in enumerate(q.labels)}
    home = np.array([-2 if gone else (-1 if h is None else index.get(h, -2))
                     for h, gone in zip(home_label, home_gone.tolist())], dtype=np.int64)
    plan.partition = Partition(p.units, q.assignment, q.labels, q.bounds,
                               locked=[lab for lab in q.labels if lab in {p.labels[g] for g in p.locked}],
                               graph=p.graph, home=home)
    return plan
