"""Household coverage per grid, community and town from a :class:`geo.reach.Reach`.

Households are decided by their exact network time (``time <= budget``, see :mod:`geo.reach`),
never by a polygon.  Times are weighted by households: the mean is over the covered households
(within the budget, so it does not depend on the search limit or on other breaks asked for); the
90th percentile is over all households and is NaN (with ``p90_beyond_limit`` set) when it lies
beyond the search limit.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd

from geo.attribution import grid_index
from geo.crs import WGS84
from geo.reach import EPS_S, Reach

LEVELS = ("grid", "community", "town")


def assign_to_grids(points: gpd.GeoDataFrame, grids: gpd.GeoDataFrame, *, use_column: str | None = "grid_code"
                    ) -> pd.DataFrame:
    """Grid, community and town codes of each point (input order).

    ``points[use_column]`` is trusted when present and complete (dwellings carry ``grid_code``);
    otherwise each point gets the grid that covers it by gridmap's point-in-grid rule
    (:func:`geo.attribution.grid_index`: interior or boundary; on a shared edge or vertex, or an
    overlap, the smallest code, then the smallest ``id`` when ``grids`` has one).  Geometries are
    compared in EPSG:4326 lon/lat.

    Returns
    -------
    DataFrame with ``grid_code, community_code, town_code`` (None where outside every grid).
    """
    n = len(points)
    codes = None
    if use_column and use_column in points and n and points[use_column].notna().all():
        codes = points[use_column].to_numpy(dtype=object)
    if codes is None:
        codes = np.full(n, None, dtype=object)
        g = points.geometry
        g = g.set_crs(WGS84) if g.crs is None else g.to_crs(WGS84)
        polys = grids.geometry.to_crs(WGS84).values
        grid_codes = grids["code"].to_numpy(dtype=object)
        at = grid_index(g.values, polys, grid_codes, grids["id"].to_numpy() if "id" in grids else None)
        inside = at >= 0
        codes[inside] = grid_codes[at[inside]]
    info = grids.set_index("code")
    comm = info["community_code"].reindex(codes).to_numpy(dtype=object) if len(info) else np.full(n, None)
    town = (info["town_code"].reindex(codes).to_numpy(dtype=object) if "town_code" in info
            else np.full(n, None, dtype=object))
    return pd.DataFrame({"grid_code": codes, "community_code": comm, "town_code": town})


def _weighted_p(group: np.ndarray, ngroups: int, value: np.ndarray, weight: np.ndarray, q: float) -> np.ndarray:
    """Household-weighted ``q`` quantile (lower) of ``value`` per group (NaN for empty groups)."""
    order = np.lexsort((value, group))
    g, v, w = group[order], value[order], weight[order].astype(float)
    cw = np.cumsum(w)
    total = np.bincount(g, weights=w, minlength=ngroups)
    start = np.cumsum(total) - total
    target = start + q * total
    idx = np.searchsorted(cw, target - 1e-9 * np.maximum(total, 1), side="left")
    out = np.full(ngroups, np.nan)
    ok = (total > 0) & (idx < v.size)
    out[ok] = v[np.minimum(idx[ok], v.size - 1)]
    return out


def coverage_table(reach: Reach, assignment: pd.DataFrame, level: str = "grid", *, budget_s: float | None = None,
                   station_assignment: pd.DataFrame | None = None) -> pd.DataFrame:
    """Coverage of each area of ``level`` (``grid``, ``community`` or ``town``).

    Parameters
    ----------
    reach : Reach
    assignment : DataFrame
        :func:`assign_to_grids` of the dwellings (same order as ``reach``).
    budget_s : float, optional
        The budget, seconds (default the first break).  Every break of ``reach`` also gets a
        ``covered_<break>s`` column.
    station_assignment : DataFrame, optional
        :func:`assign_to_grids` of the counted stations; adds ``stations`` and ``stations_<kind>``.

    Returns
    -------
    DataFrame, one row per code: ``code, households, covered_households, covered_pct,
    mean_time_s, p90_time_s, p90_beyond_limit, uncovered_households, unreachable_households,
    straight_line_households, covered_<b>s ...``; ``straight_line_households > 0`` labels rows
    that used the straight-line fallback.
    """
    col = f"{level}_code"
    b = reach.breaks_s[0] if budget_s is None else float(budget_s)
    codes = assignment[col].to_numpy(dtype=object)
    known = ~pd.isna(codes)
    uniq, g = np.unique(codes[known].astype(str), return_inverse=True)
    k = uniq.size
    hh = reach.households[known].astype(float)
    t = reach.time_s[known]
    method = reach.method[known]

    def sums(mask):
        return np.bincount(g, weights=hh * mask, minlength=k)

    total = sums(np.ones_like(hh))
    covered = t <= b + EPS_S
    cov = sums(covered)
    tw = np.bincount(g, weights=np.where(covered, t, 0.0) * hh, minlength=k)
    fw = cov
    p90 = _weighted_p(g, k, t, hh, 0.9)
    out = pd.DataFrame({
        "code": uniq, "households": total.astype(np.int64), "covered_households": cov.astype(np.int64),
        "covered_pct": np.where(total > 0, 100.0 * cov / np.where(total > 0, total, 1), np.nan),
        "mean_time_s": np.where(fw > 0, tw / np.where(fw > 0, fw, 1), np.nan),
        "p90_time_s": np.where(np.isfinite(p90), p90, np.nan), "p90_beyond_limit": np.isinf(p90),
        "uncovered_households": (total - cov).astype(np.int64),
        "unreachable_households": sums(method == "unreachable").astype(np.int64),
        "straight_line_households": sums(method == "straight_line").astype(np.int64),
    })
    for br in reach.breaks_s:
        out[f"covered_{br:g}s"] = sums(t <= br + EPS_S).astype(np.int64)
    if station_assignment is not None:
        sc = station_assignment[col].to_numpy(dtype=object)
        kinds = pd.Series(reach.station_kind, dtype=object).fillna("other").to_numpy()
        df = pd.DataFrame({"code": sc, "kind": kinds}).dropna(subset=["code"])
        df["code"] = df["code"].astype(str)
        counts = df.groupby(["code", "kind"]).size().unstack(fill_value=0)
        counts.columns = [f"stations_{c}" for c in counts.columns]
        counts.insert(0, "stations", counts.sum(axis=1))
        out = out.merge(counts, left_on="code", right_index=True, how="left")
        cols = [c for c in out.columns if c.startswith("stations")]
        out[cols] = out[cols].fillna(0).astype(np.int64)
    return out


def coverage_report(reach: Reach, dwellings: gpd.GeoDataFrame, grids: gpd.GeoDataFrame,
                    stations: gpd.GeoDataFrame | None = None, *, budget_s: float | None = None,
                    assignment: pd.DataFrame | None = None) -> dict[str, pd.DataFrame]:
    """:func:`coverage_table` for every level: ``{"grid": ..., "community": ..., "town": ...}``.

    ``stations`` must be the frame the reach was computed with (same rows, same order).
    """
    assignment = assignment if assignment is not None else assign_to_grids(dwellings, grids)
    sa = assign_to_grids(stations, grids, use_column=None) if stations is not None and len(stations) else None
    return {lv: coverage_table(reach, assignment, lv, budget_s=budget_s, station_assignment=sa) for lv in LEVELS}
