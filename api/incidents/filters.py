"""Checking the filters of incident statistics, hotspots and the heatmap before running them.

A filter that cannot match anything because it is wrong (a category nobody defined, an area code
that does not exist in the caller's jurisdiction, a window whose start is after its end) is the
caller's mistake, not "nothing found": it is refused with a 4xx problem, as intake refuses an
unknown category.

- unknown category: 422, ``errors`` on field ``category``, ``known_categories`` listed;
- unknown area code (no town, community, grid or county of that code in scope): 404, as
  ``/coverage?area=``;
- ``from`` after ``to``: 422 naming both fields.

Also the units (grids, communities, towns) a statistic reports on, zero incidents included.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, text

from api.errors import NotFound, ValidationFailed
from api.jurisdiction import Jurisdiction
from geo.errors import Problem


def check_filters(conn: Connection, scope: Jurisdiction, *, start: datetime | None = None,
                  end: datetime | None = None, category: list[str] | None = None,
                  area: str | None = None) -> None:
    """Refuse filters that are wrong rather than empty.

    Raises
    ------
    ValidationFailed
        ``start`` after ``end`` (both named), or a category code not in ``incident_categories``
        (the known ones listed in the reason and in ``known_categories``).
    NotFound
        ``area`` is no town, community, grid or county code in ``scope``.
    """
    if start is not None and end is not None and start > end:
        why = f"from {start.isoformat()} is after to {end.isoformat()}"
        raise ValidationFailed(f"the window is reversed: {why}", [Problem(why, field="from"),
                                                                  Problem(why, field="to")])
    if category:
        known = list(conn.execute(text("SELECT code FROM incident_categories ORDER BY code")).scalars())
        unknown = [c for c in category if c not in known]
        if unknown:
            why = f"unknown category {', '.join(map(repr, unknown))}; known categories: {', '.join(known)}"
            raise ValidationFailed(why, [Problem(why, field="category")], known_categories=known)
    if area is not None and not any(unit_codes(conn, scope, lvl, area, exists=True) for lvl in _FROM):
        raise NotFound(f"no town, community, grid or county {area!r} in your jurisdiction")


_UNITS = """
gu AS (
    SELECT g.code, g.community_code AS comm, COALESCE(g.town_code, ca.parent_code) AS town,
           g.region_code AS region
    FROM current_grids g
    LEFT JOIN areas ca ON ca.region_code = g.region_code AND ca.code = g.community_code
                      AND ca.level = 'community'
), cu AS (
    SELECT a.code, a.code AS comm, a.parent_code AS town, a.region_code AS region
    FROM areas a WHERE a.level = 'community'
    UNION SELECT DISTINCT comm, comm, town, region FROM gu WHERE comm IS NOT NULL
), tu AS (
    SELECT a.code, NULL::varchar AS comm, a.code AS town, a.region_code AS region
    FROM areas a WHERE a.level = 'town'
    UNION SELECT DISTINCT town, NULL::varchar, town, region FROM cu WHERE town IS NOT NULL
)"""
_FROM = {"grid": "gu", "community": "cu", "town": "tu"}


def unit_codes(conn: Connection, scope: Jurisdiction, level: str, area: str | None = None, *,
               exists: bool = False) -> list[str]:
    """Codes of the units of ``level`` in ``scope`` (current grids; communities and towns from
    ``areas`` and from the current grids), those in or named ``area`` when it is given.

    ``exists=True``: whether ``area`` is itself a unit code or contains one (one row at most).
    """
    where = ["true"]
    params: dict = {}
    if scope.codes is not None:
        where.append("(u.region = ANY(:codes) OR u.town = ANY(:codes) OR u.comm = ANY(:codes))")
        params["codes"] = sorted(scope.codes)
    if area is not None:
        where.append("(u.code = :area OR u.comm = :area OR u.town = :area OR u.region = :area)")
        params["area"] = area
    sql = f"WITH {_UNITS} SELECT DISTINCT u.code FROM {_FROM[level]} u WHERE u.code IS NOT NULL AND " \
          + " AND ".join(where) + (" LIMIT 1" if exists else " ORDER BY 1")
    return list(conn.execute(text(sql), params).scalars())
