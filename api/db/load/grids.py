"""Loading grids: the community and overlap checks, the versioned upsert (grid history) with a replace
mode, the in-place correction, and the gap warnings.

A grid's boundary is versioned (``valid_from``/``valid_to``, at most one version of a code valid at
any instant): :func:`upsert_grids` keeps a grid whose boundary is unchanged in place (attributes
updated when they differ), closes the current version of a grid whose boundary changed
(``valid_to`` = the new ``valid_from``, default ``now()``) and inserts the new version.  With
``replace=True`` the file is taken as the complete set of grids of every community it names:
the current grids of those communities that are missing from it are closed (``valid_to = now()``),
in the same transaction.  Grids of communities the file does not name are never touched.
With ``correct=True`` (:func:`correct_grids`) the file instead corrects the current versions in
place: same validity, new geometry and attributes (a coordinate-system mistake fixed in history).

Grids of one community must not overlap by more than a tolerance (m2, the setting
``GRIDMAP_GRID_OVERLAP_M2``, measured in the metric CRS :func:`geo.crs.metric_crs_for` picks for the
file): :func:`check_overlaps` compares the file's grids with each other and with the community's
current grids that the write keeps.  Gaps between the grids of a community (its area covered by
none of its current grids, after the write) are warnings (:func:`find_gaps`), not faults.
Dwellings and incidents are not re-attributed here: :func:`api.db.load.load_frame` does it after
this write, same transaction (:mod:`api.db.load.reattribute`).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, text

from geo.errors import InvalidInput, Problem

__all__ = ["check_grids", "check_overlaps", "find_gaps", "upsert_grids", "check_corrections", "correct_grids",
           "GridChanges",
           "GRID_TOLERANCE_M", "GRID_TOLERANCE_SHARE"]

#: A grid may stick out of its community by this much (metres) along the boundary ...
GRID_TOLERANCE_M = 1.0
#: ... plus this share of its own area, before the import is refused.
GRID_TOLERANCE_SHARE = 0.005
#: A boundary that moved by less than this (degrees, about 0.1 m; the API serves 7 decimals) is the same
#: boundary: a grid read from the API and written back unchanged gets no new version.
SAME_BOUNDARY_DEG = 1e-6


def check_grids(conn: Connection, tmp: str) -> list[Problem]:
    """Every staged grid whose community is unknown, not a community, or that reaches outside it.

    A grid may stick out of its community by :data:`GRID_TOLERANCE_M` metres along the boundary
    plus :data:`GRID_TOLERANCE_SHARE` of its own area (areas measured on the spheroid, m2).
    Returns one :class:`~geo.errors.Problem` per fault, by file row; empty when all fit.
    """
    rows = conn.execute(text(f"""
        WITH c AS MATERIALIZED (  -- each community's buffer drawn once, not once per grid joined to it
            SELECT a.region_code, a.code, a.level, a.geom,
                   ST_Buffer(a.geom::geography, :tol)::geometry AS buf
            FROM areas a
            WHERE (a.region_code, a.code) IN (SELECT DISTINCT region_code, community_code FROM {tmp})
        ),
        j AS (
            SELECT t._row, t.code, t.community_code, c.code AS found, c.level, t.geom AS g, c.buf,
                   c.buf IS NOT NULL AND NOT ST_CoveredBy(t.geom, c.buf) AS sticks_out
            FROM {tmp} t LEFT JOIN c ON c.region_code = t.region_code AND c.code = t.community_code
        ),
        d AS (
            SELECT j.*, CASE WHEN sticks_out THEN ST_Difference(g, buf) END AS outside FROM j
        )
        SELECT _row, code, community_code, found, level,
               ST_Area(g::geography) AS area_m2,
               CASE WHEN sticks_out THEN ST_Area(outside::geography) END AS outside_m2,
               CASE WHEN sticks_out AND NOT ST_IsEmpty(outside) THEN ST_X(ST_PointOnSurface(outside)) END AS x,
               CASE WHEN sticks_out AND NOT ST_IsEmpty(outside) THEN ST_Y(ST_PointOnSurface(outside)) END AS y,
               (SELECT string_agg(o.code, ', ' ORDER BY o.code) FROM areas o
                 WHERE sticks_out AND o.level = 'community' AND o.code <> d.community_code
                   AND ST_Intersects(o.geom, d.outside)
                   AND ST_Area(ST_Intersection(o.geom, d.outside)::geography) > :tol) AS others
        FROM d
        WHERE found IS NULL OR level <> 'community' OR sticks_out
        ORDER BY _row
    """), {"tol": GRID_TOLERANCE_M}).all()
    problems = []
    for r in rows:
        if r.found is None:
            problems.append(Problem(
                f"community {r.community_code!r} is not among the stored areas; import the areas first",
                row=r._row, field="community_code", feature_id=r.code))
        elif r.level != "community":
            problems.append(Problem(
                f"{r.community_code!r} is a {r.level}, not a community", row=r._row, field="community_code",
                feature_id=r.code))
        elif r.outside_m2 is not None and r.outside_m2 > GRID_TOLERANCE_SHARE * r.area_m2:
            across = f"; that part lies in community {r.others}" if r.others else ""
            problems.append(Problem(
                f"the grid reaches outside its community {r.community_code!r}: {r.outside_m2:,.0f} m2 of its "
                f"{r.area_m2:,.0f} m2 ({100 * r.outside_m2 / r.area_m2:.1f}%) lie more than {GRID_TOLERANCE_M:g} m "
                f"beyond the community boundary, e.g. at lon/lat ({r.x:.6f}, {r.y:.6f}){across}",
                row=r._row, field="geometry", feature_id=r.code))
    return problems


@dataclass(frozen=True)
class GridChanges:
    """What :func:`upsert_grids` did, in grids (codes).

    Attributes
    ----------
    added : int
        Codes with no current version: inserted.
    new_versions : int
        Grids whose boundary changed: current version closed, new version inserted.
    updated : int
        Same boundary, other attributes changed: updated in place.
    unchanged : int
        Stored exactly as given.
    closed : int
        Current grids of the file's communities missing from the file, closed (``replace`` only).
    corrected : int
        Current versions whose geometry was replaced in place (``correct`` only).
    """

    added: int = 0
    new_versions: int = 0
    updated: int = 0
    unchanged: int = 0
    closed: int = 0
    corrected: int = 0


def _close_missing(conn: Connection, tmp: str) -> int:
    """Close (``valid_to = now()``) the current grids of the staged communities absent from ``tmp``."""
    missing = f"""
        FROM grids g
        WHERE g.valid_to IS NULL
          AND (g.region_code, g.community_code) IN (SELECT DISTINCT region_code, community_code FROM {tmp})
          AND NOT EXISTS (SELECT 1 FROM {tmp} t WHERE t.region_code = g.region_code AND t.code = g.code)
    """
    future = conn.execute(text(f"SELECT g.code, g.community_code, g.valid_from {missing} "
                               "AND g.valid_from >= now() ORDER BY g.code")).all()
    if future:
        raise InvalidInput("Grids missing from the file cannot be closed now; nothing was imported", [
            Problem(f"grid {r.code!r} of community {r.community_code!r} is not in the file, so --replace would "
                    f"close it, but its current version only starts at {r.valid_from.isoformat()}",
                    field="code", feature_id=r.code) for r in future])
    return conn.execute(text(f"""
        UPDATE grids SET valid_to = now()
        WHERE id IN (SELECT g.id {missing})
    """)).rowcount


def check_overlaps(conn: Connection, tmp: str, *, replace: bool, metric_epsg: int,
                   tolerance_m2: float) -> list[Problem]:
    """Every pair of grids of one community that overlap by more than ``tolerance_m2``.

    Compares each staged grid with the other staged grids of its community and, unless
    ``replace`` (which closes them), with the community's current grids that the file does not
    contain (a staged code replaces its own current version).  Areas in m2 in ``metric_epsg``.
    The polygons are projected to ``metric_epsg`` before they are intersected (a shared edge
    drawn in a metric CRS stays shared there, while in lon/lat a T-junction leaves slivers).
    Returns one :class:`~geo.errors.Problem` per pair, naming both codes, the overlap area and a
    lon/lat (EPSG:4326) inside it.
    """
    rows = conn.execute(text(f"""
        WITH f AS (
            SELECT t._row, t.region_code, t.code, t.community_code, t.geom FROM {tmp} t
        ), keep AS (
            SELECT NULL::integer AS _row, g.region_code, g.code, g.community_code, g.geom FROM grids g
            WHERE NOT :replace AND g.valid_to IS NULL
              AND (g.region_code, g.community_code) IN (SELECT DISTINCT region_code, community_code FROM {tmp})
              AND NOT EXISTS (SELECT 1 FROM {tmp} t WHERE t.region_code = g.region_code AND t.code = g.code)
        ), other AS (
            SELECT * FROM f UNION ALL SELECT * FROM keep
        ), x AS (
            SELECT a._row, a.code, a.community_code, b._row AS b_row, b.code AS b_code,
                   ST_Intersection(ST_Transform(a.geom, :epsg), ST_Transform(b.geom, :epsg)) AS o
            FROM f a JOIN other b ON b.region_code = a.region_code AND b.community_code = a.community_code
                                 AND b.code <> a.code AND (b._row IS NULL OR a._row < b._row)
                                 AND ST_Intersects(a.geom, b.geom) AND NOT ST_Touches(a.geom, b.geom)
        ), m AS (
            SELECT x.*, ST_Area(o) AS m2 FROM x
        )
        SELECT _row, code, community_code, b_row, b_code, m2,
               ST_X(ST_Transform(ST_PointOnSurface(o), 4326)) AS x, ST_Y(ST_Transform(ST_PointOnSurface(o), 4326)) AS y
        FROM m WHERE m2 > :tol ORDER BY _row, b_code COLLATE "C"
    """), {"replace": replace, "epsg": metric_epsg, "tol": tolerance_m2}).all()
    return [Problem(
        f"grid {r.code!r} overlaps grid {r.b_code!r} "
        + (f"(row {r.b_row}) " if r.b_row is not None else "(stored, not in the file) ")
        + f"of community {r.community_code!r} by {r.m2:,.1f} m2, e.g. at lon/lat ({r.x:.6f}, {r.y:.6f}); "
        f"grids of a community may overlap by at most {tolerance_m2:g} m2 (GRIDMAP_GRID_OVERLAP_M2)",
        row=r._row, field="geometry", feature_id=r.code) for r in rows]


def find_gaps(conn: Connection, tmp: str, *, metric_epsg: int, tolerance_m2: float) -> list[Problem]:
    """Gaps between the grids of the staged communities, after the write: each piece of a community
    that none of its current grids covers and whose area exceeds ``tolerance_m2`` (m2 in
    ``metric_epsg``), largest first, with a lon/lat (EPSG:4326) inside it.  Warnings, not faults.
    """
    rows = conn.execute(text(f"""
        WITH c AS (
            SELECT a.region_code, a.code, a.geom FROM areas a
            WHERE a.level = 'community'
              AND (a.region_code, a.code) IN (SELECT DISTINCT region_code, community_code FROM {tmp})
        ), u AS (
            SELECT c.code, ST_Difference(ST_Transform(c.geom, :epsg),
                                         COALESCE(ST_Union(ST_Transform(g.geom, :epsg)),
                                                  ST_SetSRID('GEOMETRYCOLLECTION EMPTY'::geometry, :epsg))) AS gap
            FROM c LEFT JOIN grids g ON g.region_code = c.region_code AND g.community_code = c.code
                                    AND g.valid_to IS NULL
            GROUP BY c.code, c.geom
        ), p AS (
            SELECT u.code, (ST_Dump(u.gap)).geom AS piece FROM u WHERE NOT ST_IsEmpty(u.gap)
        ), m AS (
            SELECT code, piece, ST_Area(piece) AS m2 FROM p
            WHERE ST_Dimension(piece) = 2
        )
        SELECT code, m2, ST_X(ST_Transform(ST_PointOnSurface(piece), 4326)) AS x,
               ST_Y(ST_Transform(ST_PointOnSurface(piece), 4326)) AS y
        FROM m WHERE m2 > :tol ORDER BY m2 DESC, code COLLATE "C"
    """), {"epsg": metric_epsg, "tol": tolerance_m2}).all()
    return [Problem(f"community {r.code!r} has a gap of {r.m2:,.1f} m2 that none of its grids covers, "
                    f"e.g. at lon/lat ({r.x:.6f}, {r.y:.6f})", field="geometry", feature_id=r.code)
            for r in rows]


def same_boundary_sql(a: str, b: str) -> str:
    """SQL: geometries ``a`` and ``b`` are the same boundary: the same vertices in the same order,
    each within :data:`SAME_BOUNDARY_DEG` (what a grid read from the API and written back is).

    Linear in the vertex count (a Hausdorff distance grows with the product of the two counts:
    40k x 40k vertices took 54 s).  The same outline drawn from another start vertex counts as a
    different boundary, so it gets a new version: the conservative answer."""
    return f"""(ST_OrderingEquals({a}, {b}) OR (
        ST_NPoints({a}) = ST_NPoints({b}) AND ST_NumGeometries({a}) = ST_NumGeometries({b})
        AND NOT EXISTS (
            SELECT 1 FROM ST_DumpPoints({a}) pa
            FULL JOIN ST_DumpPoints({b}) pb ON pa.path = pb.path
            WHERE pa.path IS NULL OR pb.path IS NULL
               OR abs(ST_X(pa.geom) - ST_X(pb.geom)) >= {SAME_BOUNDARY_DEG}
               OR abs(ST_Y(pa.geom) - ST_Y(pb.geom)) >= {SAME_BOUNDARY_DEG})))"""


def _mark_current(conn: Connection, tmp: str) -> None:
    """Add to ``tmp`` the id and valid_from of each grid's current version, and whether the boundary
    is the same (:func:`same_boundary_sql`, within :data:`SAME_BOUNDARY_DEG`)."""
    conn.execute(text(f"""
        ALTER TABLE {tmp} ADD COLUMN cur_id bigint, ADD COLUMN cur_from timestamptz, ADD COLUMN same_geom boolean;
        UPDATE {tmp} t SET cur_id = g.id, cur_from = g.valid_from,
               same_geom = {same_boundary_sql("g.geom", "t.geom")}
        FROM grids g WHERE g.region_code = t.region_code AND g.code = t.code AND g.valid_to IS NULL;
    """))


def check_corrections(conn: Connection, tmp: str) -> list[Problem]:
    """Mark the current version of each staged grid (for :func:`correct_grids`) and return the
    staged grids ``--correct`` cannot correct: no current version, or a ``valid_from`` other than
    the current version's (a correction keeps the validity)."""
    _mark_current(conn, tmp)
    bad = conn.execute(text(f"""
        SELECT _row, code, cur_id, cur_from, valid_from FROM {tmp}
        WHERE cur_id IS NULL OR (valid_from IS NOT NULL AND valid_from <> cur_from) ORDER BY _row
    """)).all()
    return [Problem("the grid has no current version to correct (import it without --correct)"
                    if r.cur_id is None else
                    f"--correct keeps the current version's validity (valid_from {r.cur_from.isoformat()}), "
                    f"but the file gives valid_from {r.valid_from.isoformat()}; leave valid_from empty",
                    row=r._row, field="code" if r.cur_id is None else "valid_from", feature_id=r.code)
            for r in bad]


def correct_grids(conn: Connection, tmp: str, cols: list[str]) -> GridChanges:
    """Correct the current versions of the staged grids in place, inside the caller's transaction.

    Each staged grid replaces the geometry and attributes of its code's current version, keeping
    that version's id and validity (``valid_from``/``valid_to``): history is corrected, not
    extended (e.g. grids first imported with the wrong ``--coords``).  ``tmp`` must have passed
    :func:`check_corrections` (which marks the current versions).

    Returns
    -------
    GridChanges
        ``corrected`` (geometry replaced), ``updated`` (same geometry, other attributes changed),
        ``unchanged``.
    """
    attrs = [c for c in cols if c not in ("region_code", "code", "valid_from", "valid_to")]
    sets = ", ".join(f"{c} = t.{c}" for c in attrs)
    old = ", ".join(f"g.{c}" for c in attrs)
    new = ", ".join(f"t.{c}" for c in attrs)
    corrected = conn.execute(text(f"""
        UPDATE grids g SET geom = t.geom, {sets} FROM {tmp} t WHERE g.id = t.cur_id AND NOT t.same_geom
    """)).rowcount
    updated = conn.execute(text(f"""
        UPDATE grids g SET {sets} FROM {tmp} t
        WHERE g.id = t.cur_id AND t.same_geom AND ({old}) IS DISTINCT FROM ({new})
    """)).rowcount
    total = conn.execute(text(f"SELECT count(*) FROM {tmp}")).scalar_one()
    return GridChanges(corrected=corrected, updated=updated, unchanged=total - corrected - updated)


def upsert_grids(conn: Connection, tmp: str, cols: list[str], *, replace: bool = False) -> GridChanges:
    """Write the staged grids of ``tmp`` with history, inside the caller's transaction.

    Parameters
    ----------
    conn : sqlalchemy.Connection
        Inside a transaction; nothing is committed here.
    tmp : str
        The staging table (:func:`api.db.load.stage.stage`), already checked by :func:`check_grids`.
    cols : list of str
        The grid layer's columns present in ``tmp``.
    replace : bool
        Close the current grids of the staged communities that the file does not contain.

    Returns
    -------
    GridChanges

    Raises
    ------
    geo.errors.InvalidInput
        A boundary change whose ``valid_from`` is not after the current version's; with
        ``replace``, a grid to close whose current version starts in the future.  Raised before
        any grid is written.
    """
    attrs = [c for c in cols if c not in ("region_code", "code", "valid_from", "valid_to")]
    _mark_current(conn, tmp)
    bad = conn.execute(text(f"""
        SELECT _row, code, cur_from, COALESCE(valid_from, now()) AS new_from FROM {tmp}
        WHERE cur_id IS NOT NULL AND NOT same_geom AND COALESCE(valid_from, now()) <= cur_from ORDER BY _row
    """)).all()
    if bad:
        raise InvalidInput("Grid boundary changes that do not start after the current version", [
            Problem(f"the boundary changed but its valid_from {r.new_from.isoformat()} is not after the current "
                    f"version's valid_from {r.cur_from.isoformat()}", row=r._row, field="valid_from", feature_id=r.code)
            for r in bad])
    closed = _close_missing(conn, tmp) if replace else 0
    sets = ", ".join(f"{c} = t.{c}" for c in attrs)
    old = ", ".join(f"g.{c}" for c in attrs)
    new = ", ".join(f"t.{c}" for c in attrs)
    updated = conn.execute(text(f"""
        UPDATE grids g SET {sets} FROM {tmp} t
        WHERE g.id = t.cur_id AND t.same_geom AND ({old}) IS DISTINCT FROM ({new})
    """)).rowcount
    new_versions = conn.execute(text(f"""
        UPDATE grids g SET valid_to = COALESCE(t.valid_from, now()) FROM {tmp} t
        WHERE g.id = t.cur_id AND NOT t.same_geom
    """)).rowcount
    ins_cols = ", ".join(["region_code", "code", *attrs, "valid_from", "valid_to", "geom"])
    ins_vals = ", ".join(["region_code", "code", *attrs,
                          "COALESCE(valid_from, CASE WHEN cur_id IS NULL THEN '-infinity'::timestamptz ELSE now() END)",
                          "valid_to", "geom"])
    inserted = conn.execute(text(f"""
        INSERT INTO grids ({ins_cols}) SELECT {ins_vals} FROM {tmp} WHERE cur_id IS NULL OR NOT same_geom
    """)).rowcount
    total = conn.execute(text(f"SELECT count(*) FROM {tmp}")).scalar_one()
    added = inserted - new_versions
    return GridChanges(added=added, new_versions=new_versions, updated=updated,
                       unchanged=total - inserted - updated, closed=closed)
