"""The first assignment of a redraw: how many grids, and which grid each free unit starts in.

:func:`grid_count` picks the count; :func:`seed_parts` cuts the free units into that many parts
(METIS on the unit graph, or recursive household bisection); :func:`fill_unassigned` gives units
left without a grid the grid they share the longest boundary with.  Lengths in metres (the units'
metric CRS).
"""

from __future__ import annotations

import math

import numpy as np

from geo.zoning.bisect import bisect_households
from geo.zoning.graph import UnitGraph
from geo.zoning.params import ZoningParams
from geo.zoning.units import Units

__all__ = ["grid_count", "seed_parts", "fill_unassigned"]


def grid_count(households: int, params: ZoningParams) -> tuple[int, bool]:
    """Grids for ``households`` and whether that count can put every grid in band.

    ``round(households / target)`` (at least 1), clamped into ``[ceil(h / max), floor(h / min)]``
    when that range is not empty.
    """
    lo, hi = params.bounds
    k0 = max(1, round(households / params.target_households))
    kmin = max(1, math.ceil(households / hi)) if hi > 0 else 1
    kmax = households // lo if lo > 0 else max(k0, kmin)
    if kmin <= kmax:
        return int(min(max(k0, kmin), kmax)), True
    return int(k0), False


def seed_parts(units: Units, graph: UnitGraph, free: np.ndarray, k: int, params: ZoningParams, method: str,
          seed: int, area_m) -> np.ndarray:
    """Part (0..k-1) of each unit in ``free`` (indices)."""
    if k <= 1 or len(free) <= 1:
        return np.zeros(len(free), np.int64)
    k = min(k, len(free))
    hh = units.households[free]
    if method == "metis":
        import pymetis
        w = graph.edge_weights(params.street_cost, params.block_cost)
        m = graph.matrix(w)[free][:, free].tocsr()
        m.sort_indices()
        xadj, adjncy = m.indptr.astype(np.int64), m.indices.astype(np.int64)
        ew = np.maximum(1, np.round(m.data)).astype(np.int64)
        vw = (hh * 10 + 1).astype(np.int64)  # a unit without households weighs a tenth of one
        opts = pymetis.Options(seed=int(seed), ufactor=20, niter=20)
        try:
            _, parts = pymetis.part_graph(k, pymetis.CSRAdjacency(xadj, adjncy), vweights=vw, eweights=ew,
                                          options=opts)
        except Exception:  # noqa: BLE001 - METIS refuses some degenerate graphs: fall back to bisection
            return seed_parts(units, graph, free, k, params, "bisect", seed, area_m)
        return np.asarray(parts, dtype=np.int64)
    xy = units.xy[free]
    if seed:  # a restart: turn the points so that the cuts fall differently
        ang = (seed * 0.61803398875 % 1) * math.pi
        c, s = math.cos(ang), math.sin(ang)
        xy = np.column_stack([c * xy[:, 0] - s * xy[:, 1], s * xy[:, 0] + c * xy[:, 1]])
        area_m = None
    return bisect_households(xy[:, 0], xy[:, 1], hh + 0.1, k, polygon=area_m).labels


def fill_unassigned(assign: np.ndarray, graph: UnitGraph) -> np.ndarray:
    """Units without a grid (-1) take the grid they share the longest boundary with, spreading outwards."""
    a = assign.copy()
    nb, sh, _ = graph.lists()
    todo = set(np.flatnonzero(a < 0).tolist())
    while todo:
        done = {}
        for u in todo:
            best = {}
            for v, s in zip(nb[u], sh[u]):
                if a[v] >= 0:
                    best[a[v]] = best.get(a[v], 0.0) + s
            if best:
                done[u] = max(best, key=lambda g: (best[g], -g))
        if not done:
            break
        for u, g in done.items():
            a[u] = g
        todo -= set(done)
    return a
