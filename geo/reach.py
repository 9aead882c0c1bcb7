"""Network reach: every dwelling's travel time to its nearest station, in one multi-source pass.

Times are seconds along the street network of a :class:`geo.network.Network` from the snapped
station position (access leg from the station to its street included) to the snapped dwelling
position (its access leg included).  Stations and dwellings sharing an edge also reach each other
directly along it.

**Budget rule**: a dwelling whose time equals the budget is covered: ``time <= budget``, compared
with a tolerance of :data:`EPS_S` (1 microsecond) so that float rounding of the projection cannot
flip a dwelling that sits exactly on the budget.

Method: one ``scipy.sparse.csgraph.dijkstra`` over the street graph augmented with one virtual
node per station (arcs to both ends of its edge, costed by the access leg and the part of the edge
travelled), ``min_only=True`` with ``limit`` = the search limit; its ``sources`` output names each
node's nearest station.  Dwelling times come from the times of their edge's two ends.  Times above
the search limit are ``inf``.

**Straight-line fallback**: dwellings inside ``fallback_regions`` (regions with no streets at all,
see :func:`no_street_regions`) get ``distance to the nearest station x DETOUR_FACTOR / speed``
instead, with ``method == "straight_line"``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp
import shapely
from scipy.sparse.csgraph import dijkstra
from scipy.spatial import cKDTree

from geo.crs import WGS84
from geo.errors import InvalidInput, Problem
from geo.network import Network, _csr
from geo.snap import STATUS_NAMES, Snap, snap_frame

#: Tolerance (seconds) of every budget comparison: covered means ``time <= budget + EPS_S``.
EPS_S = 1e-6
#: Straight-line fallback: network distance is taken as straight distance times this factor
#: (a common urban detour/circuity factor, 1.2-1.4 in the literature).
DETOUR_FACTOR = 1.3

METHODS = ("network", "straight_line", "unreachable")


def select_stations(
    stations: gpd.GeoDataFrame, *, kinds: list[str] | tuple[str, ...] | None = None, at: dt.date | None = None
) -> gpd.GeoDataFrame:
    """The stations that count: of ``kinds`` (all when None) and open on date ``at`` (when given).

    A station is open on ``at`` if ``opened_on`` is missing or ``<= at`` and ``closed_on`` is missing
    or ``> at`` (a station closed on a date no longer serves that day).
    """
    keep = np.ones(len(stations), dtype=bool)
    if kinds is not None and "kind" in stations:
        keep &= stations["kind"].isin(list(kinds)).to_numpy()
    if at is not None:
        at = pd.Timestamp(at)
        for col, ok in (("opened_on", lambda s: s <= at), ("closed_on", lambda s: s > at)):
            if col in stations:
                s = pd.to_datetime(stations[col], errors="coerce")
                keep &= (s.isna() | ok(s)).to_numpy()
    return stations.iloc[np.flatnonzero(keep)]


def _part(frac: np.ndarray, cost: np.ndarray) -> np.ndarray:
    """Time to travel ``frac`` of an edge costing ``cost`` seconds (0 for no distance, even one way)."""
    with np.errstate(invalid="ignore"):
        return np.where(frac > 0, frac * cost, 0.0)


def _ranges(ptr: np.ndarray, items: np.ndarray) -> np.ndarray:
    """Concatenate ``range(ptr[i], ptr[i+1])`` for every ``i`` in ``items`` (vectorised)."""
    start, stop = ptr[items], ptr[items + 1]
    n = stop - start
    total = int(n.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    offs = np.repeat(start - np.cumsum(n) + n, n)
    return offs + np.arange(total)


def source_arcs(net: Network, st: Snap, stations: np.ndarray | None = None):
    """Arcs from a station's virtual position to the two ends of its edge.

    Returns ``(station, node, seconds)`` arrays for the snapped stations (indices into ``st``, or
    ``stations`` when given): reaching ``u`` costs access + ``frac * bw``, ``v`` access + ``(1-frac) * fw``.
    """
    idx = np.flatnonzero(st.ok) if stations is None else np.asarray(stations)
    idx = idx[st.ok[idx]]
    e = st.edge[idx]
    cu = st.access_s[idx] + _part(st.frac[idx], net.edge_bw[e])
    cv = st.access_s[idx] + _part(1.0 - st.frac[idx], net.edge_fw[e])
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
    virt = _csr(n + s, sid, node, cost)  # rows 0..s-1 are the stations' virtual nodes
    virt = sp.csr_matrix((virt.data, virt.indices, virt.indptr[: s + 1]), shape=(s, n + s))
    aug = sp.vstack([top, virt], format="csr")
    src = n + np.flatnonzero(st.ok)
    dist, _, sources = dijkstra(aug, directed=True, indices=src, min_only=True, limit=limit_s + EPS_S,
                                return_predecessors=True)
    nearest = np.where(sources[:n] >= 0, sources[:n] - n, -1).astype(np.int64)
    return dist[:n], nearest


def station_node_times(net: Network, st: Snap, j: int, limit_s: float) -> np.ndarray:
    """Shortest times (n,) from station ``j`` alone to every node, ``inf`` beyond ``limit_s``."""
    d = np.full(net.n_nodes, np.inf)
    if not st.ok[j]:
        return d
    _, node, cost = source_arcs(net, st, np.array([j]))
    keep = cost <= limit_s + EPS_S
    node, cost = node[keep], cost[keep]
    if node.size == 0:
        return d
    rows = dijkstra(net.graph, directed=True, indices=node, limit=limit_s + EPS_S - cost.min())
    d = (rows.reshape(node.size, -1) + cost[:, None]).min(axis=0)
    d[d > limit_s + EPS_S] = np.inf
    return d


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
    tu = d[u] + _part(f, net.edge_fw[e])
    tv = d[v] + _part(1.0 - f, net.edge_bw[e])
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
            along = np.where(df >= 0, _part(df, net.edge_fw[fe]), _part(-df, net.edge_bw[fe]))
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


@dataclass
class Reach:
    """Result of :func:`compute_reach` for one set of stations and dwellings.

    Attributes
    ----------
    breaks_s : tuple of float
        Time budgets evaluated, seconds, ascending.
    limit_s : float
        Search limit, seconds (times above it are ``inf``).
    station_ids : ndarray of object
        ``source_id`` (or row label) of each counted station; ``nearest`` indexes this.
    station_kind : ndarray of object
    station_xy : ndarray (s, 2)
        Station positions, metres in the network CRS.
    station_snap, dwelling_snap : Snap
    households : ndarray of int
    dwelling_xy : ndarray (k, 2)
    time_s : ndarray of float
        Each dwelling's time to its nearest station, seconds; ``inf`` if none within the limit.
    nearest : ndarray of int
        Index of that station into ``station_ids``; ``-1`` if none.
    method : ndarray of object
        ``"network"``, ``"straight_line"`` (fallback region) or ``"unreachable"`` (snap failed).
    node_time, node_nearest : ndarray
        The node-level multi-source result (kept for what-if and service areas).
    """

    net_fingerprint: str
    breaks_s: tuple[float, ...]
    limit_s: float
    station_ids: np.ndarray
    station_kind: np.ndarray
    station_xy: np.ndarray
    station_snap: Snap
    dwelling_snap: Snap
    households: np.ndarray
    dwelling_xy: np.ndarray
    time_s: np.ndarray
    nearest: np.ndarray
    method: np.ndarray
    node_time: np.ndarray
    node_nearest: np.ndarray
    fallback: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    detour_factor: float = DETOUR_FACTOR
    fallback_speed_mps: float = 0.0
    crs: object = None  # the network's metric CRS (pyproj.CRS) of every xy here
    fallback_geom: object = None  # union of the fallback regions, metric CRS (shapely geometry or None)

    def covered(self, budget_s: float | None = None) -> np.ndarray:
        """Dwellings covered within ``budget_s`` (default the first break): ``time <= budget + EPS_S``."""
        b = self.breaks_s[0] if budget_s is None else budget_s
        return self.time_s <= b + EPS_S

    def band(self) -> np.ndarray:
        """Index of the first break each dwelling falls within (``len(breaks)`` when none)."""
        return np.searchsorted(np.asarray(self.breaks_s) + EPS_S, self.time_s, side="left")

    def dwellings_frame(self) -> pd.DataFrame:
        """Per dwelling: ``time_s, nearest_station, method, snap_status, access_m`` (input row order)."""
        near = np.where(self.nearest >= 0, self.station_ids[np.maximum(self.nearest, 0)], None)
        return pd.DataFrame({
            "time_s": self.time_s, "nearest_station": near, "method": self.method,
            "snap_status": [STATUS_NAMES[s] for s in self.dwelling_snap.status],
            "access_m": self.dwelling_snap.dist_m,
        })

    def unsnapped_stations(self) -> pd.DataFrame:
        """Stations that could not be attached to the network (too far from a usable street)."""
        bad = np.flatnonzero(~self.station_snap.ok)
        return pd.DataFrame({"station": self.station_ids[bad],
                             "reason": [STATUS_NAMES[s] for s in self.station_snap.status[bad]]})


def no_street_regions(regions: gpd.GeoDataFrame, net: Network) -> gpd.GeoDataFrame:
    """The rows of ``regions`` (polygons, EPSG:4326) that contain no usable street of ``net``.

    These are where :func:`compute_reach` may fall back to straight-line distance.
    """
    if len(regions) == 0:
        return regions
    usable = np.flatnonzero(net.snappable_edge)
    pts = net.node_xy[np.unique(np.concatenate([net.edge_u[usable], net.edge_v[usable]]))]
    mids = net.coords[net.coord_off[usable]] * 0.5 + net.coords[net.coord_off[usable + 1] - 1] * 0.5
    probe = shapely.points(np.vstack([pts, mids]))
    polys = regions.geometry.to_crs(net.crs).values
    hit = shapely.STRtree(probe).query(polys, predicate="intersects")
    has = np.zeros(len(regions), dtype=bool)
    has[hit[0]] = True
    return regions.iloc[np.flatnonzero(~has)]


def _ids(stations: gpd.GeoDataFrame) -> np.ndarray:
    if "source_id" in stations:
        ids = stations["source_id"].to_numpy(dtype=object)
        if not pd.isna(ids).any():
            return ids
    return np.asarray(stations.index, dtype=object)


def compute_reach(
    net: Network,
    stations: gpd.GeoDataFrame,
    dwellings: gpd.GeoDataFrame,
    *,
    breaks_s: tuple[float, ...] | list[float] = (480.0,),
    limit_s: float | None = None,
    max_snap_m: float = 300.0,
    dwelling_snap: Snap | None = None,
    fallback_regions: gpd.GeoDataFrame | gpd.GeoSeries | None = None,
    detour_factor: float = DETOUR_FACTOR,
    fallback_speed_kmh: float | None = None,
) -> Reach:
    """Every dwelling's time to its nearest station, one multi-source pass.

    Parameters
    ----------
    net : Network
    stations : GeoDataFrame
        Points, EPSG:4326 (already filtered: see :func:`select_stations`).
    dwellings : GeoDataFrame
        Points, EPSG:4326, with ``households``.
    breaks_s : sequence of float
        Budgets, seconds (e.g. ``(300, 480, 900)``).
    limit_s : float, optional
        Search limit, seconds (default the largest break); times above it are ``inf``.
    max_snap_m : float
        Farther than this from a usable street, a point is unreachable.
    dwelling_snap : Snap, optional
        A snap of ``dwellings`` from an earlier call (reuse when only stations change).
    fallback_regions : GeoDataFrame or GeoSeries, optional
        Polygons (EPSG:4326) without streets; dwellings inside use the straight-line fallback.
    detour_factor : float
        Straight-line fallback circuity factor.
    fallback_speed_kmh : float, optional
        Fallback speed; default the network's slowest usable edge speed (the mode speed for walk/bike).

    Returns
    -------
    Reach
    """
    breaks = tuple(sorted(float(b) for b in breaks_s))
    if not breaks or breaks[0] <= 0:
        raise InvalidInput("invalid time budget", [Problem("breaks must be positive seconds", field="breaks")])
    limit = float(limit_s) if limit_s is not None else breaks[-1]
    if limit < breaks[-1]:
        raise InvalidInput("invalid search limit", [Problem("limit_s must be >= the largest break", field="limit_s")])
    st = snap_frame(net, stations, max_dist_m=max_snap_m)
    dxy = net.project(dwellings)
    ds = dwelling_snap if dwelling_snap is not None else snap_frame(net, dwellings, max_dist_m=max_snap_m)
    if len(ds) != len(dwellings):
        raise InvalidInput("dwelling snap does not match the dwellings", [Problem("stale dwelling_snap")])
    d, near = node_times(net, st, limit)
    t, who = point_times(net, ds, d, near, st, np.arange(len(st)))
    t[t > limit + EPS_S] = np.inf
    who[~np.isfinite(t)] = -1
    method = np.where(ds.ok, "network", "unreachable").astype(object)

    sxy = net.project(stations)
    usable = np.flatnonzero(net.snappable_edge)
    speed = (fallback_speed_kmh / 3.6) if fallback_speed_kmh else (float(net.edge_speed[usable].min()) if usable.size else 5 / 3.6)
    fb = np.zeros(len(dwellings), dtype=bool)
    fb_geom = None
    if fallback_regions is not None and len(fallback_regions):
        polys = fallback_regions.geometry if isinstance(fallback_regions, gpd.GeoDataFrame) else fallback_regions
        polys = polys.set_crs(WGS84) if polys.crs is None else polys
        polys = polys.to_crs(net.crs).values
        fb_geom = shapely.union_all(polys)
        okp = np.isfinite(dxy).all(axis=1)
        hit = shapely.STRtree(shapely.points(dxy[okp])).query(polys, predicate="intersects")
        fb[np.flatnonzero(okp)[hit[1]]] = True
        if fb.any():
            fin = np.isfinite(sxy).all(axis=1)
            t[fb], who[fb] = np.inf, -1
            if fin.any():
                dist, k = cKDTree(sxy[fin]).query(dxy[fb])
                tt = dist * detour_factor / speed
                inside = tt <= limit + EPS_S
                idx = np.flatnonzero(fb)
                t[idx[inside]] = tt[inside]
                who[idx[inside]] = np.flatnonzero(fin)[k[inside]]
            method[fb] = "straight_line"
    hh = pd.to_numeric(dwellings["households"], errors="coerce").fillna(0).to_numpy(dtype=np.int64) \
        if "households" in dwellings else np.ones(len(dwellings), dtype=np.int64)
    return Reach(
        net_fingerprint=net.fingerprint, breaks_s=breaks, limit_s=limit, station_ids=_ids(stations),
        station_kind=(stations["kind"].to_numpy(dtype=object) if "kind" in stations
                      else np.full(len(stations), None, dtype=object)),
        station_xy=sxy, station_snap=st, dwelling_snap=ds, households=hh, dwelling_xy=dxy, time_s=t,
        nearest=who, method=method, node_time=d, node_nearest=near, fallback=fb,
        detour_factor=detour_factor, fallback_speed_mps=speed, fallback_geom=fb_geom, crs=net.crs,
    )


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
        return self.order[_ranges(self.ptr, np.asarray(edges, dtype=np.int64))]

    def near_nodes(self, nodes: np.ndarray, extra_edges: np.ndarray | None = None) -> np.ndarray:
        """Dwellings on edges touching ``nodes`` (and on ``extra_edges``), each once."""
        ptr, edges = self.net.node_edges
        es = edges[_ranges(ptr, np.asarray(nodes, dtype=np.int64))]
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
