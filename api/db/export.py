"""Reading stored layers back out as GeoDataFrames (for ``gridmap export`` and downloads).

Every query takes the caller's :class:`~api.jurisdiction.Jurisdiction` and ANDs its clause.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from sqlalchemy import Connection, Select, Text, and_, cast, func, select

from api.db.models import LAYER_TABLES, areas
from api.errors import NotFound, ValidationFailed
from api.jurisdiction import Jurisdiction
from geo.layers import LAYERS

__all__ = ["layer_frame", "layer_query", "read_frame", "write_frame", "export_bytes", "EXPORT_FORMATS",
           "format_for"]

#: ``--format`` value -> (pyogrio driver, file suffix); csv and xlsx are written by :mod:`api.sheets`.
EXPORT_FORMATS: dict[str, tuple[str, str]] = {
    "gpkg": ("GPKG", ".gpkg"), "geojson": ("GeoJSON", ".geojson"), "csv": ("CSV", ".csv"),
    "xlsx": ("XLSX", ".xlsx"),
}

_EXTRA = {"grids": ("valid_from", "valid_to"), "incidents": ("grid_code", "community_code", "town_code",
                                                             "outside_grid", "due_at")}


def format_for(path: Path, fmt: str | None) -> str:
    """The export format: ``fmt`` if given, else from the file suffix (.gpkg/.geojson/.json/.csv)."""
    if fmt:
        if fmt not in EXPORT_FORMATS:
            raise ValidationFailed(f"unknown format {fmt!r}; use one of {', '.join(EXPORT_FORMATS)}")
        return fmt
    suffix = path.suffix.lower()
    for name, (_, suf) in EXPORT_FORMATS.items():
        if suffix == suf or (name == "geojson" and suffix == ".json"):
            return name
    raise ValidationFailed(f"cannot tell the format from {path.name!r}; pass --format gpkg|geojson|csv|xlsx")


def layer_frame(conn: Connection, layer: str, scope: Jurisdiction, *, area: str | None = None,
                history: bool = False) -> gpd.GeoDataFrame:
    """One layer's features in scope as a GeoDataFrame (EPSG:4326, the layer's columns).

    :func:`read_frame` of :func:`layer_query` (same parameters).
    """
    return read_frame(conn, layer_query(conn, layer, scope, area=area, history=history))


def layer_query(conn: Connection, layer: str, scope: Jurisdiction, *, area: str | None = None,
                history: bool = False) -> Select:
    """The query of :func:`layer_frame`: ``id``, the layer's columns and ``geom`` (WKB), by ``id``.

    Parameters
    ----------
    conn : sqlalchemy.Connection
    layer : str
        A layer of :data:`geo.layers.LAYERS`.
    scope : Jurisdiction
        The caller's jurisdiction; rows outside it are never returned.
    area : str, optional
        Keep only features of this area: a 6-digit ``region_code`` (the whole county), or an
        area code (town or community) whose stored polygon the features intersect (points on
        its boundary count; lines and polygons must share interior with it, not only touch).
    history : bool
        Grids only: every boundary version, not just the current ones.

    Raises
    ------
    api.errors.NotFound
        ``area`` is neither a region code in the data nor a stored area.
    """
    if layer not in LAYERS or layer not in LAYER_TABLES:
        raise ValidationFailed(f"unknown layer {layer!r}; use one of {', '.join(LAYERS)}")
    table = LAYER_TABLES[layer]
    spec = LAYERS[layer]
    names = [c.name for c in spec.columns] + [c for c in _EXTRA.get(layer, ()) if c not in
                                               {c.name for c in spec.columns}]
    names = [n for n in names if not scope.hides(table.name, n)]  # personal fields: only for roles that need them
    # grid validity may be -infinity, which no Python datetime holds: export it as ISO text
    cols = [table.c.id] + [cast(table.c[n], Text).label(n) if n in ("valid_from", "valid_to") else table.c[n]
                           for n in names] + [func.ST_AsBinary(table.c.geom).label("geom")]
    conds = [scope.clause(table)]
    if layer == "grids" and not history:
        conds.append(table.c.valid_to.is_(None))
    if area:
        if len(area) == 6 and area.isdigit():
            conds.append(table.c.region_code == area)
        else:
            exists = conn.execute(select(func.count()).select_from(areas).where(
                and_(areas.c.code == area, scope.clause(areas)))).scalar_one()
            if not exists:
                raise NotFound(f"no area {area!r} in your jurisdiction")
            area_geom = select(func.ST_Union(areas.c.geom)).where(
                and_(areas.c.code == area, scope.clause(areas))).scalar_subquery()
            if spec.geometry == "Point":
                conds.append(func.ST_Intersects(table.c.geom, area_geom))
            else:  # interiors must meet: a grid that only touches the area's boundary is not in it
                conds.append(func.ST_Relate(table.c.geom, area_geom, "T********"))
    return select(*cols).where(and_(*conds)).order_by(table.c.id)


def read_frame(conn: Connection, stmt: Select) -> gpd.GeoDataFrame:
    """The rows of ``stmt`` as a GeoDataFrame (EPSG:4326); its last column ``geom`` is WKB, hex-encoded
    or binary (``ST_AsBinary``), and becomes ``geometry``.

    The statement runs on the DB-API cursor of ``conn`` (same transaction), so the frame is built from
    plain tuples in one pass (``pandas.DataFrame``: the same values and dtypes as from the rows of
    ``conn.execute``) and the geometries are parsed in one vectorised ``shapely.from_wkb``.  Building
    the frame from SQLAlchemy ``Row`` objects instead cost ~3x the whole read at 330,000 streets
    (pandas probes every row for named-tuple fields, and each probe of a ``Row`` raises and catches).
    """
    compiled = stmt.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
    names = list(stmt.selected_columns.keys())
    cur = conn.connection.driver_connection.cursor()
    try:
        cur.execute(str(compiled), compiled.params)
        rows = cur.fetchall()
    finally:
        cur.close()
    df = pd.DataFrame(rows, columns=names)
    del rows
    wkb = df.pop(names[-1]).to_numpy(dtype=object)
    if len(wkb) and not isinstance(wkb[0], (str, bytes)):
        wkb = np.array([None if g is None else bytes(g) for g in wkb], dtype=object)
    geoms = shapely.from_wkb(wkb) if len(wkb) else []
    return gpd.GeoDataFrame(df, geometry=gpd.GeoSeries(geoms, crs=4326), crs=4326)


def _table(frame: gpd.GeoDataFrame, layer: str) -> pd.DataFrame:
    """The CSV table of a layer: ``lon``/``lat`` for points, a WKT ``geometry`` otherwise (imports back)."""
    out = pd.DataFrame(frame.drop(columns="geometry"))
    if LAYERS[layer].geometry == "Point":
        out["lon"] = frame.geometry.x.round(8)
        out["lat"] = frame.geometry.y.round(8)
    else:
        out["geometry"] = frame.geometry.to_wkt(rounding_precision=8)
    return out


def write_frame(frame: gpd.GeoDataFrame, path: Path, fmt: str, layer: str, *, tz: str = "UTC",
                lang: str | None = None) -> None:
    """Write an export: GeoPackage, GeoJSON (RFC 7946: lon/lat, EPSG:4326), CSV or Excel.

    CSV (UTF-8 with a BOM) has ``lon``/``lat`` columns for point layers and a WKT ``geometry``
    column otherwise, times ISO 8601 with ``tz``'s offset; .xlsx has headers in ``lang``, codes as
    text, times in ``tz`` and a point inside each line or polygon as ``lon``/``lat``
    (:mod:`api.sheets`).  GeoPackage and GeoJSON keep times ISO 8601 UTC.

    Raises
    ------
    api.errors.ValidationFailed
        The folder of ``path`` does not exist (nothing is written).
    """
    path = Path(path)
    if not path.parent.is_dir():
        raise ValidationFailed(f"the folder {str(path.parent)!r} does not exist; create it first or write "
                               "the file elsewhere")
    if fmt in ("csv", "xlsx"):
        path.write_bytes(export_bytes(frame, fmt, layer, tz=tz, lang=lang))
        return
    import pyogrio

    driver, _ = EXPORT_FORMATS[fmt]
    if path.exists():
        path.unlink()
    frame = frame.copy()
    for c in frame.columns:
        if c != "geometry" and frame[c].dtype == object:
            sample = frame[c].dropna()
            if len(sample) and hasattr(sample.iloc[0], "isoformat"):
                frame[c] = frame[c].map(lambda v: None if v is None or pd.isna(v) else v.isoformat())
    opts = {"RFC7946": "YES", "WRITE_BBOX": "NO"} if fmt == "geojson" else {}
    pyogrio.write_dataframe(frame, path, driver=driver, layer=layer, layer_options=opts or None)


def export_bytes(frame: gpd.GeoDataFrame, fmt: str, layer: str, *, tz: str = "UTC",
                 lang: str | None = None) -> bytes:
    """The bytes of an export file (as :func:`write_frame` writes it), for downloads."""
    from api import sheets

    if fmt == "csv":
        return sheets.csv_text(_table(frame, layer), tz=tz).encode("utf-8")
    if fmt == "xlsx":
        return sheets.xlsx_bytes(frame, lang=lang, tz=tz, sheet=layer)
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / f"{layer}{EXPORT_FORMATS[fmt][1]}"
        write_frame(frame, path, fmt, layer)
        return path.read_bytes()
