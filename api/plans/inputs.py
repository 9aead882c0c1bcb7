"""What a redraw reads from the database, and the fingerprint of a community a plan was made from.

The engine (:func:`geo.zoning.solve_county`) takes EPSG:4326 frames: the communities' polygons,
the streets crossing them, their dwellings (``source_id``, ``households``, ``community_code`` as
attributed at import) and their current grids.  A plan records, per community, a *base*: counts
and md5 digests of the community's dwellings, current grid versions and outline when it was made.
Publishing compares it with the same figures now (:func:`changes_since`) and names what changed.
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
from sqlalchemy import Connection, text

from api.jurisdiction import Jurisdiction

__all__ = ["Inputs", "read_inputs", "community_codes", "fingerprint", "changes_since"]


@dataclass(frozen=True)
class Inputs:
    """The engine's inputs for some communities of one region (frames in EPSG:4326)."""

    region_code: str
    areas: gpd.GeoDataFrame
    streets: gpd.GeoDataFrame
    dwellings: gpd.GeoDataFrame
    grids: gpd.GeoDataFrame


def _frame(conn: Connection, sql: str, params: dict, names: tuple[str, ...]) -> gpd.GeoDataFrame:
    """The rows of ``sql`` (its columns ``names``, the last ``geom``) as an EPSG:4326 frame, through
    :func:`api.db.export.read_frame` (plain tuples, one vectorised WKB parse: ``read_postgis``
    parsed the city's 520,000 geometries one by one, ~6 s)."""
    from sqlalchemy import column

    from api.db.export import read_frame

    return read_frame(conn, text(sql).bindparams(**params).columns(*[column(n) for n in names]))


def community_codes(conn: Connection, scope: Jurisdiction, *, community: str | None = None,
                    town: str | None = None) -> list[tuple[str, str]]:
    """``(region_code, code)`` of the communities with a polygon in ``areas`` that ``community``
    or ``town`` names (all of them in scope when neither is given), sorted."""
    from sqlalchemy import select

    from api.db.models import areas

    q = select(areas.c.region_code, areas.c.code).where(areas.c.level == "community", scope.clause(areas))
    if community is not None:
        q = q.where(areas.c.code == community)
    if town is not None:
        q = q.where(areas.c.parent_code == town)
    return [(r.region_code, r.code) for r in conn.execute(q.order_by(areas.c.region_code, areas.c.code))]


def read_inputs(conn: Connection, region_code: str, codes: list[str]) -> Inputs:
    """The communities ``codes`` of ``region_code``, with their streets, dwellings and current grids."""
    p = {"r": region_code, "codes": list(codes)}
    areas = _frame(conn, "SELECT code, name, level, parent_code, geom FROM areas "
                         "WHERE region_code = :r AND level = 'community' AND code = ANY(:codes) ORDER BY code", p,
                   ("code", "name", "level", "parent_code", "geom"))
    streets = _frame(conn, """
        SELECT s.source_id, s.road_class, s.geom FROM streets s
        WHERE s.region_code = :r AND s.id IN (  -- community by community: each polygon prepared once
            SELECT x.id FROM areas a JOIN streets x ON x.region_code = :r AND ST_Intersects(a.geom, x.geom)
            WHERE a.region_code = :r AND a.level = 'community' AND a.code = ANY(:codes))
        ORDER BY s.source_id""", p, ("source_id", "road_class", "geom"))
    dwellings = _frame(conn, """
        SELECT source_id, households, community_code, grid_code, geom FROM dwellings
        WHERE region_code = :r AND community_code = ANY(:codes) ORDER BY source_id""", p,
                       ("source_id", "households", "community_code", "grid_code", "geom"))
    grids = _frame(conn, """
        SELECT id, code, name, community_code, town_code, chief, worker, phone, geom FROM grids
        WHERE region_code = :r AND valid_to IS NULL AND community_code = ANY(:codes) ORDER BY code""", p,
                   ("id", "code", "name", "community_code", "town_code", "chief", "worker", "phone", "geom"))
    return Inputs(region_code, areas, streets, dwellings, grids)


_FINGERPRINT = """
    WITH d AS (
        SELECT community_code AS code, count(*) AS dwellings, sum(households) AS households,
               md5(COALESCE(string_agg(source_id || ':' || households || ':' || encode(ST_AsBinary(geom), 'hex'),
                                       ',' ORDER BY source_id), '')) AS dwellings_md5
        FROM dwellings WHERE region_code = :r AND community_code = ANY(:codes) GROUP BY community_code),
    g AS (
        SELECT community_code AS code, array_agg(id ORDER BY id) AS grid_ids
        FROM grids WHERE region_code = :r AND valid_to IS NULL AND community_code = ANY(:codes)
        GROUP BY community_code)
    SELECT c.code, COALESCE(d.dwellings, 0) AS dwellings, COALESCE(d.households, 0) AS households,
        COALESCE(d.dwellings_md5, md5('')) AS dwellings_md5, COALESCE(g.grid_ids, '{}') AS grid_ids,
        (SELECT md5(encode(ST_AsBinary(a.geom), 'hex')) FROM areas a
          WHERE a.region_code = :r AND a.code = c.code AND a.level = 'community') AS outline_md5
    FROM unnest(CAST(:codes AS varchar[])) AS c(code)
    LEFT JOIN d ON d.code = c.code LEFT JOIN g ON g.code = c.code
"""


def fingerprint(conn: Connection, region_code: str, codes: list[str]) -> dict[str, dict]:
    """Per community: ``dwellings``, ``households``, ``dwellings_md5`` (ids, households, points),
    ``grid_ids`` (current grid versions) and ``outline_md5`` (its polygon).

    One pass over the dwellings and grids grouped by community (a subquery per community scanned the
    dwellings three times each: 25 s for the city's 333 communities)."""
    rows = conn.execute(text(_FINGERPRINT), {"r": region_code, "codes": list(codes)})
    return {r.code: {"dwellings": int(r.dwellings), "households": int(r.households),
                     "dwellings_md5": r.dwellings_md5, "grid_ids": [int(x) for x in r.grid_ids],
                     "outline_md5": r.outline_md5} for r in rows}


def changes_since(base: dict[str, dict], now: dict[str, dict]) -> list[str]:
    """What changed in each community between two :func:`fingerprint` results, in words."""
    out = []
    for code in sorted(base):
        b, n = base[code], now.get(code, {})
        if b.get("dwellings_md5") != n.get("dwellings_md5"):
            out.append(f"community {code}: dwellings changed ({b['dwellings']} dwellings / {b['households']} "
                       f"households when the plan was made, {n.get('dwellings', 0)} / {n.get('households', 0)} now)")
        if b.get("grid_ids") != n.get("grid_ids"):
            out.append(f"community {code}: its current grids changed since the plan was made (another publish "
                       f"or a grid import: versions {b['grid_ids']} then, {n.get('grid_ids', [])} now)")
        if b.get("outline_md5") != n.get("outline_md5"):
            out.append(f"community {code}: its boundary changed since the plan was made")
    return out
