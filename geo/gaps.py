"""Coverage gaps: uncovered households clustered into polygons, ranked by households.

Two uncovered dwellings belong to the same gap when a chain of uncovered dwellings links them with
steps of at most ``link_m`` metres (single linkage: ``cKDTree.query_pairs`` + connected components).
A gap's polygon is the union of its dwellings buffered by ``pad_m`` (default ``link_m / 2``, so a
gap is one connected shape); its nearest station is the one of its quickest-reached dwelling, and
its time that dwelling's time.  Uncovered dwellings lie beyond the budget, so given the network
:func:`find_gaps` searches on to a horizon (default twice the budget) for them; NaN/None when no
station is within it.
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from geo.network import Network
from geo.reach import Reach, node_times, point_times

COLUMNS = ["gap_id", "rank", "households", "dwellings", "nearest_station", "nearest_time_s", "grids", "geometry"]


@dataclass
class Gaps:
    """Gaps of one reach: ``frame`` (EPSG:4326, :data:`COLUMNS`) and ``label`` (gap id per dwelling, -1)."""

    frame: gpd.GeoDataFrame
    label: np.ndarray
    budget_s: float
    link_m: float
    pad_m: float


def cluster(xy: np.ndarray, link_m: float) -> np.ndarray:
    """Single-linkage cluster label of each point (metres) at ``link_m``."""
    n = xy.shape[0]
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    pairs = cKDTree(xy).query_pairs(link_m, output_type="ndarray")
    adj = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    return connected_components(adj, directed=False)[1]


def gap_rows(crs, xy, households, time_s, nearest, station_ids, grid_codes, members, lab, pad_m, start_id=0):
    """Gap rows (metric geometry) for dwellings ``members`` with cluster labels ``lab``."""
    if members.size == 0:
        return pd.DataFrame(columns=[c for c in COLUMNS if c != "rank"])
    order = np.lexsort((members, lab))
    m, l = members[order], lab[order]
    cut = np.flatnonzero(np.r_[True, l[1:] != l[:-1]])
    bounds = np.r_[cut, m.size]
    discs = shapely.buffer(shapely.points(xy[m]), pad_m, quad_segs=4)
    rows = []
    for i, (a, b) in enumerate(zip(bounds[:-1], bounds[1:])):
        ids = m[a:b]
        t = time_s[ids]
        j = int(np.argmin(t))
        fin = np.isfinite(t[j]) and nearest[ids[j]] >= 0
        grids = sorted({str(c) for c in grid_codes[ids] if c is not None and not pd.isna(c)}) if grid_codes is not None else []
        rows.append((start_id + i, int(households[ids].sum()), int(b - a),
                     station_ids[nearest[ids[j]]] if fin else None, float(t[j]) if fin else np.nan, grids,
                     discs[a] if b - a == 1 else shapely.union_all(discs[a:b])))
    return pd.DataFrame(rows, columns=[c for c in COLUMNS if c != "rank"])


def rank_gaps(df: pd.DataFrame, crs) -> gpd.GeoDataFrame:
    """Gap rows (:func:`gap_rows`, geometry in the metric ``crs``) ranked by households, as EPSG:4326.

    Sorted by households then dwellings, largest first (stable), with ``rank`` 1, 2, ... inserted
    after ``gap_id``; the frame is reprojected from ``crs`` to EPSG:4326.
    """
    df = df.sort_values(["households", "dwellings"], ascending=False, kind="stable", ignore_index=True)
    df.insert(1, "rank", np.arange(1, len(df) + 1))
    return gpd.GeoDataFrame(df, geometry="geometry", crs=crs).to_crs(4326)


def find_gaps(reach: Reach, *, budget_s: float | None = None, link_m: float = 100.0, pad_m: float | None = None,
              grid_codes: np.ndarray | None = None, net: Network | None = None,
              horizon_s: float | None = None) -> Gaps:
    """Cluster the dwellings not covered within ``budget_s`` (default the first break) into gaps.

    Parameters
    ----------
    reach : Reach
    budget_s : float, optional
    link_m : float
        Linking distance, metres.
    pad_m : float, optional
        Buffer of each dwelling in the gap polygon, metres (default ``link_m / 2``).
    grid_codes : ndarray, optional
        Grid code of each dwelling (``assign_to_grids(...)["grid_code"]``) to list the grids a gap touches.
    net : Network, optional
        The network of ``reach``: with it, uncovered dwellings beyond the search limit of ``reach``
        get their nearest station and time from one more multi-source pass up to ``horizon_s``.
    horizon_s : float, optional
        How far (seconds) to look for a gap's nearest station; default ``2 * budget_s``.

    Returns
    -------
    Gaps
        ``frame`` ranked by households (rank 1 = largest); unreachable dwellings (no street
        within the snap distance) are uncovered and included, with no nearest station.
    """
    b = reach.breaks_s[0] if budget_s is None else float(budget_s)
    pad = link_m / 2 if pad_m is None else pad_m
    unc = np.flatnonzero(~reach.covered(b) & np.isfinite(reach.dwelling_xy).all(axis=1))
    lab = cluster(reach.dwelling_xy[unc], link_m)
    crs = _crs(reach)
    time_s, nearest = reach.time_s, reach.nearest
    horizon = 2.0 * b if horizon_s is None else float(horizon_s)
    if net is not None and horizon > reach.limit_s and unc.size:
        time_s, nearest = _beyond_limit(net, reach, unc, horizon)
    df = gap_rows(crs, reach.dwelling_xy, reach.households, time_s, nearest, reach.station_ids,
                  grid_codes, unc, lab, pad)
    frame = rank_gaps(df, crs)
    label = np.full(len(reach.time_s), -1, dtype=np.int64)
    label[unc] = lab  # cluster label == gap_id (rows were numbered by label order)
    return Gaps(frame=frame, label=label, budget_s=b, link_m=link_m, pad_m=pad)


def _beyond_limit(net: Network, reach: Reach, which: np.ndarray, horizon_s: float):
    """Times and nearest stations with ``which`` dwellings re-timed by a search up to ``horizon_s``."""
    if net.fingerprint != reach.net_fingerprint:
        raise ValueError("the network is not the one the reach was computed on")
    st = reach.station_snap
    d, near = node_times(net, st, horizon_s)
    net_dw = which[reach.method[which] == "network"]
    t, who = point_times(net, reach.dwelling_snap, d, near, st, np.arange(len(st)), which=net_dw)
    far = t > horizon_s
    t[far], who[far] = np.inf, -1
    time_s, nearest = reach.time_s.copy(), reach.nearest.copy()
    time_s[net_dw], nearest[net_dw] = t, who
    return time_s, nearest


def _crs(reach: Reach):
    return reach.crs


def grid_gaps(gaps: Gaps, reach: Reach, grid_codes: np.ndarray) -> pd.DataFrame:
    """Per grid: uncovered households and dwellings, and the ids of the gaps it holds (largest first)."""
    unc = gaps.label >= 0
    df = pd.DataFrame({"grid_code": grid_codes[unc], "gap_id": gaps.label[unc], "households": reach.households[unc]})
    df = df.dropna(subset=["grid_code"])
    size = gaps.frame.set_index("gap_id")["households"]
    out = df.groupby("grid_code").agg(uncovered_households=("households", "sum"),
                                      uncovered_dwellings=("households", "size"),
                                      gap_ids=("gap_id", lambda s: sorted(set(s), key=lambda g: -size.get(g, 0))))
    return out.reset_index()
