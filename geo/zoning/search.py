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

__all__ = ["DEV_WEIGHT", "balance", "improve", "total_violation", "chain_moves"]

CHAIN_DEPTH = 4  # grids a chain of moves may run through
CHAIN_BRANCH = 6  # units tried at each step of a chain
DEV_WEIGHT = 0.5  # weight of the squared deviation from the target in the balance cost


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


def balance(p: Partition, target: int, *, dev_weight: float = DEV_WEIGHT, move_weight: float = 0.0,
            max_sweeps: int = 60) -> int:
    """Move boundary units until no move, nor chain of moves, lowers the balance cost; returns the moves made.

    Single moves first (:func:`_greedy`); while grids stay out of band, chains of moves through
    neighbouring grids (:func:`chain_moves`): a grid over the band pushes a unit to a neighbour,
    which pushes one on if that put it over, and so on (pulls likewise for a grid under the band).
    """
    moves = _greedy(p, target, dev_weight=dev_weight, move_weight=move_weight, max_sweeps=max_sweeps)
    for _ in range(max_sweeps):
        if total_violation(p) == 0:
            break
        made = chain_moves(p, target, dev_weight=dev_weight, move_weight=move_weight)
        if not made:
            break
        moves += made + _greedy(p, target, dev_weight=dev_weight, move_weight=move_weight, max_sweeps=max_sweeps)
    return moves


def _move_delta(p: Partition, u: int, A: int, B: int, lo, hi, target, dev_weight, move_weight) -> float:
    h = p.unit_households[u]
    hA, hB = p.grid_households[A], p.grid_households[B]
    d = (_f(hA - h, lo, hi, target, dev_weight) - _f(hA, lo, hi, target, dev_weight)
         + _f(hB + h, lo, hi, target, dev_weight) - _f(hB, lo, hi, target, dev_weight))
    if move_weight:
        home = p.home[u]
        d += move_weight * h * (int(home == A) - int(home == B))
    return float(d)


def _border(p: Partition, g: int, other: int | None = None) -> list[tuple[int, int]]:
    """(unit of ``g``, neighbouring grid) pairs, unlocked neighbours only (or only ``other``)."""
    nb = p.graph.lists()[0]
    a = p.grid_of
    out = set()
    for u in p.members(g).tolist():
        if p.unit_households[u] == 0:
            continue
        for v in nb[u]:
            gv = a[v]
            if gv != g and gv not in p.locked and (other is None or gv == other):
                out.add((u, gv))
    return sorted(out)


def _best_chain(p, g, push, depth, seen, lo, hi, target, dw, mw):
    """Best chain starting at grid ``g``: push a unit out of it (or pull one in). (delta, moves)."""
    best = (0.0, [])
    if push:
        cands = [(u, B) for u, B in _border(p, g) if B not in seen]
        scored = [(_move_delta(p, u, g, B, lo, hi, target, dw, mw), u, g, B) for u, B in cands]
    else:
        nbs = {B for _, B in _border(p, g)} - seen
        scored = []
        for B in nbs:
            for u, _ in _border(p, B, other=g):
                scored.append((_move_delta(p, u, B, g, lo, hi, target, dw, mw), u, B, g))
    scored.sort()
    tried = 0
    for d1, u, A, B in scored:
        if tried >= CHAIN_BRANCH:
            break
        if not p.can_leave(u):
            continue
        tried += 1
        p.apply(u, B)
        cand = (d1, [(u, A, B)])
        nxt = B if push else A
        if depth > 1 and p.violation(nxt) > 0:
            d2, rest = _best_chain(p, nxt, push, depth - 1, seen | {nxt}, lo, hi, target, dw, mw)
            if rest and d1 + d2 < cand[0]:
                cand = (d1 + d2, [(u, A, B)] + rest)
        p.apply(u, A)
        if cand[0] < best[0] - 1e-9:
            best = cand
    return best


def chain_moves(p: Partition, target: int, *, dev_weight: float = DEV_WEIGHT, move_weight: float = 0.0,
                depth: int = CHAIN_DEPTH) -> int:
    """For each grid out of band, the best improving chain of moves; returns the moves made."""
    lo, hi = p.bounds
    made = 0
    for g in range(len(p.labels)):
        if g in p.locked or p.violation(g) == 0:
            continue
        push = p.grid_households[g] > hi
        d, moves = _best_chain(p, g, push, depth, {g}, lo, hi, target, dev_weight, move_weight)
        if moves and d < -1e-9:
            for u, A, B in moves:
                p.apply(u, B)
            made += len(moves)
    return made


def _greedy(p: Partition, target: int, *, dev_weight: float = DEV_WEIGHT, move_weight: float = 0.0,
            max_sweeps: int = 60) -> int:
    """Best-first single moves, sweep after sweep, while they lower the balance cost."""
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
            AA = p.grid_of[uu]
            if AA == BB or not p.touches(uu, BB):
                continue
            hu = int(hh_u[uu])
            hA, hB = p.grid_households[AA], p.grid_households[BB]
            dd = (_f(hA - hu, lo, hi, target, dev_weight) - _f(hA, lo, hi, target, dev_weight)
                  + _f(hB + hu, lo, hi, target, dev_weight) - _f(hB, lo, hi, target, dev_weight))
            if move_weight:
                dd += move_weight * hu * (int(home[uu] == AA) - int(home[uu] == BB))
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
    area_u, perim_u = p.unit_area_m2, p.unit_perimeter_m
    home = p.home.tolist()
    moves = 0
    for _ in range(max_sweeps):
        u, B = _candidates(p)
        scored = []
        for uu, BB in zip(u.tolist(), B.tolist()):
            AA = p.grid_of[uu]
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
            AA = p.grid_of[uu]
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
    hA, hB = p.grid_households[A], p.grid_households[B]
    vA = max(0, lo - hA) + max(0, hA - hi)
    vB = max(0, lo - hB) + max(0, hB - hi)
    nA, nB = hA - h, hB + h
    v2 = max(0, lo - nA) + max(0, nA - hi) + max(0, lo - nB) + max(0, nB - hi)
    if v2 > vA + vB or (vA == 0 and (nA < lo or nA > hi)) or (vB == 0 and (nB < lo or nB > hi)):
        return math.inf
    sA, stA, sB, stB, tot, tot_st = p.shares(u, A, B)
    before = (_shape(p, A, p.grid_area_m2[A], p.grid_perimeter_m[A], p.grid_boundary_m[A], p.grid_boundary_street_m[A], wc, ws)
              + _shape(p, B, p.grid_area_m2[B], p.grid_perimeter_m[B], p.grid_boundary_m[B], p.grid_boundary_street_m[B], wc, ws))
    after = (_shape(p, A, p.grid_area_m2[A] - au, p.grid_perimeter_m[A] + 2 * sA - pu, p.grid_boundary_m[A] + 2 * sA - tot,
                    p.grid_boundary_street_m[A] + 2 * stA - tot_st, wc, ws)
             + _shape(p, B, p.grid_area_m2[B] + au, p.grid_perimeter_m[B] + pu - 2 * sB, p.grid_boundary_m[B] + tot - 2 * sB,
                      p.grid_boundary_street_m[B] + tot_st - 2 * stB, wc, ws))
    return after - before
