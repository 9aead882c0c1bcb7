"""Service-area polygons per station and their unions per area, from the reach of a :class:`geo.reach.Reach`.

The access rule and the two drawings are described in :mod:`geo.service_area`; this module picks
the drawing (``method="grid"``: :mod:`geo.service_area.grid`, ``method="vector"``:
:mod:`geo.service_area.vector`), draws every station's rings (in worker processes for many
stations) and the unions, and measures :func:`polygon_disagreement` with the exact decision.

All geometry here is in the network's metric CRS until the frames returned (EPSG:4326).
"""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.errors import InvalidInput, Problem
from geo.network import Network, csr_ranges
from geo.parallel import process_context
from geo.reach import EPS_S, Reach, station_node_times
from geo.service_area.grid import CELL_M, clipped_polygons, grid_polygon, tiles
from geo.service_area.vector import intervals_polygon

__all__ = ["MAX_BREAKS", "METHODS", "reach_intervals", "station_polygons", "service_areas", "coverage_polygons",
           "union_by_area", "polygon_disagreement"]

MAX_BREAKS = 4


def _edges_near(net: Network, d: np.ndarray, extra: np.ndarray) -> np.ndarray:
    ptr, edges = net.node_edges
    nodes = np.flatnonzero(np.isfinite(d))
    if nodes.size > net.n_nodes // 4:
        return np.arange(net.n_edges)
    return np.unique(np.concatenate([edges[csr_ranges(ptr, nodes)], extra]))


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


METHODS = ("grid", "vector")


def station_polygons(net: Network, reach: Reach, j: int, breaks_s=None, *, side_m: float = 40.0,
                     quad_segs: int = 4, rings: bool = False, method: str = "grid",
                     cell_m: float = CELL_M) -> list[tuple[object, bool]]:
    """Polygons (metric) of station ``j`` for each break: ``[(geometry, straight_line_used), ...]``.

    Disks by default (each break's whole area); with ``rings`` each break minus the previous one.
    ``method`` ``"grid"`` (default) contours a ``cell_m``-metre time grid
    (:mod:`geo.service_area.grid`); ``"vector"`` unions street buffers
    (:mod:`geo.service_area.vector`, exact drawing, 10-50 times slower).
    """
    breaks = _check_breaks(breaks_s or reach.breaks_s)
    _check_method(method)
    st = reach.station_snap
    d = station_node_times(net, st, j, breaks[-1])
    edges = _edges_near(net, d, st.edge[[j]][st.ok[[j]]])
    out = []
    for b in breaks:
        iv = reach_intervals(net, d, reach, np.array([j]), b, edges)
        g = (grid_polygon(net, iv, b, side_m, cell_m) if method == "grid"
             else intervals_polygon(net, iv, b, side_m, quad_segs))
        fb = _fallback_disk(reach, j, b, quad_segs)
        if fb is not None:
            g = shapely.union(g, fb)
        if out:  # nest the disks exactly (drawing tolerances could leave slivers outside)
            g = shapely.union(g, out[-1][0])
        out.append((g, fb is not None))
    if rings:
        out = [out[0]] + [(shapely.difference(out[i][0], out[i - 1][0]), out[i][1]) for i in range(1, len(out))]
    return out


#: Fewer stations than this are drawn in the calling thread (starting workers costs more than it saves).
POOL_MIN_STATIONS = 32
_JOB: tuple | None = None  # (net, reach, breaks, options) of a worker process, set by _init_worker


def _draw(net: Network, reach: Reach, js, breaks, opts: dict):
    """Polygons of stations ``js`` per break, flattened station-major: ``(geometry EPSG:4326 (valid),
    area_m2, straight_line_used)`` arrays.  Reprojection happens here so that workers share it."""
    polys = [station_polygons(net, reach, int(j), breaks, **opts) for j in js]
    metric = np.array([g for p in polys for g, _ in p], dtype=object)
    fb = np.array([f for p in polys for _, f in p], dtype=bool)
    geo = gpd.GeoSeries(metric, crs=net.crs).to_crs(4326).values
    bad = ~shapely.is_valid(geo)
    if bad.any():  # repair the rare self-touching ring that reprojection can produce
        geo[bad] = shapely.make_valid(geo[bad], method="structure", keep_collapsed=False)
    return np.asarray(geo, dtype=object), shapely.area(metric), fb


def _init_worker(job: tuple) -> None:
    global _JOB
    _JOB = job


def _pool_chunk(js: list[int]):
    net, reach, breaks, opts = _JOB
    g, area, fb = _draw(net, reach, js, breaks, opts)
    return shapely.to_wkb(g), area, fb


def _all_station_polygons(net, reach, idx: np.ndarray, breaks, opts: dict, workers: int):
    """:func:`_draw` for every station in ``idx``: in ``workers`` forked processes when there are many
    (the grid drawing is numpy/scipy work that holds the GIL; GEOS releases it, so the vector drawing
    uses threads), else in this thread.

    Each pool's workers get their job through the pool's initializer (no module state is shared
    between concurrent callers): inherited by a fork in a single-threaded caller, pickled to them
    from a fork server in a threaded one (:func:`geo.parallel.process_context`).  The children
    only compute (numpy, scipy, GEOS, PROJ) and return WKB."""
    if workers <= 1 or idx.size < POOL_MIN_STATIONS:
        return _draw(net, reach, idx, breaks, opts)
    chunks = [list(map(int, c)) for c in np.array_split(idx, max(workers * 8, idx.size // 64))]
    ctx = process_context()
    if opts.get("method", "grid") == "vector" or ctx is None:
        with ThreadPoolExecutor(workers) as pool:
            parts = list(pool.map(lambda c: _draw(net, reach, c, breaks, opts), chunks))
    else:
        with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker,
                                 initargs=((net, reach, breaks, opts),)) as pool:
            parts = [(shapely.from_wkb(w), a, f) for w, a, f in pool.map(_pool_chunk, chunks)]
    return tuple(np.concatenate([p[i] for p in parts]) for i in range(3))


def service_areas(net: Network, reach: Reach, breaks_s=None, *, side_m: float = 40.0, quad_segs: int = 4,
                  rings: bool = False, stations=None, workers: int = 2, method: str = "grid",
                  cell_m: float = CELL_M) -> gpd.GeoDataFrame:
    """Every station's own service area per break (overlaps kept), EPSG:4326.

    Columns: ``station, kind, break_s, shape`` (``"disk"``/``"ring"``), ``method`` (``"network"`` or
    ``"network+straight_line"`` where the fallback added ground), ``area_m2`` (metric), geometry.
    ``method``/``cell_m``: see :func:`station_polygons`; ``workers`` processes share the stations.
    """
    breaks = _check_breaks(breaks_s or reach.breaks_s)
    idx = np.arange(len(reach.station_ids)) if stations is None else np.asarray(stations, dtype=np.int64)
    opts = dict(side_m=side_m, quad_segs=quad_segs, rings=rings, method=method, cell_m=cell_m)
    geom, area, fb = _all_station_polygons(net, reach, idx, breaks, opts, workers)
    nb = len(breaks)
    j = np.repeat(idx, nb)
    df = pd.DataFrame({
        "station": reach.station_ids[j], "kind": reach.station_kind[j], "break_s": np.tile(breaks, idx.size),
        "shape": np.where(rings & (np.tile(np.arange(nb), idx.size) > 0), "ring", "disk"),
        "method": np.where(fb, "network+straight_line", "network"), "area_m2": area})
    return gpd.GeoDataFrame(df, geometry=gpd.GeoSeries(geom if len(df) else [], crs=4326).values, crs=4326)


def _valid(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Repair the rare self-touching ring that reprojection can produce."""
    g = frame.geometry.values
    bad = ~shapely.is_valid(g)
    if bad.any():
        g = g.copy()
        g[bad] = shapely.make_valid(g[bad], method="structure", keep_collapsed=False)
        frame = frame.set_geometry(gpd.GeoSeries(g, index=frame.index, crs=frame.crs))
    return frame


def _check_method(method: str) -> None:
    if method not in METHODS:
        raise InvalidInput("unknown drawing method", [Problem(f"method must be one of {METHODS}", field="method")])


def _check_budget(reach: Reach, breaks) -> None:
    if breaks[-1] > reach.limit_s + EPS_S:
        raise InvalidInput("break beyond the search limit", [Problem("recompute reach with a larger limit_s")])


def _fallback_union(reach: Reach, budget_s: float, quad_segs: int):
    if reach.fallback_geom is None:
        return None
    fbs = [f for j in range(len(reach.station_ids)) if (f := _fallback_disk(reach, j, budget_s, quad_segs)) is not None]
    return shapely.union_all(fbs) if fbs else None


def _pieces(net: Network, reach: Reach, clips, breaks, side_m: float, cell_m: float, quad_segs: int) -> list[list]:
    """Grid drawing of the multi-source reach clipped to each of ``clips``: ``[break][clip]`` disks."""
    allst = np.arange(len(reach.station_ids))
    out = []
    for b in breaks:
        iv = reach_intervals(net, reach.node_time, reach, allst, b, np.arange(net.n_edges))
        pieces = clipped_polygons(net, iv, b, clips, side_m, cell_m)
        fb = _fallback_union(reach, b, quad_segs)
        if fb is not None:
            pieces = [shapely.union(p, shapely.intersection(fb, c)) for p, c in zip(pieces, clips)]
        if out:
            pieces = [shapely.union(p, q) for p, q in zip(pieces, out[-1])]
        out.append(pieces)
    return out


def _join(pieces: list):
    """Union of tile pieces that only share edges (a coverage: fast), or a full union if they overlap."""
    pieces = [p for p in pieces if not shapely.is_empty(p)]
    if not pieces:
        return shapely.Polygon()
    try:
        joined = shapely.coverage_union_all(pieces)
        if shapely.is_valid(joined):
            return joined
    except shapely.errors.GEOSException:  # pieces not noded alike along a tile edge
        pass
    return shapely.union_all(pieces)


def _rings(polys: list) -> list:
    return [polys[0]] + [shapely.difference(polys[i], polys[i - 1]) for i in range(1, len(polys))]


def coverage_polygons(net: Network, reach: Reach, breaks_s=None, *, side_m: float = 40.0, quad_segs: int = 4,
                      rings: bool = False, method: str = "grid", cell_m: float = CELL_M) -> list[object]:
    """Union of all stations' service areas per break (metric), from the multi-source node times.

    ``method="grid"`` draws 2 km tiles and joins them; ``"vector"`` one GEOS union of every reached
    street's buffer (exact drawing, minutes for a county-level city).
    """
    breaks = _check_breaks(breaks_s or reach.breaks_s)
    _check_budget(reach, breaks)
    _check_method(method)
    if method == "grid":
        box = shapely.bounds(shapely.multipoints(net.node_xy[np.isfinite(reach.node_time)])) \
            if np.isfinite(reach.node_time).any() else None
        if box is None or not np.isfinite(box).all():
            out = [shapely.Polygon()] * len(breaks)
        else:
            pad = side_m + 2 * cell_m
            clips = tiles((box[0] - pad, box[1] - pad, box[2] + pad, box[3] + pad))
            out = [_join(p) for p in _pieces(net, reach, clips, breaks, side_m, cell_m, quad_segs)]
        return _rings(out) if rings else out
    allst = np.arange(len(reach.station_ids))
    out = []
    for b in breaks:
        g = intervals_polygon(net, reach_intervals(net, reach.node_time, reach, allst, b, np.arange(net.n_edges)),
                              b, side_m, quad_segs)
        fb = _fallback_union(reach, b, quad_segs)
        if fb is not None:
            g = shapely.union(g, fb)
        if out:
            g = shapely.union(g, out[-1])
        out.append(g)
    return _rings(out) if rings else out


def union_by_area(net: Network, reach: Reach, areas: gpd.GeoDataFrame, breaks_s=None, *, side_m: float = 40.0,
                  rings: bool = False, code_col: str = "code", method: str = "grid",
                  cell_m: float = CELL_M) -> gpd.GeoDataFrame:
    """Covered ground per area (community, town or grid) and break: the union of every station's
    service area (stations outside the area included: residents cross boundaries) clipped to it.

    Columns: ``code, break_s, shape, covered_m2, area_m2, covered_pct``, geometry (EPSG:4326).
    """
    breaks = _check_breaks(breaks_s or reach.breaks_s)
    _check_budget(reach, breaks)
    _check_method(method)
    ag = areas.geometry.to_crs(net.crs).values
    if method == "grid":
        per = _pieces(net, reach, list(ag), breaks, side_m, cell_m, 4)
    else:
        per = [list(shapely.intersection(ag, g)) for g in coverage_polygons(net, reach, breaks, side_m=side_m,
                                                                             method="vector")]
    if rings:
        per = [per[0]] + [list(shapely.difference(per[i], per[i - 1])) for i in range(1, len(per))]
    rows = []
    for k, (b, clip) in enumerate(zip(breaks, per)):
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
