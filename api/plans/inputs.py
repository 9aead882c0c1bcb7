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


def _frame(conn: Connection, sql: str, params: dict) -> gpd.GeoDataFrame:
    return gpd.read_postgis(text(sql), conn, geom_col="geom", params=params).rename_geometry("geometry")


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
                         "WHERE region_code = :r AND level = 'community' AND code = ANY(:codes) ORDER BY code", p)
    streets = _frame(conn, """
        SELECT s.source_id, s.road_class, s.geom FROM streets s
        WHERE s.region_code = :r AND EXISTS (
            SELECT 1 FROM areas a WHERE a.region_code = :r AND a.level = 'community' AND a.code = ANY(:codes)
              AND ST_Intersects(a.geom, s.geom))
        ORDER BY s.source_id""", p)
    dwellings = _frame(conn, """
        SELECT source_id, households, community_code, grid_code, geom FROM dwellings
        WHERE region_code = :r AND community_code = ANY(:codes) ORDER BY source_id""", p)
    grids = _frame(conn, """
        SELECT id, code, name, community_code, town_code, chief, worker, phone, geom FROM grids
        WHERE region_code = :r AND valid_to IS NULL AND community_code = ANY(:codes) ORDER BY code""", p)
    return Inputs(region_code, areas, streets, dwellings, grids)


_FINGERPRINT = """
    SELECT c.code,
        (SELECT count(*) FROM dwellings d WHERE d.region_code = :r AND d.community_code = c.code) AS dwellings,
        (SELECT COALESCE(sum(households), 0) FROM dwellings d
          WHERE d.region_code = :r AND d.community_code = c.code) AS households,
        (SELECT md5(COALESCE(string_agg(d.source_id || ':' || d.households || ':' || encode(ST_AsBinary(d.geom), 'hex'),
                                        ',' ORDER BY d.source_id), ''))
           FROM dwellings d WHERE d.region_code = :r AND d.community_code = c.code) AS dwellings_md5,
        (SELECT COALESCE(array_agg(g.id ORDER BY g.id), '{}') FROM grids g
          WHERE g.region_code = :r AND g.community_code = c.code AND g.valid_to IS NULL) AS grid_ids,
        (SELECT md5(encode(ST_AsBinary(a.geom), 'hex')) FROM areas a
          WHERE a.region_code = :r AND a.code = c.code AND a.level = 'community') AS outline_md5
    FROM unnest(CAST(:codes AS varchar[])) AS c(code)
"""


def fingerprint(conn: Connection, region_code: str, codes: list[str]) -> dict[str, dict]:
    """Per community: ``dwellings``, ``households``, ``dwellings_md5`` (ids, households, points),
    ``grid_ids`` (current grid versions) and ``outline_md5`` (its polygon)."""
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
