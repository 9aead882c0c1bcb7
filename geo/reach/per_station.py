"""Per-station bounded searches: the dwellings within a budget of one station, and catchments.

:class:`DwellingIndex` groups the snapped dwellings by street edge so that a search bounded by the
budget around one station (:func:`station_dwellings`) only looks at the dwellings on the edges it
reached.  Times are seconds.  Part of :mod:`geo.reach` (import from there).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from geo.network import Network, csr_ranges
from geo.reach.result import EPS_S, Reach
from geo.reach.search import point_times, station_node_times
from geo.snap import Snap


class DwellingIndex:
    """Snapped dwellings grouped by edge, for per-station and what-if searches."""

    def __init__(self, net: Network, snap: Snap):
        e = np.where(snap.ok, snap.edge, net.n_edges)
        self.order = np.argsort(e, kind="stable")
        counts = np.bincount(e, minlength=net.n_edges + 1)[: net.n_edges]
        self.ptr = np.concatenate([[0], np.cumsum(counts)])
        self.net = net

    def on_edges(self, edges: np.ndarray) -> np.ndarray:
        """Dwelling indices snapped to any of ``edges``."""
        return self.order[csr_ranges(self.ptr, np.asarray(edges, dtype=np.int64))]

    def near_nodes(self, nodes: np.ndarray, extra_edges: np.ndarray | None = None) -> np.ndarray:
        """Dwellings on edges touching ``nodes`` (and on ``extra_edges``), each once."""
        ptr, edges = self.net.node_edges
        es = edges[csr_ranges(ptr, np.asarray(nodes, dtype=np.int64))]
        if extra_edges is not None:
            es = np.concatenate([es, np.asarray(extra_edges, dtype=np.int64)])
        return self.on_edges(np.unique(es))


def station_dwellings(net: Network, reach: Reach, index: DwellingIndex, j: int, budget_s: float,
                      d: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Dwellings within ``budget_s`` of station ``j`` alone and their times (a bounded search).

    Returns ``(dwelling_indices, seconds)``; network dwellings only.
    """
    st = reach.station_snap
    if not st.ok[j]:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    d = station_node_times(net, st, j, budget_s) if d is None else d
    cand = index.near_nodes(np.flatnonzero(np.isfinite(d)), np.array([st.edge[j]]))
    cand = cand[reach.method[cand] == "network"]
    t, _ = point_times(net, reach.dwelling_snap, d, None, st, np.array([j]), which=cand, fixed=j)
    keep = t <= budget_s + EPS_S
    return cand[keep], t[keep]


def station_catchments(net: Network, reach: Reach, budget_s: float | None = None) -> pd.DataFrame:
    """Per station: households within the budget (``reach_households``), its own catchment
    (``own_households``: those for which it is the nearest) and ``overlap_households`` (within the
    budget of it and of at least one other station).  One bounded search per station.
    """
    b = reach.breaks_s[0] if budget_s is None else float(budget_s)
    index = DwellingIndex(net, reach.dwelling_snap)
    hh = reach.households
    per = []
    count = np.zeros(hh.size, dtype=np.int32)
    for j in range(len(reach.station_ids)):
        idx, _ = station_dwellings(net, reach, index, j, b)
        per.append(idx)
        count[idx] += 1
    covered = reach.covered(b)
    own = np.bincount(reach.nearest[covered & (reach.nearest >= 0)],
                      weights=hh[covered & (reach.nearest >= 0)], minlength=len(reach.station_ids))
    return pd.DataFrame({
        "station": reach.station_ids, "kind": reach.station_kind,
        "snapped": reach.station_snap.ok,
        "reach_households": [int(hh[i].sum()) for i in per],
        "own_households": own.astype(np.int64),
        "overlap_households": [int(hh[i][count[i] > 1].sum()) for i in per],
    })
