"""Writing a validated layer into PostGIS: :func:`load_frame`.

Every load runs inside the caller's transaction (``with engine.begin() as conn``), so a failure
anywhere leaves the database unchanged.  The service above (:func:`api.imports.import_frame`)
validates first; this module does the steps that need the stored data:

1. dwellings without ``grid_code``/``community_code`` get them by the point-in-grid rule against
   the current grids (then the communities); stations without ``community_code`` likewise
   (:mod:`api.db.load.attribution`, :mod:`geo.attribution`);
2. the frame is streamed with ``COPY`` into a temporary staging table (:mod:`api.db.load.stage`);
3. checks that need the stored data run there and raise :class:`geo.errors.InvalidInput`
   listing every fault: a grid's community code unknown or not a community, a grid reaching
   outside its community, grids of a community overlapping (:mod:`api.db.load.grids`); a point
   file none of whose rows lies in any grid of a region that has grids (unless
   ``allow_outside``);
4. ``INSERT ... SELECT ... ON CONFLICT (region_code, key) DO UPDATE ... WHERE (cols) IS DISTINCT
   FROM (excluded cols)`` writes the rows, touching only rows whose values differ, so a re-import
   of unchanged data writes no row and moves no ``data_versions`` entry.  Grids keep history
   instead (:func:`api.db.load.grids.upsert_grids`): a grid whose current version has a different
   boundary is closed and a new version inserted; same boundary: attributes updated in place;
   with ``replace=True`` the current grids of the file's communities missing from the file are
   closed; with ``correct=True`` the current versions are corrected in place
   (:func:`api.db.load.grids.correct_grids`);
5. after a grid write, the dwellings and incidents whose grid it changed are re-attributed in
   the same transaction (:mod:`api.db.load.reattribute`), and the gaps left between the grids of
   the file's communities are reported as warnings.
"""

from __future__ import annotations

import logging
from typing import Callable

import geopandas as gpd
from sqlalchemy import Connection, text
from sqlalchemy.exc import DataError, IntegrityError

from api.db.load.attribution import attribute_points
from api.errors import Conflict
from api.limits import MAX_STATION_FROM_COMMUNITY_M
from api.db.load.grids import (
    check_corrections, check_grids, check_overlaps, correct_grids, find_gaps, upsert_grids,
)
from api.db.load.partitions import ensure_staged_partitions
from api.db.load.reattribute import reattribute_after_grid_write, snapshot_grids
from api.db.load.report import LoadReport
from api.db.load.stage import CHUNK_ROWS, stage
from geo.crs import metric_crs_for
from geo.errors import InvalidInput, Problem
from geo.layers import LAYERS

__all__ = ["load_frame", "POINT_LAYERS"]

log = logging.getLogger(__name__)

#: SQLSTATEs of a write that lost a race: unique_violation, exclusion_violation.
_RACED = ("23505", "23P01")

#: Point layers whose rows should fall in a grid (:func:`load_frame`'s ``allow_outside``).
POINT_LAYERS = ("dwellings", "stations")


def _refuse_all_outside(conn: Connection, layer: str, tmp: str) -> None:
    """Raise when the region(s) of ``tmp`` have current grids but not one staged point lies in one."""
    row = conn.execute(text(f"""
        WITH r AS (SELECT DISTINCT region_code FROM {tmp}),
        g AS (SELECT g.geom FROM grids g JOIN r ON r.region_code = g.region_code WHERE g.valid_to IS NULL)
        SELECT EXISTS (SELECT 1 FROM g) AS has_grids,
               EXISTS (SELECT 1 FROM {tmp} t JOIN grids g ON g.region_code = t.region_code AND g.valid_to IS NULL
                       AND ST_Intersects(g.geom, t.geom)) AS any_inside,
               (SELECT ST_Extent(geom) FROM g)::text AS grids_box,
               (SELECT ST_Extent(geom) FROM {tmp})::text AS file_box,
               (SELECT count(*) FROM {tmp}) AS n
    """)).one()
    if not row.has_grids or row.any_inside:
        return
    raise InvalidInput(f"None of the {row.n} {layer} lies in any grid; nothing was imported", [Problem(
        f"the grids cover {_box(row.grids_box)} but the file's points lie in {_box(row.file_box)}. Check the "
        "column order (longitude first: lat/lon swapped? name them with --lon/--lat), the file's CRS (--crs) "
        "and the coordinate system (--coords gcj02|bd09); pass --allow-outside to load them anyway",
        field="geometry")])


def _refuse_far_stations(conn: Connection, tmp: str) -> None:
    """Raise when a staged station lies more than :data:`api.limits.MAX_STATION_FROM_COMMUNITY_M`
    outside the stored community it names (a swapped or mistyped coordinate, not a place)."""
    far = conn.execute(text(f"""
        SELECT t._row, t.source_id, t.community_code,
               ST_Distance(a.geom::geography, t.geom::geography) AS m
        FROM {tmp} t JOIN areas a ON a.region_code = t.region_code AND a.code = t.community_code
                               AND a.level = 'community'
        WHERE NOT ST_DWithin(a.geom::geography, t.geom::geography, :m)
        ORDER BY t._row LIMIT 100
    """), {"m": MAX_STATION_FROM_COMMUNITY_M}).all()
    if far:
        raise InvalidInput(f"{len(far)} station(s) lie far outside the community they name; nothing was written", [
            Problem(f"the station is {r.m / 1000:,.1f} km from community {r.community_code}; at most "
                    f"{MAX_STATION_FROM_COMMUNITY_M / 1000:g} km outside its boundary is accepted (check the "
                    "coordinates: longitude first, WGS84 degrees)", row=r._row, field="geometry",
                    feature_id=r.source_id) for r in far])


def _box(extent: str | None) -> str:
    """``BOX(x0 y0,x1 y1)`` as ``lon a..b, lat c..d``."""
    if not extent:
        return "nothing"
    (x0, y0), (x1, y1) = (tuple(map(float, p.split())) for p in extent[4:-1].split(","))
    return f"lon {x0:.4f}..{x1:.4f}, lat {y0:.4f}..{y1:.4f}"


def _upsert(conn: Connection, layer: str, tmp: str, cols: list[str], has_fp: bool) -> LoadReport:
    spec = LAYERS[layer]
    key = spec.key
    write = cols + ["geom"] + (["footprint"] if has_fp else [])
    select = ", ".join(write)
    settable = [c for c in write if c not in ("region_code", key)]
    sets = ", ".join(f"{c} = EXCLUDED.{c}" for c in settable)
    old = ", ".join(f"{layer}.{c}" for c in settable)
    new = ", ".join(f"EXCLUDED.{c}" for c in settable)
    # Keys already stored, counted before the write: every other row of the file is an insert (the
    # file's keys are unique).  Asking the table afterwards from the same statement (NOT EXISTS against
    # the table as it was) made the planner, which sees a freshly loaded table as empty, scan the
    # heap of just-written rows once per row: quadratic, minutes for 36,000 dwellings.  ``xmax = 0``
    # would tell it too, but a partitioned table (0006) cannot return system columns.
    existing = conn.execute(text(f"""
        SELECT count(*) FROM {tmp} t
        WHERE EXISTS (SELECT 1 FROM {layer} o WHERE o.region_code = t.region_code AND o.{key} = t.{key})
    """)).scalar_one()
    # None of the file's keys stored yet (a first import): a plain INSERT, which PostgreSQL writes
    # without the speculative insertion ON CONFLICT needs per row into the partitioned table (~20%
    # of the write for 36,696 dwellings).  A key committed by another transaction in between is a
    # unique violation, refused as a concurrent write (Conflict) like any other race of this load.
    upsert = "" if existing == 0 else f"""
            ON CONFLICT (region_code, {key}) DO UPDATE SET {sets}
            WHERE ({old}) IS DISTINCT FROM ({new})"""
    written = conn.execute(text(f"""
        WITH up AS (
            INSERT INTO {layer} ({select})
            SELECT {select} FROM {tmp}{upsert}
            RETURNING 1
        )
        SELECT count(*) FROM up
    """)).scalar_one()
    total = conn.execute(text(f"SELECT count(*) FROM {tmp}")).scalar_one()
    inserted = total - existing
    return LoadReport(inserted=inserted, updated=written - inserted, unchanged=existing - (written - inserted))


def load_frame(
    conn: Connection,
    layer: str,
    frame: gpd.GeoDataFrame,
    *,
    region_code: str,
    overlap_m2: float,
    progress: Callable[[int], None] | None = None,
    replace: bool = False,
    correct: bool = False,
    allow_outside: bool = False,
) -> LoadReport:
    """Write a validated frame into its table inside the caller's transaction.

    Parameters
    ----------
    conn : sqlalchemy.Connection
        A connection inside a transaction (``engine.begin()``); nothing is committed here.
    layer : str
        ``areas``, ``grids``, ``dwellings``, ``stations`` or ``streets`` (incidents go through
        ``api.incidents.intake.ingest_frame``; :func:`api.imports.import_frame` sends them).
    frame : geopandas.GeoDataFrame
        The output of :func:`geo.validate.validate_frame` (EPSG:4326, the layer's columns).
    region_code : str
        County code (6 digits) for rows whose ``region_code`` is empty.
    overlap_m2 : float
        Grids only: grids of one community may overlap by at most this much (m2, in the metric
        CRS :func:`geo.crs.metric_crs_for` picks for the frame); gaps larger than it are warned.
    progress : callable, optional
        Called with the number of features just staged, once per chunk of :data:`CHUNK_ROWS`.
    replace : bool
        Grids only: the frame is the complete set of grids of every community it names; their
        current grids missing from it are closed (``valid_to = now()``).  Default False: no
        grid is closed except by a boundary change.
    correct : bool
        Grids only: correct the current version of each grid in place (same validity, new
        geometry and attributes) instead of starting a new version; what moves is re-attributed.
    allow_outside : bool
        Dwellings and stations: load them even when not one row lies in any current grid of a
        region that has grids (otherwise refused as a likely lat/lon swap or CRS mistake).

    Returns
    -------
    LoadReport

    Raises
    ------
    geo.errors.InvalidInput
        Cross-table faults (grid community unknown, grid outside its community, grids of a
        community overlapping, a boundary change dated before the current version, with
        ``replace`` a grid to close whose current version starts in the future, with
        ``correct`` a grid without a current version, a point file entirely outside the grids)
        or rows the database refuses; the caller's
        transaction must then be rolled back (``engine.begin()`` does so).
    """
    if layer not in LAYERS or layer == "incidents":
        raise ValueError(f"load_frame does not load {layer!r}; incidents go through api.incidents.intake")
    if (replace or correct) and layer != "grids":
        raise ValueError("replace=True and correct=True apply to grids only")
    if replace and correct:
        raise ValueError("replace=True and correct=True exclude each other")
    if not (len(region_code) == 6 and region_code.isdigit()):
        raise InvalidInput("Bad region code", [Problem(f"{region_code!r} is not a 6-digit county code",
                                                       field="--region")])
    if len(frame) == 0:
        return LoadReport()
    try:
        if layer in ("dwellings", "stations"):
            frame = attribute_points(conn, layer, frame, region_code)
        tmp, cols, has_fp = stage(conn, layer, frame, region_code, progress)
        ensure_staged_partitions(conn, tmp, (region_code,))  # a county's first rows make its partitions
        if layer in POINT_LAYERS and not allow_outside:
            _refuse_all_outside(conn, layer, tmp)
        if layer == "stations":
            _refuse_far_stations(conn, tmp)
        if layer == "grids":
            epsg = metric_crs_for(frame).to_epsg()
            if correct:
                problems = check_corrections(conn, tmp)
                if problems:
                    raise InvalidInput("Grids that --correct cannot correct; nothing was imported", problems)
            problems = check_grids(conn, tmp)
            problems += check_overlaps(conn, tmp, replace=replace, metric_epsg=epsg, tolerance_m2=overlap_m2)
            if problems:
                raise InvalidInput(f"{len(problems)} grid problem{'s' if len(problems) != 1 else ''} with the "
                                   "stored communities and grids; nothing was imported",
                                   sorted(problems, key=lambda p: p.row or 0))
            snap = snapshot_grids(conn, tmp)
            g = correct_grids(conn, tmp, cols) if correct else upsert_grids(conn, tmp, cols, replace=replace)
            moved = reattribute_after_grid_write(conn, snap)
            gaps = find_gaps(conn, tmp, metric_epsg=epsg, tolerance_m2=overlap_m2)
            report = LoadReport(inserted=g.added + g.new_versions, updated=g.updated + g.corrected,
                                versions_closed=g.new_versions, unchanged=g.unchanged, added=g.added,
                                new_versions=g.new_versions, closed=g.closed, corrected=g.corrected,
                                dwellings_reattributed=moved.dwellings, incidents_reattributed=moved.incidents,
                                warnings=tuple(gaps))
        else:
            report = _upsert(conn, layer, tmp, cols, has_fp)
        conn.execute(text(f"DROP TABLE {tmp}"))
        return report
    except IntegrityError as exc:
        if getattr(getattr(exc, "orig", None), "pgcode", None) in _RACED:
            # another transaction wrote the same key (or an overlapping grid version) first: the
            # caller's data is fine, the moment is not; the database's own text stays in the log
            log.info("concurrent %s write refused by the database: %s", layer, getattr(exc, "orig", exc))
            raise Conflict(f"Another write to the same {layer[:-1]} was committed at the same time; nothing was "
                           "written by this request. Read it again and retry.") from None
        reason = str(getattr(exc, "orig", exc)).strip().splitlines()
        raise InvalidInput(f"The database refused the {layer} import; nothing was written",
                           [Problem("; ".join(reason[:3]))]) from None
    except DataError as exc:
        reason = str(getattr(exc, "orig", exc)).strip().splitlines()
        raise InvalidInput(f"The database refused the {layer} import; nothing was written",
                           [Problem("; ".join(reason[:3]))]) from None
