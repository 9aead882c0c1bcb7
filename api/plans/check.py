"""Validation of the stored (current) grids with :func:`geo.zoning.check_grids`: overlaps, gaps,
parts outside their community, grids in several pieces, sizes out of band; as a report
(``gridmap grids check``, ``GET /grids/check``) written to JSON, CSV (UTF-8 with BOM) or xlsx, and as
GeoJSON for a map layer (each issue's place: the overlap, the gap, the part outside, the grid)."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
from sqlalchemy import Connection, text

from api.db.areas import resolve_area
from api.errors import ValidationFailed
from api.jurisdiction import Jurisdiction
from api.db.plans import jsonable
from geo.errors import Problem

__all__ = ["check_stored_grids", "write_report", "report_bytes", "report_features", "REPORT_COLUMNS",
           "REPORT_FORMATS"]

#: Formats of a report: media type and file suffix.
REPORT_FORMATS = {"json": ("application/json", ".json"), "geojson": ("application/geo+json", ".geojson"),
                  "csv": ("text/csv; charset=utf-8", ".csv"),
                  "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", ".xlsx")}

REPORT_COLUMNS = ("issue", "grid", "other_grid", "community_code", "area_m2", "households", "parts", "message")


def _where(conn, scope: Jurisdiction, area: str | None, alias: str, params: dict) -> str:
    conds = []
    if scope.codes is not None:
        params["scope"] = sorted(scope.codes)
        conds.append(f"({alias}.region_code = ANY(:scope) OR {alias}.community_code = ANY(:scope))")
    if area is not None:
        a = resolve_area(conn, area, scope)
        params["area"] = a.code
        col = {"region": "region_code", "town": "town_code", "community": "community_code", "grid": "code"}[a.level]
        if a.level == "town":
            conds.append(f"{alias}.community_code IN (SELECT code FROM areas WHERE parent_code = :area)")
        else:
            conds.append(f"{alias}.{col} = :area")
    return " AND ".join(conds) or "true"


def check_stored_grids(conn: Connection, scope: Jurisdiction, *, area: str | None = None, target: int = 300,
                       band: float = 0.15, tolerance_m2: float = 1.0, geometry: bool = False) -> dict:
    """``{"grids": n, "issues": [row, ...]}`` for the current grids in ``scope`` (and ``area``);
    with ``geometry`` each row also holds its place (``geometry``: GeoJSON, EPSG:4326)."""
    from geo.zoning import ZoningParams, check_grids

    bounds = ZoningParams(target_households=target, band=band).bounds
    p: dict = {}
    w = _where(conn, scope, area, "g", p)
    grids = gpd.read_postgis(text(f"SELECT code, community_code, geom FROM current_grids g WHERE {w}"), conn,
                             geom_col="geom", params=p)
    comms = gpd.read_postgis(text(
        "SELECT code, geom FROM areas WHERE level = 'community' AND code IN "
        f"(SELECT DISTINCT community_code FROM current_grids g WHERE {w})"), conn, geom_col="geom", params=p)
    dw = gpd.read_postgis(text(
        "SELECT households, grid_code, geom FROM dwellings d WHERE grid_code IN "
        f"(SELECT code FROM current_grids g WHERE {w})"), conn, geom_col="geom", params=p)
    if grids.empty:
        return {"grids": 0, "issues": []}
    issues = check_grids(grids, comms, dw, bounds=bounds, tolerance_m2=tolerance_m2)
    rows = [jsonable({c: (None if v != v else v) if isinstance(v, float) else v for c, v in r.items()})
            for r in issues.drop(columns="geometry").to_dict("records")]
    if geometry:
        import shapely.geometry

        for r, g in zip(rows, issues.geometry):
            r["geometry"] = None if g is None or g.is_empty else shapely.geometry.mapping(g)
    return {"grids": int(len(grids)), "issues": rows}


def report_features(report: dict) -> dict:
    """A report made with ``geometry=True`` as a GeoJSON FeatureCollection (the map layer)."""
    feats = [{"type": "Feature", "geometry": r.get("geometry"),
              "properties": {c: r.get(c) for c in REPORT_COLUMNS}} for r in report["issues"]]
    return {"type": "FeatureCollection", "grids": report["grids"], "features": feats}


def report_bytes(report: dict, fmt: str) -> bytes:
    """``report`` as a file's bytes: ``json``, ``geojson`` (made with ``geometry=True``), ``csv`` or ``xlsx``."""
    import io

    rows = report["issues"]
    if fmt == "json":
        plain = {**report, "issues": [{k: v for k, v in r.items() if k != "geometry"} for r in rows]}
        return json.dumps(plain, ensure_ascii=False, indent=1).encode("utf-8")
    if fmt == "geojson":
        return json.dumps(report_features(report), ensure_ascii=False).encode("utf-8")
    if fmt == "csv":
        import csv

        buf = io.StringIO()
        wr = csv.DictWriter(buf, fieldnames=list(REPORT_COLUMNS), extrasaction="ignore")
        wr.writeheader()
        wr.writerows(rows)
        return "\ufeff".encode("utf-8") + buf.getvalue().encode("utf-8")
    if fmt == "xlsx":
        from openpyxl import Workbook

        wb = Workbook()
        ws = wb.active
        ws.title = "issues"
        ws.append(list(REPORT_COLUMNS))
        for r in rows:
            ws.append([r.get(c) for c in REPORT_COLUMNS])
        buf = io.BytesIO()
        wb.save(buf)
        return buf.getvalue()
    raise ValidationFailed(f"No report format {fmt!r}; use json, geojson, csv or xlsx.",
                           [Problem("one of json, geojson, csv, xlsx", field="format")])


def write_report(report: dict, path: Path) -> None:
    """Write ``report`` to ``path`` (.json, .csv or .xlsx)."""
    fmt = {".json": "json", ".csv": "csv", ".xlsx": "xlsx"}.get(Path(path).suffix.lower())
    if fmt is None:
        raise ValidationFailed(f"Cannot write a report to {path}; use .json, .csv or .xlsx.",
                               [Problem("one of .json, .csv, .xlsx", field="out")])
    Path(path).write_bytes(report_bytes(report, fmt))
