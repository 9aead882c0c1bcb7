"""Repairs between the seed and the search: every grid one piece, and the number of grids wanted.

:func:`repair` joins each detached fragment of a grid to the adjacent grid that best keeps the
balance (islands with no adjacent free grid become grids of their own or are recorded);
:func:`fix_count` splits the fullest or merges the emptiest grids until the count is right.
"""

from __future__ import annotations

import math

import numpy as np

from geo.zoning.bisect import bisect_households
from geo.zoning.partition import Partition
from geo.zoning.search import DEV_WEIGHT

__all__ = ["repair", "fix_count"]


def _cost(h, p: Partition, target: int) -> float:
    lo, hi = p.bounds
    return max(0, lo - h) + max(0, h - hi) + DEV_WEIGHT * (h - target) ** 2 / target


def repair(p: Partition, target: int, islands: set) -> None:
    """Make every unlocked grid one piece: fragments join the adjacent grid that best keeps the balance.

    A fragment with no adjacent unlocked grid is an island: it becomes a grid of its own when it
    holds at least the band's minimum, otherwise it joins the nearest grid (left in two pieces) and is
    recorded in ``islands``.
    """
    hh_u = p.units.households
    nb, sh, _ = p.graph.lists()
    xy = None
    lo, _hi = p.bounds
    for _ in range(50):
        frags = []
        for g in range(len(p.labels)):
            if g in p.locked or p.grid_units[g] == 0:
                continue
            pcs = p.pieces(g)
            if len(pcs) > 1:
                pcs.sort(key=lambda c: (int(hh_u[c].sum()), len(c)), reverse=True)
                frags += [(g, c) for c in pcs[1:] if not (islands & set(c))]
        if not frags:
            return
        frags.sort(key=lambda gc: (int(hh_u[gc[1]].sum()), len(gc[1])))
        moved = False
        for g, comp in frags:
            if any(p.grid_of[u] != g for u in comp):
                continue
            cs = set(comp)
            touch: dict[int, float] = {}
            for u in comp:
                for v, s in zip(nb[u], sh[u]):
                    gv = p.grid_of[v]
                    if v not in cs and gv != g and gv not in p.locked:
                        touch[gv] = touch.get(gv, 0.0) + s
            h = int(hh_u[comp].sum())
            if not touch:
                if h >= lo and lo > 0:
                    B = p.add_grid(f"__new{len(p.labels)}")
                else:
                    if xy is None:
                        xy = p.units.xy
                    free_g = [b for b in range(len(p.labels)) if b != g and b not in p.locked and p.grid_units[b] > 0]
                    if not free_g:
                        islands.update(comp)
                        continue
                    a = p.assignment
                    c = xy[comp].mean(axis=0)
                    best, B = math.inf, free_g[0]
                    for b in free_g:
                        m = a == b
                        d = np.min(np.hypot(xy[m, 0] - c[0], xy[m, 1] - c[1]))
                        if d < best:
                            best, B = d, b
                    islands.update(comp)
                for u in comp:
                    p.apply(u, B)
                moved = True
                continue
            B = min(touch, key=lambda b: (_cost(p.grid_households[b] + h, p, target) - _cost(p.grid_households[b], p, target), -touch[b], b))
            for u in comp:
                p.apply(u, B)
            moved = True
        if not moved:
            return


def _split(p: Partition, g: int, label: str) -> int:
    """Split grid ``g`` in two by household bisection of its units (then repaired by the caller)."""
    m = p.members(g)
    xy = p.units.xy[m]
    lab = bisect_households(xy[:, 0], xy[:, 1], p.units.households[m] + 0.1, 2).labels
    B = p.add_grid(label)
    for u in m[lab == 1].tolist():
        p.apply(u, B)
    return B


def fix_count(p: Partition, k_free: int, target: int, islands: set) -> None:
    """Split the fullest or merge the emptiest unlocked grids until ``k_free`` are not empty."""
    for _ in range(4 * (k_free + len(p.labels)) + 4):
        live = [g for g in range(len(p.labels)) if g not in p.locked and p.grid_units[g] > 0]
        if len(live) < k_free:
            big = max((g for g in live if p.grid_units[g] >= 2), key=lambda g: (p.grid_households[g], p.grid_units[g]), default=None)
            if big is None:
                return
            _split(p, big, f"__new{len(p.labels)}")
            repair(p, target, islands)
        elif len(live) > k_free:
            small = min(live, key=lambda g: (p.grid_households[g], p.grid_units[g], g))
            nb = p.graph.lists()[0]
            touch = {p.grid_of[v] for u in p.members(small).tolist() for v in nb[u]} - {small} - p.locked
            if not touch:
                return
            B = min(touch, key=lambda b: (p.grid_households[b], b))
            for u in p.members(small).tolist():
                p.apply(u, B)
        else:
            return
