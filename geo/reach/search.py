"""Shortest-path core of the reach engine: station sources, node times and point times.

A station enters the street graph as a virtual node with arcs to both ends of its snapped edge
(:func:`source_arcs`); :func:`node_times` runs one multi-source ``scipy.sparse.csgraph.dijkstra``
(``min_only``) over the graph so augmented, :func:`station_node_times` one station alone, and
:func:`point_times` turns node times into times of snapped points (dwellings), with direct travel
along an edge shared with a station.  Times are seconds; ``inf`` beyond the search limit.
Part of :mod:`geo.reach` (import from there).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import dijkstra
from scipy.spatial import cKDTree

from geo.network import Network, arc_matrix
from geo.reach.result import EPS_S
from geo.snap import Snap


def edge_part_s(frac: np.ndarray, cost: np.ndarray) -> np.ndarray:
    """Time to travel ``frac`` of an edge costing ``cost`` seconds (0 for no distance, even one way)."""
    with np.errstate(invalid="ignore"):
        return np.where(frac > 0, frac * cost, 0.0)


def source_arcs(net: Network, st: Snap, stations: np.ndarray | None = None):
    """Arcs from a station's virtual position to the two ends of its edge.

    Returns ``(station, node, seconds)`` arrays for the snapped stations (indices into ``st``, or
    ``stations`` when given): reaching ``u`` costs access + ``frac * bw``, ``v`` access + ``(1-frac) * fw``.
    """
    idx = np.flatnonzero(st.ok) if stations is None else np.asarray(stations)
    idx = idx[st.ok[idx]]
    e = st.edge[idx]
    cu = st.access_s[idx] + edge_part_s(st.frac[idx], net.edge_bw[e])
    cv = st.access_s[idx] + edge_part_s(1.0 - st.frac[idx], net.edge_fw[e])
    sid = np.concatenate([idx, idx])
    node = np.concatenate([net.edge_u[e], net.edge_v[e]])
    cost = np.concatenate([cu, cv])
    keep = np.isfinite(cost)
    return sid[keep], node[keep], cost[keep]


def node_times(net: Network, st: Snap, limit_s: float) -> tuple[np.ndarray, np.ndarray]:
    """Multi-source shortest times from the snapped stations to every node.

    Returns
    -------
    time : ndarray (n,)
        Seconds to the nearest station; ``inf`` beyond ``limit_s``.
    nearest : ndarray of int (n,)
        Index (into ``st``) of that station, ``-1`` where none within the limit.
    """
    n, s = net.n_nodes, len(st)
    if not st.ok.any():
        return np.full(n, np.inf), np.full(n, -1, dtype=np.int64)
    sid, node, cost = source_arcs(net, st)
    g = net.graph
    top = sp.csr_matrix((g.data, g.indices, g.indptr), shape=(n, n + s))
    virt = arc_matrix(n + s, sid, node, cost)  # rows 0..s-1 are the stations' virtual nodes
    virt = sp.csr_matrix((virt.data, virt.indices, virt.indptr[: s + 1]), shape=(s, n + s))
    aug = sp.vstack([top, virt], format="csr")
    src = n + np.flatnonzero(st.ok)
    dist, _, sources = dijkstra(aug, directed=True, indices=src, min_only=True, limit=limit_s + EPS_S,
                                return_predecessors=True)
    nearest = np.where(sources[:n] >= 0, sources[:n] - n, -1).astype(np.int64)
    return dist[:n], nearest


def station_node_times(net: Network, st: Snap, j: int, limit_s: float) -> np.ndarray:
    """Shortest times (n,) from station ``j`` alone to every node, ``inf`` beyond ``limit_s``.

    Searches only the nodes that could be reached: those within ``limit_s * max_speed`` metres
    (straight line) of the station's snapped point, since no street is faster than
    :attr:`Network.max_speed` and no path is shorter than the straight line.
    """
    d = np.full(net.n_nodes, np.inf)
    if not st.ok[j]:
        return d
    _, node, cost = source_arcs(net, st, np.array([j]))
    keep = cost <= limit_s + EPS_S
    node, cost = node[keep], cost[keep]
    if node.size == 0:
        return d
    tree, vmax = _node_index(net)
    sub = np.asarray(tree.query_ball_point(st.xy[j], (limit_s + EPS_S) * vmax + 1.0), dtype=np.int64)
    sub = np.union1d(sub, node)
    rows = dijkstra(net.graph[sub][:, sub], directed=True, indices=np.searchsorted(sub, node),
                    limit=limit_s + EPS_S - cost.min())
    t = (rows.reshape(node.size, -1) + cost[:, None]).min(axis=0)
    t[t > limit_s + EPS_S] = np.inf
    d[sub] = t
    return d


def _node_index(net: Network):
    """KD-tree of the nodes and the fastest speed (m/s), cached on ``net``."""
    cached = net.__dict__.get("_node_tree")
    if cached is None:
        cached = net.__dict__["_node_tree"] = (cKDTree(net.node_xy), net.max_speed)
    return cached


def point_times(
    net: Network, pts: Snap, d: np.ndarray, nearest: np.ndarray | None, st: Snap, stations: np.ndarray,
    *, which: np.ndarray | None = None, fixed: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Times of points from node times ``d``, with direct same-edge travel from ``stations``.

    Parameters
    ----------
    pts : Snap
        Snapped points (dwellings).
    d, nearest : ndarray
        Node times and nearest station (or ``None`` with ``fixed`` = the single source).
    st : Snap
        Station snaps; ``stations`` are the indices into it that count for same-edge travel.
    which : ndarray of int, optional
        Evaluate only these points (default all).

    Returns
    -------
    time, station : ndarray
        For ``which`` (or all points): seconds (``inf`` if unreached) and station index (``-1``).
    """
    which = np.arange(len(pts)) if which is None else np.asarray(which)
    ok = pts.ok[which]
    t = np.full(which.size, np.inf)
    who = np.full(which.size, -1, dtype=np.int64)
    w = which[ok]
    e = pts.edge[w]
    f = pts.frac[w]
    u, v = net.edge_u[e], net.edge_v[e]
    tu = d[u] + edge_part_s(f, net.edge_fw[e])
    tv = d[v] + edge_part_s(1.0 - f, net.edge_bw[e])
    use_v = tv < tu
    best = np.where(use_v, tv, tu) + pts.access_s[w]
    if nearest is None:
        src = np.full(w.size, fixed, dtype=np.int64)
    else:
        src = np.where(use_v, nearest[v], nearest[u])
    # direct travel along a shared edge
    stations = np.asarray(stations, dtype=np.int64)
    stations = stations[st.ok[stations]] if stations.size else stations
    if stations.size:
        se = st.edge[stations]
        order = np.argsort(se, kind="stable")
        se, ss = se[order], stations[order]
        lo, hi = np.searchsorted(se, e, "left"), np.searchsorted(se, e, "right")
        cnt = hi - lo
        if cnt.any():
            pi = np.repeat(np.arange(w.size), cnt)
            k = np.repeat(lo - np.cumsum(cnt) + cnt, cnt) + np.arange(int(cnt.sum()))
            sj = ss[k]
            fe = e[pi]
            df = f[pi] - st.frac[sj]
            along = np.where(df >= 0, edge_part_s(df, net.edge_fw[fe]), edge_part_s(-df, net.edge_bw[fe]))
            c = along + st.access_s[sj] + pts.access_s[w][pi]
            o = np.lexsort((c, pi))
            firsts = o[np.r_[True, pi[o][1:] != pi[o][:-1]]]
            better = c[firsts] < best[pi[firsts]]
            tgt = pi[firsts][better]
            best[tgt] = c[firsts][better]
            src[tgt] = sj[firsts][better]
    reached = np.isfinite(best)
    t[ok] = best
    who[ok] = np.where(reached, src, -1)
    return t, who

