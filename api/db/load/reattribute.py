"""After a grid write: re-attribute the dwellings and incidents it affects, in the same transaction.

A grid write (a new version, a changed boundary, a closed or retired grid, a changed community or
town) changes where dwellings and incidents belong.  The write is bracketed by
:func:`snapshot_grids` (the validity and codes of every grid version of the regions written,
before) and :func:`reattribute_after_grid_write` (compare, then two set-based UPDATEs):

- **changed versions**: a version that is new, gone, or whose ``code``/``community_code``/
  ``town_code``/``valid_from``/``valid_to`` differ, or (for the versions of the codes of a staging
  table, whose geometry the snapshot records) whose geometry was corrected in place; its
  *changed period* is the part of time where the old and new validity differ (new: its whole
  validity; a closed version ``[a, inf) -> [a, F)``: ``[F, inf)``; changed codes or geometry:
  the union of both);
- **dwellings** (which follow the CURRENT grids): those inside a changed version's polygon (new
  or, when corrected, old), or whose ``grid_code`` is a changed version's code, are re-derived
  with the point-in-grid rule (:data:`api.db.load.attribution.DWELLING_PLACE_SQL`);
- **incidents** (which follow the version valid at ``reported_at``): those with ``reported_at``
  inside a changed period and either inside that version's polygon (new or old) or attributed to
  it are re-derived with intake's own rule (:func:`api.db.load.attribution.incident_place_joins`),
  keeping every other field (region, status, times...).

Both UPDATEs skip rows whose codes would not change (``IS DISTINCT FROM``), so a write that moves
nobody moves no ``data_versions`` entry of dwellings or incidents.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from sqlalchemy import Connection, text

from api.db.load.attribution import DWELLING_PLACE_SQL, INCIDENT_PLACE_COLUMNS, INCIDENT_PLACE_VALUES, incident_place_joins

__all__ = ["Reattribution", "GridSnapshot", "snapshot_grids", "reattribute_after_grid_write"]

_BEFORE = "_gm_grids_before"
_CHANGES = "_gm_grid_changes"


@dataclass(frozen=True)
class Reattribution:
    """What :func:`reattribute_after_grid_write` did.

    Attributes
    ----------
    versions : int
        Grid versions whose validity or codes changed (new ones included).
    dwellings : int
        Dwellings whose ``grid_code``/``community_code`` changed.
    incidents : int
        Incidents whose ``grid_id``/``grid_code``/``community_code``/``town_code``/``outside_grid``
        changed.
    """

    versions: int = 0
    dwellings: int = 0
    incidents: int = 0

    def as_dict(self) -> dict:
        return {"dwellings": self.dwellings, "incidents": self.incidents}


@dataclass(frozen=True)
class GridSnapshot:
    """The handle :func:`snapshot_grids` returns: the regions whose grid versions were recorded."""

    regions: tuple[str, ...]


def snapshot_grids(conn: Connection, regions: Iterable[str] | str) -> GridSnapshot:
    """Record the grid versions of ``regions`` (codes and validity) before a grid write.

    Creates a temporary table dropped at commit (or by :func:`reattribute_after_grid_write`).
    ``regions`` may also be the name of a staging table with ``region_code`` and ``code``
    columns: the regions are its regions, and the geometry of the current versions of its codes
    is recorded too, so that a geometry corrected in place is seen as a change.
    """
    staged = regions if isinstance(regions, str) else None
    if staged:
        regions = conn.execute(text(f"SELECT DISTINCT region_code FROM {staged}")).scalars()
    regions = sorted({str(r) for r in regions})
    geom = (f"""CASE WHEN valid_to IS NULL AND EXISTS (
                    SELECT 1 FROM {staged} t WHERE t.region_code = grids.region_code AND t.code = grids.code)
                THEN geom END""" if staged else "NULL::geometry")
    conn.execute(text(f"""
        DROP TABLE IF EXISTS {_BEFORE};
        CREATE TEMP TABLE {_BEFORE} ON COMMIT DROP AS
        SELECT id, region_code, code, community_code, town_code, valid_from,
               COALESCE(valid_to, 'infinity') AS valid_to, {geom} AS geom
        FROM grids WHERE region_code = ANY(:regions);
    """), {"regions": regions})
    return GridSnapshot(tuple(regions))


def _changes(conn: Connection, regions: tuple[str, ...]) -> int:
    """Fill the changed versions (id, region_code, code, lo, hi, old_geom) from the snapshot; their
    count.  ``old_geom``: the geometry before an in-place correction, else NULL."""
    conn.execute(text(f"""
        DROP TABLE IF EXISTS {_CHANGES};
        CREATE TEMP TABLE {_CHANGES} ON COMMIT DROP AS
        WITH a AS (
            SELECT id, region_code, code, community_code, town_code, valid_from AS f,
                   COALESCE(valid_to, 'infinity') AS t, geom
            FROM grids WHERE region_code = ANY(:regions)
        ), j AS (
            SELECT COALESCE(a.id, b.id) AS id, COALESCE(a.region_code, b.region_code) AS region_code,
                   COALESCE(a.code, b.code) AS code, a.id IS NULL OR b.id IS NULL AS whole,
                   (a.region_code, a.code, a.community_code, a.town_code)
                       IS DISTINCT FROM (b.region_code, b.code, b.community_code, b.town_code)
                   OR (a.id IS NOT NULL AND b.geom IS NOT NULL AND NOT ST_Equals(a.geom, b.geom)) AS codes,
                   CASE WHEN a.id IS NOT NULL AND b.geom IS NOT NULL AND NOT ST_Equals(a.geom, b.geom)
                        THEN b.geom END AS old_geom,
                   a.f AS a_from, a.t AS a_to, b.valid_from AS b_from, b.valid_to AS b_to
            FROM a FULL JOIN {_BEFORE} b ON a.id = b.id
        ), d AS (
            SELECT id, region_code, code, old_geom,
                   CASE WHEN whole THEN COALESCE(a_from, b_from)
                        WHEN codes OR a_from <> b_from THEN LEAST(a_from, b_from) ELSE LEAST(a_to, b_to) END AS lo,
                   CASE WHEN whole THEN COALESCE(a_to, b_to)
                        WHEN codes OR a_to <> b_to THEN GREATEST(a_to, b_to) ELSE GREATEST(a_from, b_from) END AS hi
            FROM j
            WHERE whole OR codes OR a_from <> b_from OR a_to <> b_to
        )
        SELECT * FROM d WHERE lo < hi;
        DROP TABLE {_BEFORE};
    """), {"regions": list(regions)})
    return conn.execute(text(f"SELECT count(*) FROM {_CHANGES}")).scalar_one()


def _dwellings(conn: Connection) -> int:
    cand = f"""
        SELECT x.id FROM {_CHANGES} c JOIN grids cg ON cg.id = c.id CROSS JOIN LATERAL (
            SELECT d.id FROM dwellings d WHERE d.region_code = cg.region_code AND ST_Intersects(cg.geom, d.geom)) x
        UNION
        SELECT d.id FROM {_CHANGES} c JOIN dwellings d ON d.region_code = c.region_code AND d.grid_code = c.code
        UNION
        SELECT d.id FROM {_CHANGES} c JOIN dwellings d ON d.region_code = c.region_code
                                                      AND ST_Intersects(c.old_geom, d.geom)
        WHERE c.old_geom IS NOT NULL"""
    return conn.execute(text(DWELLING_PLACE_SQL.format(cand=cand))).rowcount


def _incidents_sql() -> str:
    cols = ("grid_id", "grid_code", "community_code", "town_code", "outside_grid")
    sets = ", ".join(f"{c} = {v}" for c, v in zip(cols, INCIDENT_PLACE_VALUES))
    return f"""
        WITH cand AS (
            SELECT i.id FROM {_CHANGES} c JOIN grids cg ON cg.id = c.id
            JOIN incidents i ON ST_Intersects(cg.geom, i.geom) AND tstzrange(c.lo, c.hi) @> i.reported_at
            UNION
            SELECT i.id FROM {_CHANGES} c
            JOIN incidents i ON c.old_geom IS NOT NULL AND ST_Intersects(c.old_geom, i.geom)
                            AND tstzrange(c.lo, c.hi) @> i.reported_at
            UNION
            SELECT i.id FROM {_CHANGES} c
            JOIN incidents i ON i.region_code = c.region_code AND i.grid_code = c.code AND i.grid_id = c.id
                            AND i.reported_at >= c.lo AND i.reported_at < c.hi
        ), p AS (
            SELECT i.id, {INCIDENT_PLACE_COLUMNS}
            FROM incidents i JOIN cand ON cand.id = i.id
            {incident_place_joins("i.geom", "i.reported_at")}
        )
        UPDATE incidents t SET {sets}
        FROM p WHERE t.id = p.id
          AND ({", ".join(f"t.{c}" for c in cols)}) IS DISTINCT FROM ({", ".join(INCIDENT_PLACE_VALUES)})
    """


def _incidents(conn: Connection) -> int:
    return conn.execute(text(_incidents_sql())).rowcount


def reattribute_after_grid_write(conn: Connection, snapshot: GridSnapshot) -> Reattribution:
    """Re-attribute the dwellings and incidents touched by the grid write since :func:`snapshot_grids`.

    Call in the same transaction as the write, after it.  Set-based: one UPDATE for dwellings,
    one for incidents (GiST on the points, ``incidents_grid_idx`` for those attributed to a
    changed version).

    Returns
    -------
    Reattribution
        Counts of changed grid versions, dwellings and incidents whose attribution changed.
    """
    versions = _changes(conn, snapshot.regions)
    if not versions:
        conn.execute(text(f"DROP TABLE {_CHANGES}"))
        return Reattribution()
    conn.execute(text("SET LOCAL jit = off"))  # compiling costs more than these statements
    conn.execute(text(f"ANALYZE {_CHANGES}"))
    out = Reattribution(versions=versions, dwellings=_dwellings(conn), incidents=_incidents(conn))
    conn.execute(text(f"DROP TABLE {_CHANGES}"))
    return out
