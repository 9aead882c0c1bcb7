"""A plan's grids as a file: GeoPackage (layer ``grids``), GeoJSON (RFC 7946), CSV (UTF-8 with a BOM,
so spreadsheet programs read the Chinese) or xlsx (openpyxl).

Columns: ``code``, ``community_code``, ``households``, ``status``, ``locked``, ``contiguous``,
``polsby_popper``, ``reock``, ``street_share``, ``moved_households``; GeoPackage and GeoJSON carry
the polygon (EPSG:4326), CSV and xlsx its WKT-free table only.
"""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

import geopandas as gpd
from shapely.geometry import shape
from sqlalchemy import Connection

from api.errors import ValidationFailed
from api import i18n
from api.jurisdiction import Jurisdiction
from api.db import plans as store
from geo.errors import Problem

__all__ = ["EXPORT_FORMATS", "plan_frame", "export_plan", "format_of"]

#: format -> (media type, file suffix)
EXPORT_FORMATS = {
    "gpkg": ("application/geopackage+sqlite3", ".gpkg"),
    "geojson": ("application/geo+json", ".geojson"),
    "csv": ("text/csv; charset=utf-8", ".csv"),
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", ".xlsx"),
}
COLUMNS = ("code", "community_code", "households", "status", "locked", "contiguous", "polsby_popper", "reock",
           "street_share", "moved_households")


def format_of(path: str | Path | None, fmt: str | None) -> str:
    """``fmt``, or the format of ``path``'s suffix; 422 naming ``format`` otherwise."""
    if fmt is None and path is not None:
        fmt = next((k for k, (_, s) in EXPORT_FORMATS.items() if str(path).lower().endswith(s)), None)
    if fmt not in EXPORT_FORMATS:
        raise ValidationFailed(f"Unknown export format {fmt!r}; use one of {', '.join(EXPORT_FORMATS)}.",
                               [Problem(f"one of {', '.join(EXPORT_FORMATS)}", field="format")])
    return fmt


def plan_frame(conn: Connection, scope: Jurisdiction, plan_id: int) -> gpd.GeoDataFrame:
    """The plan's grids with :data:`COLUMNS` and their polygons (EPSG:4326)."""
    import json

    row = store.plan_row(conn, plan_id, scope)
    recs = []
    for r in store.grid_rows(conn, row.region_code, row.id):
        m = r.metrics or {}
        recs.append({"code": r.code, "community_code": r.community_code, "households": int(r.households),
                     "status": r.status, "locked": bool(r.locked), "contiguous": m.get("contiguous"),
                     "polsby_popper": m.get("polsby_popper"), "reock": m.get("reock"),
                     "street_share": m.get("street_share"), "moved_households": m.get("moved_households"),
                     "geometry": shape(json.loads(r.geojson))})
    return gpd.GeoDataFrame(recs, columns=[*COLUMNS, "geometry"], geometry="geometry", crs=4326)


def export_plan(conn: Connection, scope: Jurisdiction, plan_id: int, fmt: str, lang: str | None = None) -> bytes:
    """The plan's grids in ``fmt`` (:data:`EXPORT_FORMATS`), as bytes; with ``lang`` the xlsx
    headers are words in that language (catalogue keys ``plan.col.<column>``), else the column names."""
    fmt = format_of(None, fmt)
    f = plan_frame(conn, scope, plan_id)
    if fmt == "csv":
        return f.drop(columns="geometry").to_csv(index=False).encode("utf-8-sig")
    if fmt == "xlsx":
        from openpyxl import Workbook

        wb = Workbook()
        ws = wb.active
        ws.title = "grids"
        ws.append([i18n.t(f"plan.col.{c}", lang) for c in COLUMNS] if lang else list(COLUMNS))
        for rec in f.drop(columns="geometry").itertuples(index=False):
            ws.append([None if v is None else v for v in rec])
        buf = io.BytesIO()
        wb.save(buf)
        return buf.getvalue()
    import pyogrio

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"plan{EXPORT_FORMATS[fmt][1]}"
        if fmt == "gpkg":
            pyogrio.write_dataframe(f, path, layer="grids", driver="GPKG")
        else:
            pyogrio.write_dataframe(f, path, driver="GeoJSON", layer_options={"RFC7946": "YES"})
        return path.read_bytes()
