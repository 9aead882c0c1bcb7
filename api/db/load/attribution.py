"""The point-in-grid rule in SQL, and the attribution of points at import and after a grid change.

The rule is :mod:`geo.attribution`'s, written here once in SQL: a point belongs to the grid whose
polygon covers it (:func:`covers_sql`: ``ST_Intersects``, interior or boundary); on a shared edge or
vertex, or an overlap, the grid with the smallest code in byte order, then the smallest id
(:func:`precedence_sql`: ``ORDER BY code COLLATE "C", id``).  Communities are chosen the same way
among the community polygons.  Every SQL that places a point uses these two helpers: incident
intake and incident re-attribution (:func:`incident_place_joins`), dwelling re-attribution
(:data:`DWELLING_PLACE_SQL`), and pages (:func:`point_grid_id_sql`).  At import the points are
placed in Python by :func:`geo.attribution.grid_index` (same rule) against the CURRENT grids
(``valid_to IS NULL``) of the same region, then the communities.  Geometries are EPSG:4326 lon/lat.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from sqlalchemy import Connection, text

from geo.attribution import grid_index

__all__ = ["attribute_points", "reattribute_dwellings", "incident_place_joins", "INCIDENT_PLACE_COLUMNS",
           "INCIDENT_PLACE_VALUES", "DWELLING_PLACE_SQL", "covers_sql", "precedence_sql", "point_grid_id_sql"]


def covers_sql(polygon: str, point: str) -> str:
    """SQL condition: the polygon covers the point (interior or boundary), the rule's predicate.

    Parameters
    ----------
    polygon, point : str
        SQL expressions of EPSG:4326 geometries, e.g. ``g.geom`` and ``d.geom``.
    """
    return f"ST_Intersects({polygon}, {point})"


def precedence_sql(alias: str, code: str = "code", id_: str = "id") -> str:
    """SQL ``ORDER BY`` keys of the rule's tie-break: the smallest code in byte order, then id.

    ``alias`` is the table alias of the grids (or areas: pass ``id_=None``, areas have no id
    that matters: their code is unique per region).
    """
    keys = f'{alias}.{code} COLLATE "C"'
    return keys + (f", {alias}.{id_}" if id_ else "")


def point_grid_id_sql(point: str, *, at: str | None = None) -> str:
    """SQL scalar subquery: the id of the grid version that ``point`` belongs to, NULL if none.

    Parameters
    ----------
    point : str
        SQL expression of the point (EPSG:4326), e.g. ``stations.geom``.
    at : str, optional
        SQL expression of the instant (timestamptz): the version valid then
        (``valid_from <= at < valid_to``); default the current grids (``valid_to IS NULL``).

    Use it as ``grids.id = (<this>)`` to ask "is this point in that grid" by the rule, e.g. through
    ``sqlalchemy.literal_column``.  The subquery uses the alias ``_pg``.
    """
    when = ("_pg.valid_to IS NULL" if at is None
            else f"_pg.valid_from <= {at} AND (_pg.valid_to IS NULL OR _pg.valid_to > {at})")
    return (f"(SELECT _pg.id FROM grids _pg WHERE {covers_sql('_pg.geom', point)} AND {when} "
            f"ORDER BY {precedence_sql('_pg')} LIMIT 1)")

#: The incident attribution rule, shared by intake (api.incidents.intake) and the re-attribution
#: after a grid change (api.db.load.reattribute), so the two can never disagree.  Select these
#: columns with the joins of :func:`incident_place_joins`: the grid VERSION that the point belongs
#: to by the rule among those whose validity ``valid_from <= at < valid_to`` (``valid_to`` NULL:
#: open) holds; no grid: the community and town covering the point from ``areas`` (same rule).
INCIDENT_PLACE_COLUMNS = """g.id AS grid_id, g.code AS grid_code, g.region_code AS grid_region,
           g.community_code AS g_comm, COALESCE(g.town_code, gc.parent_code) AS g_town,
           oc.code AS o_comm, oc.region_code AS o_region, COALESCE(oc.parent_code, ot.code) AS o_town"""

#: The stored incident columns from :data:`INCIDENT_PLACE_COLUMNS` (selected as alias ``p``):
#: grid_id, grid_code, community_code, town_code, outside_grid.
INCIDENT_PLACE_VALUES = ("p.grid_id", "p.grid_code", "COALESCE(p.g_comm, p.o_comm)", "COALESCE(p.g_town, p.o_town)",
                         "p.grid_id IS NULL")


def incident_place_joins(pt: str, at: str) -> str:
    """The ``LEFT JOIN LATERAL`` clauses behind :data:`INCIDENT_PLACE_COLUMNS`.

    Parameters
    ----------
    pt : str
        SQL expression of the incident's point (EPSG:4326 lon/lat), e.g. ``s.pt``.
    at : str
        SQL expression of its ``reported_at`` (timestamptz).

    The clauses use the aliases ``g``, ``gc``, ``oc`` and ``ot``; the caller must not.
    """
    return f"""
    LEFT JOIN LATERAL (
        SELECT g.id, g.code, g.region_code, g.community_code, g.town_code FROM grids g
        WHERE {covers_sql("g.geom", pt)} AND g.valid_from <= {at}
          AND (g.valid_to IS NULL OR g.valid_to > {at})
        ORDER BY {precedence_sql("g")} LIMIT 1
    ) g ON true
    LEFT JOIN areas gc ON gc.region_code = g.region_code AND gc.code = g.community_code
    LEFT JOIN LATERAL (
        SELECT a.code, a.region_code, a.parent_code FROM areas a
        WHERE g.id IS NULL AND a.level = 'community' AND {covers_sql("a.geom", pt)}
        ORDER BY {precedence_sql("a", id_=None)} LIMIT 1
    ) oc ON true
    LEFT JOIN LATERAL (
        SELECT a.code FROM areas a
        WHERE g.id IS NULL AND oc.parent_code IS NULL AND a.level = 'town' AND {covers_sql("a.geom", pt)}
        ORDER BY {precedence_sql("a", id_=None)} LIMIT 1
    ) ot ON true"""


def _first_cover(conn: Connection, sql: str, params: dict, points: np.ndarray, regions: np.ndarray,
                 todo: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For points ``todo``, the (code, extra) of the polygon of the same region that each belongs
    to by :func:`geo.attribution.grid_index`; None where none does.  Polygons come from ``sql``
    (id, code, extra, region_code, wkb)."""
    n = len(points)
    code = np.full(n, None, dtype=object)
    extra = np.full(n, None, dtype=object)
    idx = np.flatnonzero(todo)
    if not len(idx):
        return code, extra
    polys = conn.execute(text(sql), params).all()
    if not polys:
        return code, extra
    p_id = np.array([r[0] for r in polys], dtype=np.int64)
    p_code = np.array([r[1] for r in polys], dtype=object)
    p_extra = np.array([r[2] for r in polys], dtype=object)
    p_region = np.array([r[3] for r in polys], dtype=object)
    p_geom = shapely.from_wkb([bytes(r[4]) for r in polys])
    for region in set(regions[idx]):
        mine = idx[regions[idx] == region]
        cand = np.flatnonzero(p_region == region)
        if not len(cand):
            continue
        at = grid_index(points[mine], p_geom[cand], p_code[cand], p_id[cand])
        hit = at >= 0
        code[mine[hit]] = p_code[cand[at[hit]]]
        extra[mine[hit]] = p_extra[cand[at[hit]]]
    return code, extra


def attribute_points(conn: Connection, layer: str, frame: gpd.GeoDataFrame, region_code: str) -> gpd.GeoDataFrame:
    """Fill missing grid_code/community_code of dwellings (community_code of stations) by the
    point-in-grid rule against the current grids of their region, then the communities."""
    points = frame.geometry.to_numpy()
    regions = frame["region_code"].astype("string").fillna(region_code).to_numpy(dtype=object)
    params = {"regions": sorted(set(regions))}
    frame = frame.copy()
    community = frame["community_code"].astype(object).where(frame["community_code"].notna(), None).to_numpy().copy()
    if layer == "dwellings":
        grid = frame["grid_code"].astype(object).where(frame["grid_code"].notna(), None).to_numpy().copy()
        g_code, g_comm = _first_cover(
            conn, "SELECT id, code, community_code, region_code, ST_AsBinary(geom) FROM grids "
                  "WHERE valid_to IS NULL AND region_code = ANY(:regions)",
            params, points, regions, pd.isna(grid))
        fill = pd.isna(grid) & ~pd.isna(g_code)
        grid[fill] = g_code[fill]
        community = np.where(pd.isna(community) & fill, g_comm, community)
        frame["grid_code"] = pd.array(grid, dtype="string")
    c_code, _ = _first_cover(
        conn, "SELECT 0, code, NULL, region_code, ST_AsBinary(geom) FROM areas "
              "WHERE level = 'community' AND region_code = ANY(:regions)",
        params, points, regions, pd.isna(community))
    community = np.where(pd.isna(community), c_code, community)
    frame["community_code"] = pd.array(community, dtype="string")
    return frame


#: Re-derive dwellings' grid_code/community_code from the CURRENT grids of their region (by the
#: rule; in no grid: grid_code NULL, community by the rule among the communities, else kept) for the dwellings whose ids ``{cand}`` selects.  Grid-outer
#: (each current grid near the dwellings finds its points through the GiST index, so PostGIS
#: reuses one prepared polygon per grid): ~5x faster than a lookup per dwelling.  Rows whose codes
#: would not change are skipped, so an UPDATE that changes nothing moves no data version.
DWELLING_PLACE_SQL = f"""
    WITH cand AS MATERIALIZED ({{cand}}),
    box AS MATERIALIZED (
        SELECT ST_Extent(d.geom)::geometry AS b, array_agg(DISTINCT d.region_code) AS regions
        FROM dwellings d JOIN cand ON cand.id = d.id
    ),
    hit AS (
        SELECT DISTINCT ON (x.id) x.id, g.code, g.community_code
        FROM box, grids g CROSS JOIN LATERAL (
            SELECT d.id FROM dwellings d WHERE d.region_code = g.region_code AND {covers_sql("g.geom", "d.geom")}) x
        WHERE g.valid_to IS NULL AND g.region_code = ANY(box.regions) AND g.geom && box.b
          AND x.id IN (SELECT id FROM cand)
        ORDER BY x.id, {precedence_sql("g")}
    ),
    m AS (
        SELECT d2.id, h.code AS grid_code, COALESCE(h.community_code, a.code) AS community_code
        FROM cand JOIN dwellings d2 ON d2.id = cand.id
        LEFT JOIN hit h ON h.id = d2.id
        LEFT JOIN LATERAL (
            SELECT code FROM areas a
            WHERE h.id IS NULL AND a.region_code = d2.region_code AND a.level = 'community'
              AND {covers_sql("a.geom", "d2.geom")}
            ORDER BY {precedence_sql("a", id_=None)} LIMIT 1) a ON true
    )
    UPDATE dwellings d SET grid_code = m.grid_code, community_code = COALESCE(m.community_code, d.community_code)
    FROM m
    WHERE d.id = m.id
      AND (d.grid_code IS DISTINCT FROM m.grid_code
           OR (m.community_code IS NOT NULL AND d.community_code IS DISTINCT FROM m.community_code))
"""


def reattribute_dwellings(conn: Connection, region_code: str) -> int:
    """Re-derive every dwelling's grid_code/community_code in a region from the current grids.

    Grid writes through :func:`api.db.load.load_frame` already re-attribute the dwellings they
    affect (:mod:`api.db.load.reattribute`); this re-does a whole region
    (e.g. a database written before that).  A dwelling in no current grid gets ``grid_code``
    NULL and keeps (or gets, by point-in-polygon) its community.  Returns the number of
    dwellings whose codes changed.
    """
    return conn.execute(text(DWELLING_PLACE_SQL.format(cand="SELECT id FROM dwellings WHERE region_code = :region")),
                        {"region": region_code}).rowcount
