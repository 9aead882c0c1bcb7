"""The queries behind the incident map pages (``api/pages/incidents.py`` holds no SQL): the default
window, the category names of the form, the grids' extent and shapes, the versions that key the
page cache.  Geometries are EPSG:4326 lon/lat; all SQL takes bound parameters.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import Connection, text

from api.incidents.filters import IncidentFilter, scope_condition
from api.jurisdiction import Jurisdiction

__all__ = ["category_names", "data_versions", "default_window", "grid_extent", "grid_shapes"]


def default_window(conn: Connection, scope: Jurisdiction, flt: IncidentFilter, *, tz: str,
                   period: str = "month") -> IncidentFilter:
    """``flt`` with its window, or (where ``start``/``end`` are missing) the year up to the latest
    incident in scope, starting at the beginning of a week or month in ``tz`` (IANA zone) so that
    the first frame is a whole one."""
    if flt.start is not None and flt.end is not None:
        return flt
    end = flt.end
    if end is None:
        params: dict = {}
        latest = conn.execute(text(
            f"SELECT max(incidents.reported_at) FROM incidents WHERE {scope_condition(scope, 'incidents', params)}"),
            params).scalar()
        end = (latest + timedelta(seconds=1)) if latest else datetime.now(timezone.utc)
    start = flt.start
    if start is None:
        start = conn.execute(text(
            "SELECT date_trunc(:p, CAST(:e AS timestamptz) - interval '1 year' + CAST('1 ' || :p AS interval), :tz)"),
            {"p": period, "e": end, "tz": tz}).scalar_one()
    return flt.window(start, end)


def category_names(conn: Connection, lang: str) -> list[tuple[str, str]]:
    """``(code, name)`` of every incident category, the name in ``lang`` ("zh" or else English)."""
    rows = conn.execute(text("SELECT code, name_zh, name_en FROM incident_categories ORDER BY code")).all()
    return [(r.code, r.name_zh if lang == "zh" else r.name_en) for r in rows]


def grid_extent(conn: Connection, scope: Jurisdiction) -> tuple[float, float, float, float] | None:
    """(min lon, min lat, max lon, max lat) of the current grids in scope, or None."""
    params: dict = {}
    e = conn.execute(text(f"SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM "
                          f"(SELECT ST_Extent(g.geom) AS e FROM current_grids g "
                          f"WHERE {scope_condition(scope, 'g', params, grid_column='code')}) s"), params).one()
    return None if e[0] is None else tuple(float(v) for v in e)


def grid_shapes(conn: Connection, scope: Jurisdiction) -> list[tuple[str, str]]:
    """``(code, GeoJSON geometry text)`` of the current grids in scope, by code: simplified
    (~2 m, 0.00002 degrees) and written with 5 decimals by PostGIS."""
    params: dict = {}
    return [tuple(r) for r in conn.execute(text(f"""
        SELECT g.code, ST_AsGeoJSON(ST_SimplifyPreserveTopology(g.geom, 0.00002), 5) AS gj
        FROM current_grids g WHERE {scope_condition(scope, 'g', params, grid_column='code')} ORDER BY g.code"""), params).all()]


def data_versions(conn: Connection, layers: tuple[str, ...]) -> tuple:
    """``(layer, version, changed_at)`` of ``layers`` from ``data_versions`` (changed_at as well: a
    version number alone repeats if that table is ever emptied)."""
    return tuple(tuple(r) for r in conn.execute(text(
        "SELECT layer, version, changed_at FROM data_versions WHERE layer = ANY(:l) ORDER BY layer"),
        {"l": list(layers)}).all())
