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

Part of :mod:`geo.reach`: the result type is in :mod:`geo.reach.result`, the shortest-path core in
:mod:`geo.reach.search`.
"""

from __future__ import annotations

import datetime as dt

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.spatial import cKDTree

from geo.crs import WGS84
from geo.errors import InvalidInput, Problem
from geo.network import Network
from geo.snap import Snap, snap_frame
from geo.reach.result import DETOUR_FACTOR, EPS_S, Reach
from geo.reach.search import node_times, point_times


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

