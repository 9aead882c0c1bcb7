"""Validation of the stored (current) grids with :func:`geo.zoning.check_grids`: overlaps, gaps,
parts outside their community, grids in several pieces, sizes out of band; as a report
(``gridmap grids check``) written to JSON, CSV (UTF-8 with BOM) or xlsx."""

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

__all__ = ["check_stored_grids", "write_report", "REPORT_COLUMNS"]

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
                       band: float = 0.15, tolerance_m2: float = 1.0) -> dict:
    """``{"grids": n, "issues": [row, ...]}`` for the current grids in ``scope`` (and ``area``)."""
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
    return {"grids": int(len(grids)), "issues": rows}


def write_report(report: dict, path: Path) -> None:
    """Write ``report`` to ``path`` (.json, .csv or .xlsx)."""
    suffix = Path(path).suffix.lower()
    rows = report["issues"]
    if suffix == ".json":
        Path(path).write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")
    elif suffix == ".csv":
        import csv

        with open(path, "w", newline="", encoding="utf-8-sig") as f:
            wr = csv.DictWriter(f, fieldnames=list(REPORT_COLUMNS), extrasaction="ignore")
            wr.writeheader()
            wr.writerows(rows)
    elif suffix == ".xlsx":
        from openpyxl import Workbook

        wb = Workbook()
        ws = wb.active
        ws.title = "issues"
        ws.append(list(REPORT_COLUMNS))
        for r in rows:
            ws.append([r.get(c) for c in REPORT_COLUMNS])
        wb.save(path)
    else:
        raise ValidationFailed(f"Cannot write a report to {path}; use .json, .csv or .xlsx.",
                               [Problem("one of .json, .csv, .xlsx", field="out")])
