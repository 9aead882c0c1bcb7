"""Writing validated layers into PostGIS: COPY into a staging table, checks, upsert, grid history.

Every import goes through :func:`load_frame`, inside the caller's transaction
(``with engine.begin() as conn``), so a failure anywhere leaves the database unchanged:

1. dwellings without ``grid_code``/``community_code`` get them by point-in-polygon against
   the current grids (then the communities); stations without ``community_code`` likewise
   (:mod:`api.db.load_attribution`: a shapely STRtree over the region's polygons; ties go to
   the first code);
2. the frame (already cleaned by :func:`geo.validate.validate_frame`) is streamed with
   ``COPY`` into a temporary staging table (:mod:`api.db.load_stage`);
3. checks that need the stored data run there and raise :class:`geo.errors.InvalidInput`
   listing every fault: a grid's community code unknown or not a community; a grid reaching
   outside its community (:mod:`api.db.load_grids`);
4. ``INSERT ... SELECT ... ON CONFLICT (region_code, key) DO UPDATE ... WHERE (cols) IS DISTINCT
   FROM (excluded cols)`` writes the rows, touching only rows whose values differ, so a re-import
   of unchanged data writes no row and moves no ``data_versions`` entry.  Grids keep history
   instead (:func:`api.db.load_grids.upsert_grids`): a grid whose current version has a different
   boundary is closed and a new version inserted; same boundary: attributes updated in place;
   with ``replace=True`` the current grids of the file's communities missing from the file are
   closed;
5. after a grid write, the dwellings and incidents whose grid it changed are re-attributed in
   the same transaction (:mod:`api.db.load_reattribute`; incidents with intake's own rule).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import geopandas as gpd
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DataError, IntegrityError

# re-exported: these names have always been importable from api.db.load
from api.db.load_attribution import attribute_points, reattribute_dwellings
from api.db.load_reattribute import reattribute_after_grid_write, snapshot_grids
from api.db.load_grids import GRID_TOLERANCE_M, GRID_TOLERANCE_SHARE, check_grids, upsert_grids
from api.db.load_stage import CHUNK_ROWS, stage
from geo.errors import InvalidInput, Problem
from geo.layers import LAYERS

__all__ = [
    "LoadReport", "load_frame", "reattribute_dwellings", "load_sample", "SAMPLE_LAYERS",
    "GRID_TOLERANCE_M", "GRID_TOLERANCE_SHARE", "CHUNK_ROWS",
]

#: Layers of a sample GeoPackage in load order (incidents last, through the intake module).
SAMPLE_LAYERS = ("areas", "grids", "dwellings", "stations", "streets", "incidents")


@dataclass(frozen=True)
class LoadReport:
    """What :func:`load_frame` did.

    Attributes
    ----------
    inserted : int
        New features (for grids: new grid codes and new versions of changed grids,
        ``added + new_versions``).
    updated : int
        Existing features whose attributes changed, updated in place.
    versions_closed : int
        Grid versions closed because the grid's boundary changed (``= new_versions``).
    unchanged : int
        Features already stored exactly as given (re-imports).
    added : int
        Grids only: codes that had no current version.
    new_versions : int
        Grids only: grids whose boundary changed (old version closed, new one inserted).
    closed : int
        Grids only, ``replace=True``: current grids of the file's communities missing from the
        file, closed (``valid_to = now()``).
    dwellings_reattributed : int
        Grids only: dwellings whose grid/community changed with the grids (same transaction).
    incidents_reattributed : int
        Grids only: incidents re-attributed because the validity of the grid version they fall
        in at their ``reported_at`` changed (:mod:`api.db.load_reattribute`).
    """

    inserted: int = 0
    updated: int = 0
    versions_closed: int = 0
    unchanged: int = 0
    added: int = 0
    new_versions: int = 0
    closed: int = 0
    dwellings_reattributed: int = 0
    incidents_reattributed: int = 0


def _default_region() -> str:
    from api.settings import get_settings

    return get_settings().region_code


def _upsert(conn: Connection, layer: str, tmp: str, cols: list[str], has_fp: bool) -> LoadReport:
    spec = LAYERS[layer]
    key = spec.key
    write = cols + ["geom"] + (["footprint"] if has_fp else [])
    select = ", ".join(write)
    settable = [c for c in write if c not in ("region_code", key)]
    sets = ", ".join(f"{c} = EXCLUDED.{c}" for c in settable)
    old = ", ".join(f"{layer}.{c}" for c in settable)
    new = ", ".join(f"EXCLUDED.{c}" for c in settable)
    row = conn.execute(text(f"""
        WITH up AS (
            INSERT INTO {layer} ({select})
            SELECT {select} FROM {tmp}
            ON CONFLICT (region_code, {key}) DO UPDATE SET {sets}
            WHERE ({old}) IS DISTINCT FROM ({new})
            RETURNING (xmax = 0) AS inserted
        )
        SELECT count(*) FILTER (WHERE inserted) AS ins, count(*) FILTER (WHERE NOT inserted) AS upd FROM up
    """)).one()
    total = conn.execute(text(f"SELECT count(*) FROM {tmp}")).scalar_one()
    return LoadReport(inserted=row.ins, updated=row.upd, unchanged=total - row.ins - row.upd)


def load_frame(
    conn: Connection,
    layer: str,
    frame: gpd.GeoDataFrame,
    *,
    region_code: str | None = None,
    progress: Callable[[int], None] | None = None,
    replace: bool = False,
) -> LoadReport:
    """Write a validated frame into its table inside the caller's transaction.

    Parameters
    ----------
    conn : sqlalchemy.Connection
        A connection inside a transaction (``engine.begin()``); nothing is committed here.
    layer : str
        ``areas``, ``grids``, ``dwellings``, ``stations`` or ``streets`` (incidents go through
        ``api.incidents.intake.ingest_frame``).
    frame : geopandas.GeoDataFrame
        The output of :func:`geo.validate.validate_frame` (EPSG:4326, the layer's columns).
    region_code : str, optional
        County code for rows whose ``region_code`` is empty; default the settings' region.
    progress : callable, optional
        Called with the number of features just staged, once per chunk of :data:`CHUNK_ROWS`.
    replace : bool
        Grids only: the frame is the complete set of grids of every community it names; their
        current grids missing from it are closed (``valid_to = now()``).  Default False: no
        grid is closed except by a boundary change.

    Returns
    -------
    LoadReport

    Raises
    ------
    geo.errors.InvalidInput
        Cross-table faults (grid community unknown, grid outside its community, a boundary
        change dated before the current version, with ``replace`` a grid to close whose
        current version starts in the future) or rows the database refuses; the caller's
        transaction must then be rolled back (``engine.begin()`` does so).
    """
    if layer not in LAYERS or layer == "incidents":
        raise ValueError(f"load_frame does not load {layer!r}; incidents go through api.incidents.intake")
    if replace and layer != "grids":
        raise ValueError("replace=True applies to grids only")
    region_code = region_code or _default_region()
    if not (len(region_code) == 6 and region_code.isdigit()):
        raise InvalidInput("Bad region code", [Problem(f"{region_code!r} is not a 6-digit county code",
                                                       field="--region")])
    if len(frame) == 0:
        return LoadReport()
    try:
        if layer in ("dwellings", "stations"):
            frame = attribute_points(conn, layer, frame, region_code)
        tmp, cols, has_fp = stage(conn, layer, frame, region_code, progress)
        if layer == "grids":
            problems = check_grids(conn, tmp)
            if problems:
                raise InvalidInput(f"{len(problems)} grid{'s' if len(problems) != 1 else ''} do not fit the "
                                   "stored communities; nothing was imported", problems)
            snap = snapshot_grids(conn, tmp)
            g = upsert_grids(conn, tmp, cols, replace=replace)
            moved = reattribute_after_grid_write(conn, snap)
            report = LoadReport(inserted=g.added + g.new_versions, updated=g.updated, versions_closed=g.new_versions,
                                unchanged=g.unchanged, added=g.added, new_versions=g.new_versions, closed=g.closed,
                                dwellings_reattributed=moved.dwellings, incidents_reattributed=moved.incidents)
        else:
            report = _upsert(conn, layer, tmp, cols, has_fp)
        conn.execute(text(f"DROP TABLE {tmp}"))
        return report
    except (IntegrityError, DataError) as exc:
        reason = str(getattr(exc, "orig", exc)).strip().splitlines()
        raise InvalidInput(f"The database refused the {layer} import; nothing was written",
                           [Problem("; ".join(reason[:3]))]) from None


def load_sample(engine: Engine, gpkg_path) -> dict:
    """Load a sample GeoPackage (layers named as gridmap's) in ONE transaction.

    Layers present among :data:`SAMPLE_LAYERS` are read (:func:`geo.io.read_layer`), validated
    and loaded in order; incidents go through ``api.incidents.intake.ingest_frame`` when that
    module exists (skipped otherwise).  Returns ``{layer: LoadReport}`` (for incidents, the
    intake's report).  Any fault rolls the whole load back.
    """
    import pyogrio

    from geo.io import read_layer
    from geo.validate import validate_frame

    present = {str(name) for name, _ in pyogrio.list_layers(str(gpkg_path))}
    reports: dict = {}
    with engine.begin() as conn:
        for layer in SAMPLE_LAYERS:
            if layer not in present:
                continue
            frame = read_layer(gpkg_path, layer_name=layer, file_layer=layer)
            if layer == "incidents":
                try:
                    from api.incidents.intake import ingest_frame
                except ImportError:
                    continue
                regions = frame["region_code"].dropna().unique() if "region_code" in frame else []
                region = str(regions[0]) if len(regions) == 1 else _default_region()
                reports[layer] = ingest_frame(conn, frame, region_code=region, actor="sample", all_or_nothing=True)
                continue
            reports[layer] = load_frame(conn, layer, validate_frame(layer, frame))
    return reports
