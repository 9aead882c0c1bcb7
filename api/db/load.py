"""Writing validated layers into PostGIS: COPY into a staging table, checks, upsert, grid history.

Every import goes through :func:`load_frame`, inside the caller's transaction
(``with engine.begin() as conn``), so a failure anywhere leaves the database unchanged:

1. the frame (already cleaned by :func:`geo.validate.validate_frame`) is streamed with
   ``COPY`` into a temporary staging table (geometries as hex WKB into SRID-4326 columns);
2. checks that need the stored data run there and raise :class:`geo.errors.InvalidInput`
   listing every fault: a grid's community code unknown or not a community; a grid reaching
   outside its community by more than :data:`GRID_TOLERANCE_M` plus :data:`GRID_TOLERANCE_SHARE`
   of its area;
3. dwellings without ``grid_code``/``community_code`` get them by point-in-polygon against
   the current grids (then the communities); stations without ``community_code`` likewise
   (a shapely STRtree over the region's polygons, before staging; ties go to the first code);
4. ``INSERT ... SELECT ... ON CONFLICT (region_code, key) DO UPDATE`` writes the rows, touching
   only rows whose values differ.  Grids keep history instead: a grid whose current version has
   a different boundary is closed (``valid_to`` = the new ``valid_from``, default ``now()``) and
   a new version inserted; same boundary: attributes updated in place.
"""

from __future__ import annotations

import io
import uuid
from dataclasses import dataclass
from typing import Callable

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DataError, IntegrityError

from geo.errors import InvalidInput, Problem
from geo.layers import LAYERS

__all__ = [
    "LoadReport", "load_frame", "reattribute_dwellings", "load_sample", "SAMPLE_LAYERS",
    "GRID_TOLERANCE_M", "GRID_TOLERANCE_SHARE", "CHUNK_ROWS",
]

#: A grid may stick out of its community by this much (metres) along the boundary ...
GRID_TOLERANCE_M = 1.0
#: ... plus this share of its own area, before the import is refused.
GRID_TOLERANCE_SHARE = 0.005
#: Rows per COPY chunk (and per progress callback).
CHUNK_ROWS = 50_000

#: Layers of a sample GeoPackage in load order (incidents last, through the intake module).
SAMPLE_LAYERS = ("areas", "grids", "dwellings", "stations", "streets", "incidents")

_SQL_TYPES = {"str": "text", "int": "bigint", "float": "double precision", "bool": "boolean",
              "datetime": "timestamptz", "date": "date"}


@dataclass(frozen=True)
class LoadReport:
    """What :func:`load_frame` did.

    Attributes
    ----------
    inserted : int
        New features (for grids: new grid codes and new versions of changed grids).
    updated : int
        Existing features whose attributes changed, updated in place.
    versions_closed : int
        Grid versions closed because the grid's boundary changed.
    unchanged : int
        Features already stored exactly as given (re-imports).
    """

    inserted: int = 0
    updated: int = 0
    versions_closed: int = 0
    unchanged: int = 0


def _default_region() -> str:
    from api.settings import get_settings

    return get_settings().region_code


def _ewkb(values) -> np.ndarray:
    geoms = np.asarray(values, dtype=object)
    out = np.full(len(geoms), None, dtype=object)
    present = ~shapely.is_missing(geoms)
    if present.any():
        # binary WKB hexed in Python is ~5x faster than GEOS's hex writer; the staging column's
        # type geometry(Geometry, 4326) gives the SRID-less WKB its SRID
        out[present] = [b.hex() for b in shapely.to_wkb(geoms[present])]
    return out


def _stage(conn: Connection, layer: str, frame: gpd.GeoDataFrame, region_code: str,
           progress: Callable[[int], None] | None) -> tuple[str, list[str], bool]:
    """COPY the frame into a fresh temporary table; return its name, the layer columns, footprint?"""
    spec = LAYERS[layer]
    cols = [c.name for c in spec.columns]
    has_fp = layer == "dwellings" and "footprint" in frame.columns
    tmp = f"_gm_load_{uuid.uuid4().hex[:12]}"
    ddl = ", ".join([f"{c.name} {_SQL_TYPES[c.dtype]}" for c in spec.columns])
    conn.execute(text(
        f"CREATE TEMP TABLE {tmp} (_row integer, {ddl}, geom geometry(Geometry, 4326)"
        f"{', footprint geometry(Geometry, 4326)' if has_fp else ''}) ON COMMIT DROP"))
    offset = int(frame.attrs.get("row_offset", 1))
    data = pd.DataFrame({c: frame[c] for c in cols})
    data["region_code"] = data["region_code"].astype("string").fillna(region_code)
    data.insert(0, "_row", np.arange(len(frame)) + offset)
    data["geom"] = _ewkb(frame.geometry.to_numpy())
    if has_fp:
        data["footprint"] = _ewkb(frame["footprint"].to_numpy())
    columns = ", ".join(data.columns)
    cur = conn.connection.cursor()
    try:
        for start in range(0, len(data), CHUNK_ROWS):
            chunk = data.iloc[start:start + CHUNK_ROWS]
            buf = io.StringIO()
            chunk.to_csv(buf, index=False, header=False, na_rep="\\N")
            buf.seek(0)
            cur.copy_expert(f"COPY {tmp} ({columns}) FROM STDIN WITH (FORMAT csv, NULL '\\N')", buf)
            if progress is not None:
                progress(len(chunk))
    finally:
        cur.close()
    conn.execute(text(f"ANALYZE {tmp}"))
    return tmp, cols, has_fp


def _check_grids(conn: Connection, tmp: str) -> list[Problem]:
    rows = conn.execute(text(f"""
        WITH c AS (
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


def _attribute_points(conn: Connection, layer: str, frame: gpd.GeoDataFrame, region_code: str) -> gpd.GeoDataFrame:
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


def _upsert_grids(conn: Connection, tmp: str, cols: list[str]) -> LoadReport:
    attrs = [c for c in cols if c not in ("region_code", "code", "valid_from", "valid_to")]
    conn.execute(text(f"""
        ALTER TABLE {tmp} ADD COLUMN cur_id bigint, ADD COLUMN cur_from timestamptz, ADD COLUMN same_geom boolean;
        UPDATE {tmp} t SET cur_id = g.id, cur_from = g.valid_from, same_geom = ST_Equals(g.geom, t.geom)
        FROM grids g WHERE g.region_code = t.region_code AND g.code = t.code AND g.valid_to IS NULL;
    """))
    bad = conn.execute(text(f"""
        SELECT _row, code, cur_from, COALESCE(valid_from, now()) AS new_from FROM {tmp}
        WHERE cur_id IS NOT NULL AND NOT same_geom AND COALESCE(valid_from, now()) <= cur_from ORDER BY _row
    """)).all()
    if bad:
        raise InvalidInput("Grid boundary changes that do not start after the current version", [
            Problem(f"the boundary changed but its valid_from {r.new_from.isoformat()} is not after the current "
                    f"version's valid_from {r.cur_from.isoformat()}", row=r._row, field="valid_from", feature_id=r.code)
            for r in bad])
    sets = ", ".join(f"{c} = t.{c}" for c in attrs)
    old = ", ".join(f"g.{c}" for c in attrs)
    new = ", ".join(f"t.{c}" for c in attrs)
    updated = conn.execute(text(f"""
        UPDATE grids g SET {sets} FROM {tmp} t
        WHERE g.id = t.cur_id AND t.same_geom AND ({old}) IS DISTINCT FROM ({new})
    """)).rowcount
    closed = conn.execute(text(f"""
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
    return LoadReport(inserted=inserted, updated=updated, versions_closed=closed,
                      unchanged=total - inserted - updated)


def load_frame(
    conn: Connection,
    layer: str,
    frame: gpd.GeoDataFrame,
    *,
    region_code: str | None = None,
    progress: Callable[[int], None] | None = None,
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

    Returns
    -------
    LoadReport

    Raises
    ------
    geo.errors.InvalidInput
        Cross-table faults (grid community unknown, grid outside its community, a boundary
        change dated before the current version) or rows the database refuses; the caller's
        transaction must then be rolled back (``engine.begin()`` does so).
    """
    if layer not in LAYERS or layer == "incidents":
        raise ValueError(f"load_frame does not load {layer!r}; incidents go through api.incidents.intake")
    region_code = region_code or _default_region()
    if not (len(region_code) == 6 and region_code.isdigit()):
        raise InvalidInput("Bad region code", [Problem(f"{region_code!r} is not a 6-digit county code",
                                                       field="--region")])
    if len(frame) == 0:
        return LoadReport()
    try:
        if layer in ("dwellings", "stations"):
            frame = _attribute_points(conn, layer, frame, region_code)
        tmp, cols, has_fp = _stage(conn, layer, frame, region_code, progress)
        if layer == "grids":
            problems = _check_grids(conn, tmp)
            if problems:
                raise InvalidInput(f"{len(problems)} grid{'s' if len(problems) != 1 else ''} do not fit the "
                                   "stored communities; nothing was imported", problems)
        report = _upsert_grids(conn, tmp, cols) if layer == "grids" else _upsert(conn, layer, tmp, cols, has_fp)
        conn.execute(text(f"DROP TABLE {tmp}"))
        return report
    except (IntegrityError, DataError) as exc:
        reason = str(getattr(exc, "orig", exc)).strip().splitlines()
        raise InvalidInput(f"The database refused the {layer} import; nothing was written",
                           [Problem("; ".join(reason[:3]))]) from None


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
