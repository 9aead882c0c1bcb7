"""Which grid and community a point lies in: dwellings and stations at import, dwellings after a redraw.

Point-in-polygon against the CURRENT grids (``valid_to IS NULL``) of the same region, then the
communities; a point covered by several polygons goes to the first by code.  Geometries are
EPSG:4326 lon/lat; "covered" is shapely's / PostGIS's ``intersects`` (a point on a shared border
belongs to both, and the first code wins).
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from sqlalchemy import Connection, text

__all__ = ["attribute_points", "reattribute_dwellings"]


def _first_cover(conn: Connection, sql: str, params: dict, points: np.ndarray, regions: np.ndarray,
                 todo: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For points ``todo``, the row (code, extra) of the first polygon (by code) of the same
    region that covers it; None where none does.  Polygons come from ``sql`` (code, extra,
    region_code, wkb), matched with a shapely STRtree."""
    n = len(points)
    code = np.full(n, None, dtype=object)
    extra = np.full(n, None, dtype=object)
    idx = np.flatnonzero(todo)
    if not len(idx):
        return code, extra
    polys = conn.execute(text(sql), params).all()
    if not polys:
        return code, extra
    p_code = np.array([r[0] for r in polys], dtype=object)
    p_extra = np.array([r[1] for r in polys], dtype=object)
    p_region = np.array([r[2] for r in polys], dtype=object)
    tree = shapely.STRtree(shapely.from_wkb([bytes(r[3]) for r in polys]))
    pt, poly = tree.query(points[idx], predicate="intersects")
    same = p_region[poly] == regions[idx][pt]
    pt, poly = pt[same], poly[same]
    if len(pt):
        order = np.lexsort((p_code[poly].astype(str), pt))  # by point, then polygon code
        pt, poly = pt[order], poly[order]
        first = np.r_[True, pt[1:] != pt[:-1]]
        code[idx[pt[first]]] = p_code[poly[first]]
        extra[idx[pt[first]]] = p_extra[poly[first]]
    return code, extra


def attribute_points(conn: Connection, layer: str, frame: gpd.GeoDataFrame, region_code: str) -> gpd.GeoDataFrame:
    """Fill missing grid_code/community_code of dwellings (community_code of stations) by
    point-in-polygon against the current grids, then the communities (first by code on ties)."""
    points = frame.geometry.to_numpy()
    regions = frame["region_code"].astype("string").fillna(region_code).to_numpy(dtype=object)
    params = {"regions": sorted(set(regions))}
    frame = frame.copy()
    community = frame["community_code"].astype(object).where(frame["community_code"].notna(), None).to_numpy().copy()
    if layer == "dwellings":
        grid = frame["grid_code"].astype(object).where(frame["grid_code"].notna(), None).to_numpy().copy()
        g_code, g_comm = _first_cover(
            conn, "SELECT code, community_code, region_code, ST_AsBinary(geom) FROM grids "
                  "WHERE valid_to IS NULL AND region_code = ANY(:regions)",
            params, points, regions, pd.isna(grid))
        fill = pd.isna(grid) & ~pd.isna(g_code)
        grid[fill] = g_code[fill]
        community = np.where(pd.isna(community) & fill, g_comm, community)
        frame["grid_code"] = pd.array(grid, dtype="string")
    c_code, _ = _first_cover(
        conn, "SELECT code, NULL, region_code, ST_AsBinary(geom) FROM areas "
              "WHERE level = 'community' AND region_code = ANY(:regions)",
        params, points, regions, pd.isna(community))
    community = np.where(pd.isna(community), c_code, community)
    frame["community_code"] = pd.array(community, dtype="string")
    return frame


def reattribute_dwellings(conn: Connection, region_code: str) -> int:
    """Re-derive every dwelling's grid_code/community_code in a region from the current grids.

    Run after grid boundaries change.  A dwelling in no current grid gets ``grid_code`` NULL
    and keeps (or gets, by point-in-polygon) its community.  Returns the number of dwellings
    whose codes changed.
    """
    return conn.execute(text("""
        UPDATE dwellings d SET grid_code = m.grid_code, community_code = COALESCE(m.community_code, d.community_code)
        FROM (
            SELECT d2.id,
                   g.code AS grid_code,
                   COALESCE(g.community_code, a.code) AS community_code
            FROM dwellings d2
            LEFT JOIN LATERAL (
                SELECT code, community_code FROM grids g
                WHERE g.region_code = d2.region_code AND g.valid_to IS NULL AND ST_Intersects(g.geom, d2.geom)
                ORDER BY g.code LIMIT 1) g ON true
            LEFT JOIN LATERAL (
                SELECT code FROM areas a
                WHERE g.code IS NULL AND a.region_code = d2.region_code AND a.level = 'community'
                  AND ST_Intersects(a.geom, d2.geom)
                ORDER BY a.code LIMIT 1) a ON true
            WHERE d2.region_code = :region
        ) m
        WHERE d.id = m.id
          AND (d.grid_code IS DISTINCT FROM m.grid_code
               OR (m.community_code IS NOT NULL AND d.community_code IS DISTINCT FROM m.community_code))
    """), {"region": region_code}).rowcount
