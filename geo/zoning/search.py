"""The contiguity-preserving local search: into the band first, then compact and along streets.

Both phases move one boundary unit at a time to a neighbouring grid, never out of or into a locked
grid, never leaving a grid empty or split (:meth:`Partition.can_leave`).  Each sweep scores every
(boundary unit, neighbouring grid) pair at once with numpy, then applies the improving moves best
first, re-scoring each against the partition as it stands.

* :func:`balance` lowers ``sum(violation) + dev_weight * sum((h - target)² / target)
  + move_weight * households moved`` (violation: households outside the band).  The deviation term
  spreads households along chains of grids, so an under-full grid can fill from a far surplus.
* :func:`improve` lowers ``compactness_weight * sum(1 - Polsby-Popper) + street_weight *
  sum(share of the grid's perimeter cut through blocks)`` with no grid leaving the band (or moving
  further from it).  With ``stay_close`` only moves back to a unit's current grid are allowed.
"""

from __future__ import annotations

import math

import numpy as np

from geo.zoning.partition import Partition

__all__ = ["balance", "improve", "total_violation"]


def total_violation(p: Partition) -> int:
    """Households outside the band, summed over the grids."""
    return sum(p.violation(g) for g in range(len(p.labels)))


def _candidates(p: Partition) -> tuple[np.ndarray, np.ndarray]:
    """Unique (unit, neighbouring grid) pairs whose unit and grid may both change."""
    g = p.graph
    a = p.assignment
    rows = np.repeat(np.arange(g.n), np.diff(g.indptr))
    src, dst = a[rows], a[g.indices]
    ok = src != dst
    if p.locked:
        lk = np.zeros(len(p.labels), bool)
        lk[list(p.locked)] = True
        ok &= ~lk[src] & ~lk[dst]
    key = np.unique(rows[ok] * len(p.labels) + dst[ok])
    return key // len(p.labels), key % len(p.labels)


def _f(h, lo, hi, target, dev_weight):
    """Cost of a grid of ``h`` households (numpy or scalar)."""
    return np.maximum(0, lo - h) + np.maximum(0, h - hi) + dev_weight * (h - target) ** 2 / target


def balance(p: Partition, target: int, *, dev_weight: float = 0.5, move_weight: float = 0.0,
            max_sweeps: int = 60) -> int:
    """Move boundary units until no move lowers the balance cost; returns the moves made."""
    lo, hi = p.bounds
    hh_u = p.units.households
    home = p.home
    moves = 0
    for _ in range(max_sweeps):
        u, B = _candidates(p)
        if len(u) == 0:
            break
        hh = p.households
        a = p.assignment
        h = hh_u[u]
        A = a[u]
        d = (_f(hh[A] - h, lo, hi, target, dev_weight) - _f(hh[A], lo, hi, target, dev_weight)
             + _f(hh[B] + h, lo, hi, target, dev_weight) - _f(hh[B], lo, hi, target, dev_weight))
        if move_weight:
            d = d + move_weight * h * ((home[u] == A).astype(float) - (home[u] == B))
        good = (d < -1e-9) & (h > 0)
        order = np.flatnonzero(good)[np.argsort(d[good], kind="stable")]
        done = set()
        made = 0
        for i in order.tolist():
            uu, BB = int(u[i]), int(B[i])
            if uu in done:
                continue
            AA = p._a[uu]
            if AA == BB or not p.touches(uu, BB):
                continue
            hu = int(hh_u[uu])
            hA, hB = p._hh[AA], p._hh[BB]
            dd = (_f(hA - hu, lo, hi, target, dev_weight) - _f(hA, lo, hi, target, dev_weight)
                  + _f(hB + hu, lo, hi, target, dev_weight) - _f(hB, lo, hi, target, dev_weight))
            if move_weight:
                dd += move_weight * hu * ((home[uu] == AA) - (home[uu] == BB))
            if dd >= -1e-9 or not p.can_leave(uu):
                continue
            p.apply(uu, BB)
            done.add(uu)
            made += 1
        moves += made
        if not made:
            break
    return moves


def _shape(p: Partition, g: int, area: float, perim: float, cut: float, cut_st: float, wc: float, ws: float) -> float:
    if perim <= 0:
        return 0.0
    return wc * (1 - 4 * math.pi * area / (perim * perim)) + ws * (cut - cut_st) / perim


def improve(p: Partition, *, compactness_weight: float = 1.0, street_weight: float = 1.0,
            stay_close: bool = False, max_sweeps: int = 20) -> int:
    """Move boundary units while compactness and street alignment improve within the band; returns moves."""
    lo, hi = p.bounds
    wc, ws = compactness_weight, street_weight
    if wc == 0 and ws == 0:
        return 0
    hh_u = p.units.households.tolist()
    area_u, perim_u = p._area_u, p._perim_u
    home = p.home.tolist()
    moves = 0
    for _ in range(max_sweeps):
        u, B = _candidates(p)
        scored = []
        for uu, BB in zip(u.tolist(), B.tolist()):
            AA = p._a[uu]
            if stay_close and home[uu] != BB:
                continue
            d = _delta(p, uu, AA, BB, hh_u[uu], area_u[uu], perim_u[uu], lo, hi, wc, ws)
            if d < -1e-7:
                scored.append((d, uu, BB))
        scored.sort()
        done = set()
        made = 0
        for _, uu, BB in scored:
            if uu in done:
                continue
            AA = p._a[uu]
            if AA == BB or not p.touches(uu, BB):
                continue
            d = _delta(p, uu, AA, BB, hh_u[uu], area_u[uu], perim_u[uu], lo, hi, wc, ws)
            if d >= -1e-7 or not p.can_leave(uu):
                continue
            p.apply(uu, BB)
            done.add(uu)
            made += 1
        moves += made
        if not made:
            break
    return moves


def _delta(p, u, A, B, h, au, pu, lo, hi, wc, ws) -> float:
    """Change of the shape cost if ``u`` moves from ``A`` to ``B`` (inf when the band forbids it)."""
    hA, hB = p._hh[A], p._hh[B]
    vA = max(0, lo - hA) + max(0, hA - hi)
    vB = max(0, lo - hB) + max(0, hB - hi)
    nA, nB = hA - h, hB + h
    v2 = max(0, lo - nA) + max(0, nA - hi) + max(0, lo - nB) + max(0, nB - hi)
    if v2 > vA + vB or (vA == 0 and (nA < lo or nA > hi)) or (vB == 0 and (nB < lo or nB > hi)):
        return math.inf
    sA, stA, sB, stB, tot, tot_st = p.shares(u, A, B)
    before = (_shape(p, A, p._area[A], p._perim[A], p._cut[A], p._cut_st[A], wc, ws)
              + _shape(p, B, p._area[B], p._perim[B], p._cut[B], p._cut_st[B], wc, ws))
    after = (_shape(p, A, p._area[A] - au, p._perim[A] + 2 * sA - pu, p._cut[A] + 2 * sA - tot,
                    p._cut_st[A] + 2 * stA - tot_st, wc, ws)
             + _shape(p, B, p._area[B] + au, p._perim[B] + pu - 2 * sB, p._cut[B] + tot - 2 * sB,
                      p._cut_st[B] + tot_st - 2 * stB, wc, ws))
    return after - before
