"""Service-area polygons: the ground reachable within a budget, drawn from the reachable streets.

The drawn region is the set of points ``p`` whose nearest reachable street point ``q`` satisfies
``t(q) + |pq| / v <= T`` with ``|pq| <= side_m``: the street-side distance a resident walks from
the street (default 40 m, configurable) at the edge's mode speed ``v``.  It is built from the
reachable street segments, including the reachable part of partially reached edges, never from a
hull: where ``T - t(q)`` leaves at least ``side_m / v`` the streets are buffered by ``side_m``;
along the last stretch the width tapers linearly (the union of disks of linearly shrinking radius
along a segment is the convex hull of its two end disks).  Unreached blocks stay holes.

Households are never decided by these polygons (see :mod:`geo.reach`); :func:`polygon_disagreement`
measures how far the drawing departs from the exact decision.

All geometry here is in the network's metric CRS until the frames returned (EPSG:4326).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.errors import InvalidInput, Problem
from geo.network import Network
from geo.reach import EPS_S, Reach, _part, _ranges, station_node_times

MAX_BREAKS = 4


def _edges_near(net: Network, d: np.ndarray, extra: np.ndarray) -> np.ndarray:
    ptr, edges = net.node_edges
    nodes = np.flatnonzero(np.isfinite(d))
    if nodes.size > net.n_nodes // 4:
        return np.arange(net.n_edges)
    return np.unique(np.concatenate([edges[_ranges(ptr, nodes)], extra]))


def reach_intervals(net: Network, d: np.ndarray, reach: Reach, stations: np.ndarray, budget_s: float,
                    edges: np.ndarray | None = None):
    """Reached stretches of edges: ``(edge, s_start, s_end, t_start, rate)``.

    Travel runs from ``s_start`` to ``s_end`` (metres along the edge from ``u``; either order), the
    time at ``s`` being ``t_start + |s - s_start| * rate`` (rate in s/m).  Stretches come from both
    ends of each edge (node times ``d``) and, for ``stations``, from their own snapped position.
    """
    T = budget_s + EPS_S
    st = reach.station_snap
    stations = np.asarray(stations, dtype=np.int64)
    stations = stations[st.ok[stations]]
    if edges is None:
        edges = _edges_near(net, d, st.edge[stations])
    e = edges
    L, fw, bw = net.edge_len[e], net.edge_fw[e], net.edge_bw[e]
    du, dv = d[net.edge_u[e]], d[net.edge_v[e]]
    out = []
    with np.errstate(invalid="ignore", divide="ignore"):
        m = np.isfinite(du) & np.isfinite(fw) & (du <= T)
        a = np.minimum(L[m], (T - du[m]) / (fw[m] / L[m]))
        out.append((e[m], np.zeros(m.sum()), a, du[m], fw[m] / L[m]))
        m = np.isfinite(dv) & np.isfinite(bw) & (dv <= T)
        b = np.minimum(L[m], (T - dv[m]) / (bw[m] / L[m]))
        out.append((e[m], L[m], L[m] - b, dv[m], bw[m] / L[m]))
        # from the stations' own positions, both ways
        se = st.edge[stations]
        acc, o, Ls = st.access_s[stations], st.offset_m[stations], net.edge_len[se]
        for cost, sign in ((net.edge_fw[se], 1.0), (net.edge_bw[se], -1.0)):
            m = np.isfinite(cost) & (acc <= T)
            rate = cost[m] / Ls[m]
            ext = (T - acc[m]) / rate
            end = np.clip(o[m] + sign * ext, 0.0, Ls[m])
            out.append((se[m], o[m], end, acc[m], rate))
    return tuple(np.concatenate([p[i] for p in out]) for i in range(5))


def _points_at(net: Network, e: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Coordinates (k, 2) of the points ``s`` metres along edges ``e``."""
    lo, hi = net.coord_off[e], net.coord_off[e + 1] - 1
    base, gv = _edge_base(net)
    k = np.clip(np.searchsorted(gv, base[e] + s, "right") - 1, lo, hi - 1)
    seg = net.vcum[k + 1] - net.vcum[k]
    f = np.clip(np.where(seg > 0, (s - net.vcum[k]) / np.where(seg > 0, seg, 1), 0.0), 0, 1)
    return net.coords[k] + (net.coords[k + 1] - net.coords[k]) * f[:, None]


def _edge_base(net: Network) -> tuple[np.ndarray, np.ndarray]:
    """Edge start and vertex positions on one increasing axis (edges 1 m apart), cached on ``net``."""
    cached = net.__dict__.get("_edge_base")
    if cached is None:
        base = np.concatenate([[0.0], np.cumsum(net.edge_len + 1.0)[:-1]])
        gv = base[np.repeat(np.arange(net.n_edges), np.diff(net.coord_off))] + net.vcum
        cached = net.__dict__["_edge_base"] = (base, gv)
    return cached


def substrings(net: Network, e: np.ndarray, lo: np.ndarray, hi: np.ndarray):
    """Vertices of the parts ``[lo, hi]`` (metres, ``lo <= hi``) of edges ``e``.

    Returns ``(xy (k, 2), s (k,), owner (k,))``: the part's start, its interior vertices, its end.
    """
    base, gv = _edge_base(net)
    i0 = np.searchsorted(gv, base[e] + lo, "right")
    i1 = np.searchsorted(gv, base[e] + hi, "left")
    inner = np.maximum(i1 - i0, 0)
    n = inner + 2
    owner = np.repeat(np.arange(e.size), n)
    pos = np.arange(owner.size) - np.repeat(np.cumsum(n) - n, n)
    s = np.empty(owner.size)
    xy = np.empty((owner.size, 2))
    first, last = pos == 0, pos == n[owner] - 1
    mid = ~(first | last)
    s[first], s[last] = lo, hi
    xy[first], xy[last] = _points_at(net, e, lo), _points_at(net, e, hi)
    vid = i0[owner[mid]] + pos[mid] - 1
    s[mid], xy[mid] = net.vcum[vid], net.coords[vid]
    return xy, s, owner


def intervals_polygon(net: Network, iv, budget_s: float, side_m: float, quad_segs: int = 4):
    """Polygon (metric) of reached stretches ``iv`` (from :func:`reach_intervals`) for ``budget_s``.

    The shape follows the access model: a point counts through its perpendicular foot on a street
    (half-width ``r(s) = min(side_m, (T - t(s)) * v)``), or through a vertex in the wedge beyond it
    (a disk of radius ``r`` at the vertex).  Full-width stretches are one flat-capped buffer;
    tapering stretches are trapezoids per segment.
    """
    e, sa, sb, ta, rate = iv
    if e.size == 0:
        return shapely.Polygon()
    T = budget_s + EPS_S
    v = net.edge_speed[e]
    L = net.edge_len[e]
    # distance from the start after which the remaining time no longer covers side_m
    full = np.clip((T - side_m / v - ta) / rate, 0.0, np.abs(sb - sa))
    sign = np.sign(sb - sa)
    split = sa + sign * full
    parts = []
    m = full > 0
    if m.any():  # constant width: flat caps, round joins, plus disks at the edge ends it reaches
        lo, hi = np.minimum(sa[m], split[m]), np.maximum(sa[m], split[m])
        xy, _, owner = substrings(net, e[m], lo, hi)
        lines = shapely.linestrings(xy, indices=owner)
        # one buffer per line, then one union: several times faster than buffering a MultiLineString.
        # Round caps where both ends are nodes; flat caps (plus a disk at a node end) otherwise.
        lo_node, hi_node = lo <= 0, hi >= L[m]
        both = lo_node & hi_node
        parts += list(shapely.buffer(lines[both], side_m, quad_segs=quad_segs))
        parts += list(shapely.buffer(lines[~both], side_m, quad_segs=quad_segs, cap_style="flat"))
        em = e[m][~both]
        pts = np.r_[_points_at(net, em[lo_node[~both]], lo[~both][lo_node[~both]]),
                    _points_at(net, em[hi_node[~both]], hi[~both][hi_node[~both]])]
        if pts.size:
            parts += list(shapely.buffer(shapely.points(pts), side_m, quad_segs=quad_segs))
    m = np.abs(sb - split) > 1e-9
    if m.any():  # tapering stretches: trapezoids, disks at interior vertices and at a node start
        k = np.flatnonzero(m)
        lo, hi = np.minimum(split[k], sb[k]), np.maximum(split[k], sb[k])
        xy, s, owner = substrings(net, e[k], lo, hi)
        t = ta[k][owner] + np.abs(s - sa[k][owner]) * rate[k][owner]
        r = np.clip((T - t) * v[k][owner], 0.0, side_m)
        pair = np.flatnonzero(owner[:-1] == owner[1:])
        a, b = xy[pair], xy[pair + 1]
        dxy = b - a
        ln = np.hypot(*dxy.T)
        pair, a, b, dxy, ln = pair[ln > 0], a[ln > 0], b[ln > 0], dxy[ln > 0], ln[ln > 0]
        nrm = np.c_[-dxy[:, 1], dxy[:, 0]] / ln[:, None]
        ra, rb = r[pair][:, None], r[pair + 1][:, None]
        quad = np.stack([a + nrm * ra, b + nrm * rb, b - nrm * rb, a - nrm * ra, a + nrm * ra], axis=1)
        keep = (ra[:, 0] > 1e-6) | (rb[:, 0] > 1e-6)
        polys = parts
        polys += list(shapely.polygons(quad[keep]))
        n_per = np.bincount(owner, minlength=k.size)
        first = np.cumsum(n_per) - n_per
        interior = np.ones(owner.size, dtype=bool)
        interior[first] = False
        interior[first + n_per - 1] = False
        interior &= r > 1e-6
        # bends inside a stretch: the wedge between the two segments' normals
        iv_ = np.flatnonzero(interior)
        if iv_.size:
            cen = xy[iv_]
            dirs = np.stack([xy[iv_ - 1] - cen, xy[iv_ + 1] - cen], axis=1)
            polys += _sectors(cen, r[iv_], np.repeat(np.arange(iv_.size), 2), dirs.reshape(-1, 2), quad_segs)
        # a stretch starting at a reached node: the wedge left free by every street at the node
        start_at_node = (full[k] <= 0) & ((sa[k] <= 0) | (sa[k] >= L[k])) & (r[first] > 1e-6)
        if start_at_node.any():
            j = np.flatnonzero(start_at_node)
            node = np.where(sa[k][j] <= 0, net.edge_u[e[k][j]], net.edge_v[e[k][j]])
            node, uq = np.unique(node, return_index=True)
            rr = r[first[j[uq]]]
            ptr, ndirs = _node_dirs(net)
            cnt = ptr[node + 1] - ptr[node]
            polys += _sectors(net.node_xy[node], rr, np.repeat(np.arange(node.size), cnt),
                              ndirs[_ranges(ptr, node)], quad_segs)
    if not parts:
        return shapely.Polygon()
    return shapely.union_all(parts)


def _node_dirs(net: Network) -> tuple[np.ndarray, np.ndarray]:
    """Per node, the directions (unit-free vectors) of the first segment of each incident edge (cached)."""
    cached = net.__dict__.get("_node_dirs")
    if cached is None:
        off = net.coord_off
        du = net.coords[off[:-1] + 1] - net.coords[off[:-1]]
        dv = net.coords[off[1:] - 2] - net.coords[off[1:] - 1]
        ends = np.r_[net.edge_u, net.edge_v]
        order = np.argsort(ends, kind="stable")
        ptr = np.concatenate([[0], np.cumsum(np.bincount(ends, minlength=net.n_nodes))])
        cached = net.__dict__["_node_dirs"] = (ptr, np.r_[du, dv][order])
    return cached


def _sectors(center: np.ndarray, radius: np.ndarray, group: np.ndarray, dirs: np.ndarray, quad_segs: int) -> list:
    """Disk sectors where a vertex is the nearest street point: between the normals bounding the
    largest angular gap (> 180 degrees) among the vertex's street directions ``dirs`` (grouped by
    ``group``, sorted ascending).  Vertices with no such gap get nothing."""
    ang = np.arctan2(dirs[:, 1], dirs[:, 0])
    order = np.lexsort((ang, group))
    g, a = group[order], ang[order]
    n = np.bincount(g, minlength=center.shape[0])
    first = np.cumsum(n) - n
    nxt = np.arange(g.size) + 1
    last = first + n - 1
    nxt[last[n > 0]] = first[n > 0]
    gap = np.mod(a[nxt] - a, 2 * np.pi)
    gap[nxt == np.arange(g.size)] = 2 * np.pi  # a single direction: a dead end, half a disk free
    best = np.full(center.shape[0], -1.0)
    np.maximum.at(best, g, gap)
    pick = np.flatnonzero(gap == best[g])
    pick = pick[np.r_[True, g[pick][1:] != g[pick][:-1]]]
    gi = g[pick]
    span = best[gi] - np.pi
    ok = span > 1e-9
    pick, gi, span = pick[ok], gi[ok], span[ok]
    if gi.size == 0:
        return []
    steps = max(2, 2 * quad_segs)
    start = a[pick] + np.pi / 2
    th = start[:, None] + span[:, None] * np.linspace(0, 1, steps + 1)[None]
    arc = center[gi][:, None, :] + radius[gi][:, None, None] * np.stack([np.cos(th), np.sin(th)], axis=-1)
    ring = np.concatenate([center[gi][:, None, :], arc, center[gi][:, None, :]], axis=1)
    return list(shapely.polygons(ring))


def _check_breaks(breaks_s) -> tuple[float, ...]:
    breaks = tuple(sorted(float(b) for b in breaks_s))
    if not 1 <= len(breaks) <= MAX_BREAKS or breaks[0] <= 0:
        raise InvalidInput("invalid breaks", [Problem(f"give 1 to {MAX_BREAKS} positive budgets (seconds)",
                                                      field="breaks")])
    return breaks


def _fallback_disk(reach: Reach, j: int, budget_s: float, quad_segs: int):
    if reach.fallback_geom is None or not np.isfinite(reach.station_xy[j]).all():
        return None
    radius = budget_s * reach.fallback_speed_mps / reach.detour_factor
    disk = shapely.buffer(shapely.points(reach.station_xy[j]), radius, quad_segs=quad_segs)
    part = shapely.intersection(disk, reach.fallback_geom)
    return None if part.is_empty else part


def station_polygons(net: Network, reach: Reach, j: int, breaks_s=None, *, side_m: float = 40.0,
                     quad_segs: int = 4, rings: bool = False) -> list[tuple[object, bool]]:
    """Polygons (metric) of station ``j`` for each break: ``[(geometry, straight_line_used), ...]``.

    Disks by default (each break's whole area); with ``rings`` each break minus the previous one.
    """
    breaks = _check_breaks(breaks_s or reach.breaks_s)
    d = station_node_times(net, reach.station_snap, j, breaks[-1])
    edges = _edges_near(net, d, reach.station_snap.edge[[j]][reach.station_snap.ok[[j]]])
    out = []
    for b in breaks:
        g = intervals_polygon(net, reach_intervals(net, d, reach, np.array([j]), b, edges), b, side_m, quad_segs)
        fb = _fallback_disk(reach, j, b, quad_segs)
        if fb is not None:
            g = shapely.union(g, fb)
        if out:  # nest the disks exactly (drawing tolerances could leave slivers outside)
            g = shapely.union(g, out[-1][0])
        out.append((g, fb is not None))
    if rings:
        out = [out[0]] + [(shapely.difference(out[i][0], out[i - 1][0]), out[i][1]) for i in range(1, len(out))]
    return out


def service_areas(net: Network, reach: Reach, breaks_s=None, *, side_m: float = 40.0, quad_segs: int = 4,
                  rings: bool = False, stations=None, workers: int = 2) -> gpd.GeoDataFrame:
    """Every station's own service area per break (overlaps kept), EPSG:4326.

    Columns: ``station, kind, break_s, shape`` (``"disk"``/``"ring"``), ``method`` (``"network"`` or
    ``"network+straight_line"`` where the fallback added ground), ``area_m2``, geometry.
    """
    breaks = _check_breaks(breaks_s or reach.breaks_s)
    idx = np.arange(len(reach.station_ids)) if stations is None else np.asarray(stations)

    def one(j):
        return station_polygons(net, reach, int(j), breaks, side_m=side_m, quad_segs=quad_segs, rings=rings)

    if workers > 1 and idx.size > 8:
        with ThreadPoolExecutor(workers) as pool:
            res = list(pool.map(one, idx, chunksize=16))
    else:
        res = [one(j) for j in idx]
    rows = [(reach.station_ids[j], reach.station_kind[j], b, "ring" if rings and k else "disk",
             "network+straight_line" if fb else "network", g)
            for j, polys in zip(idx, res) for k, (b, (g, fb)) in enumerate(zip(breaks, polys))]
    df = pd.DataFrame(rows, columns=["station", "kind", "break_s", "shape", "method", "geometry"])
    df["area_m2"] = shapely.area(df["geometry"].to_numpy()) if len(df) else []
    return _valid(gpd.GeoDataFrame(df, geometry="geometry", crs=net.crs).to_crs(4326))


def _valid(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Repair the rare self-touching ring that reprojection can produce."""
    g = frame.geometry.values
    bad = ~shapely.is_valid(g)
    if bad.any():
        g = g.copy()
        g[bad] = shapely.make_valid(g[bad], method="structure", keep_collapsed=False)
        frame = frame.set_geometry(gpd.GeoSeries(g, index=frame.index, crs=frame.crs))
    return frame


def coverage_polygons(net: Network, reach: Reach, breaks_s=None, *, side_m: float = 40.0, quad_segs: int = 4,
                      rings: bool = False) -> list[object]:
    """Union of all stations' service areas per break (metric), from the multi-source node times."""
    breaks = _check_breaks(breaks_s or reach.breaks_s)
    if breaks[-1] > reach.limit_s + EPS_S:
        raise InvalidInput("break beyond the search limit", [Problem("recompute reach with a larger limit_s")])
    allst = np.arange(len(reach.station_ids))
    out = []
    for b in breaks:
        g = intervals_polygon(net, reach_intervals(net, reach.node_time, reach, allst, b, np.arange(net.n_edges)),
                              b, side_m, quad_segs)
        if reach.fallback_geom is not None:
            fbs = [f for j in allst if (f := _fallback_disk(reach, j, b, quad_segs)) is not None]
            if fbs:
                g = shapely.union_all([g, *fbs])
        if out:
            g = shapely.union(g, out[-1])
        out.append(g)
    if rings:
        out = [out[0]] + [shapely.difference(out[i], out[i - 1]) for i in range(1, len(out))]
    return out


def union_by_area(net: Network, reach: Reach, areas: gpd.GeoDataFrame, breaks_s=None, *, side_m: float = 40.0,
                  rings: bool = False, code_col: str = "code") -> gpd.GeoDataFrame:
    """Covered ground per area (community, town or grid) and break: the union of every station's
    service area (stations outside the area included: residents cross boundaries) clipped to it.

    Columns: ``code, break_s, shape, covered_m2, area_m2, covered_pct``, geometry (EPSG:4326).
    """
    polys = coverage_polygons(net, reach, breaks_s, side_m=side_m, rings=rings)
    breaks = _check_breaks(breaks_s or reach.breaks_s)
    ag = areas.geometry.to_crs(net.crs).values
    rows = []
    for k, (b, g) in enumerate(zip(breaks, polys)):
        clip = shapely.intersection(ag, g)
        for code, a, c in zip(areas[code_col].to_numpy(), ag, clip):
            rows.append((code, b, "ring" if rings and k else "disk", shapely.area(c), shapely.area(a), c))
    df = pd.DataFrame(rows, columns=["code", "break_s", "shape", "covered_m2", "area_m2", "geometry"])
    df["covered_pct"] = 100.0 * df["covered_m2"] / df["area_m2"].where(df["area_m2"] > 0)
    return _valid(gpd.GeoDataFrame(df, geometry="geometry", crs=net.crs).to_crs(4326))


def polygon_disagreement(reach: Reach, polygon, budget_s: float | None = None) -> dict:
    """How far a coverage polygon (metric) departs from the exact per-household decision.

    Returns ``households``, ``inside_not_covered``, ``covered_not_inside`` (household counts) and
    ``share`` (their sum over all households of network-decided dwellings).
    """
    b = reach.breaks_s[0] if budget_s is None else budget_s
    net_dw = reach.method == "network"
    xy = reach.dwelling_xy[net_dw]
    hh = reach.households[net_dw]
    inside = shapely.contains_xy(polygon, xy[:, 0], xy[:, 1])
    cov = reach.covered(b)[net_dw]
    a, c = int(hh[inside & ~cov].sum()), int(hh[cov & ~inside].sum())
    total = int(hh.sum())
    return {"households": total, "inside_not_covered": a, "covered_not_inside": c,
            "share": (a + c) / total if total else 0.0}
