"""Validation of existing grids: overlaps, gaps, parts outside their community, pieces, sizes.

Everything is measured in a metric CRS (m²); areas under ``tolerance_m2`` are ignored.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.crs import WGS84, metric_crs_for
from geo.zoning.units import to_lonlat_geoms, to_metric_geoms

__all__ = ["check_grids", "CHECK_ISSUES"]

#: Issue codes of :func:`check_grids`.
CHECK_ISSUES: dict[str, str] = {
    "overlap": "two grids overlap",
    "gap": "part of the community lies in no grid",
    "outside": "part of the grid lies outside its community",
    "no_community": "the grid's community is unknown",
    "non_contiguous": "the grid is in several pieces",
    "under": "the grid holds fewer households than the band's minimum",
    "over": "the grid holds more households than the band's maximum",
}


def check_grids(grids: gpd.GeoDataFrame, communities: gpd.GeoDataFrame, dwellings: gpd.GeoDataFrame | None = None,
                *, bounds: tuple[int, int] | None = (255, 345), tolerance_m2: float = 1.0,
                grid_column: str = "grid_code") -> gpd.GeoDataFrame:
    """Report every fault of the grids against their communities (and the band, with dwellings).

    Parameters
    ----------
    grids : geopandas.GeoDataFrame
        ``code``, ``community_code``, polygons (EPSG:4326).
    communities : geopandas.GeoDataFrame
        ``code``, polygons (EPSG:4326).
    dwellings : geopandas.GeoDataFrame, optional
        Points with ``households``; counted into the grid named by ``grid_column`` when present,
        else the grid containing them.
    bounds : tuple of int, optional
        Band ``(min, max)`` households; ``None`` skips the size check.
    tolerance_m2 : float
        Overlaps, gaps and outside parts smaller than this are ignored.

    Returns
    -------
    geopandas.GeoDataFrame
        One row per issue: ``issue`` (:data:`CHECK_ISSUES`), ``grid``, ``other_grid`` (overlaps),
        ``community_code``, ``area_m2``, ``households``, ``parts``, ``message``, geometry (the faulty
        area, EPSG:4326; the grid for pieces and sizes).
    """
    crs = metric_crs_for(communities if len(communities) else grids)
    g_geom = shapely.make_valid(to_metric_geoms(grids.geometry.to_numpy(), crs))
    c_geom = shapely.make_valid(to_metric_geoms(communities.geometry.to_numpy(), crs))
    codes = grids["code"].astype(str).to_numpy()
    g_comm = grids["community_code"].astype(str).to_numpy()
    c_codes = communities["code"].astype(str).tolist()
    c_index = {c: i for i, c in enumerate(c_codes)}
    rows = []

    def add(issue, grid, comm, geom, area=np.nan, other=None, households=None, parts=None, extra=""):
        rows.append({"issue": issue, "grid": grid, "other_grid": other, "community_code": comm,
                     "area_m2": float(area), "households": households, "parts": parts,
                     "message": CHECK_ISSUES[issue] + extra, "geometry": geom})

    tree = shapely.STRtree(g_geom)
    a, b = tree.query(g_geom, predicate="intersects")
    pair = a < b
    if pair.any():
        inter = shapely.intersection(g_geom[a[pair]], g_geom[b[pair]])
        area = shapely.area(inter)
        for i, j, geo, ar in zip(a[pair], b[pair], inter, area):
            if ar > tolerance_m2:
                add("overlap", codes[i], g_comm[i], geo, ar, other=codes[j], extra=f" ({ar:.1f} m²)")
    for i in range(len(codes)):
        ci = c_index.get(g_comm[i])
        if ci is None:
            add("no_community", codes[i], g_comm[i], g_geom[i])
            continue
        out = shapely.difference(g_geom[i], c_geom[ci])
        ar = shapely.area(out)
        if ar > tolerance_m2:
            add("outside", codes[i], g_comm[i], out, ar, extra=f" ({ar:.1f} m²)")
        parts = shapely.get_parts(g_geom[i])
        parts = parts[shapely.area(parts) > tolerance_m2]
        if len(parts) > 1:
            add("non_contiguous", codes[i], g_comm[i], g_geom[i], shapely.area(g_geom[i]), parts=len(parts),
                extra=f" ({len(parts)} pieces)")
    for ci, c in enumerate(c_codes):
        mine = g_geom[g_comm == c]
        covered = shapely.union_all(mine) if len(mine) else shapely.Polygon()
        gap = shapely.difference(c_geom[ci], covered)
        for piece in shapely.get_parts(gap):
            ar = shapely.area(piece)
            if ar > tolerance_m2:
                add("gap", None, c, piece, ar, extra=f" ({ar:.1f} m²)")
    if bounds is not None and dwellings is not None:
        lo, hi = bounds
        if grid_column in dwellings:
            hh = dwellings.groupby(dwellings[grid_column].astype(str))["households"].sum()
        else:
            pts = to_metric_geoms(dwellings.geometry.to_numpy(), crs)
            pi, gi = tree.query(pts, predicate="intersects")
            first = np.r_[True, pi[1:] != pi[:-1]] if len(pi) else np.zeros(0, bool)
            hh = pd.Series(dwellings["households"].to_numpy()[pi[first]]).groupby(codes[gi[first]]).sum()
        for i, code in enumerate(codes):
            h = int(hh.get(code, 0))
            if h < lo:
                add("under", code, g_comm[i], g_geom[i], households=h, extra=f" ({h} < {lo})")
            elif h > hi:
                add("over", code, g_comm[i], g_geom[i], households=h, extra=f" ({h} > {hi})")
    cols = ["issue", "grid", "other_grid", "community_code", "area_m2", "households", "parts", "message"]
    if not rows:
        return gpd.GeoDataFrame({c: [] for c in cols}, geometry=gpd.GeoSeries([], crs=WGS84))
    f = pd.DataFrame(rows)
    return gpd.GeoDataFrame(f[cols], geometry=gpd.GeoSeries(to_lonlat_geoms(f["geometry"].to_numpy(), crs), crs=WGS84))
