"""Area codes: which grid, community, town or county (region) a code names, and the units of a level.

The rule, in one place
----------------------
- **grids** are the current grids (``current_grids``: valid now); a grid's community is its
  ``community_code``, its town its ``town_code`` or else the parent of its community in ``areas``;
- **communities** are the ``areas`` of level ``community`` plus every ``community_code`` that a
  current grid names (a community may exist only through its grids' codes);
- **towns** are the ``areas`` of level ``town`` plus every town that those communities name;
- a **region** is a 6-digit county code (``region_code``) of any of these units.

A code is looked up in that order: grid, community, town, region (the first level that has it
wins).  A unit is in a jurisdiction when its region, town or community code is one of the
jurisdiction's codes.  Names come from ``grids`` (the newest version) and ``areas``; a unit known
only from codes has none.  All SQL takes bound parameters.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, text

from api.errors import NotFound
from api.jurisdiction import Jurisdiction

__all__ = ["AREA_LEVELS", "UNIT_LEVELS", "Area", "resolve_area", "unit_codes", "unit_names"]

#: Levels a code can name, most specific first.
AREA_LEVELS: tuple[str, ...] = ("grid", "community", "town", "region")
#: Levels that statistics report on (one row a unit).
UNIT_LEVELS: tuple[str, ...] = ("grid", "community", "town")

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
), ru AS (
    SELECT DISTINCT region AS code, NULL::varchar AS comm, NULL::varchar AS town, region FROM gu
    UNION SELECT region, NULL::varchar, NULL::varchar, region FROM cu
    UNION SELECT region, NULL::varchar, NULL::varchar, region FROM tu
)"""
_TABLE = {"grid": "gu", "community": "cu", "town": "tu", "region": "ru"}


@dataclass(frozen=True)
class Area:
    """One area a code names.

    Attributes
    ----------
    code : str
    level : {"region", "town", "community", "grid"}
    name : str or None
        From ``grids`` / ``areas`` (a county's from an ``areas`` row of level ``county``); None for
        a unit known only from codes.
    region_code, town_code, community_code : str or None
        The codes of the area and of the areas containing it (a grid's own code is ``code``).
    """

    code: str
    level: str
    name: str | None
    region_code: str | None
    town_code: str | None
    community_code: str | None


def _scope_sql(scope: Jurisdiction, params: dict) -> str:
    if scope.codes is None:
        return "true"
    params["scope_codes"] = sorted(scope.codes)
    return "(u.region = ANY(:scope_codes) OR u.town = ANY(:scope_codes) OR u.comm = ANY(:scope_codes))"


def resolve_area(conn: Connection, code: str, scope: Jurisdiction) -> Area:
    """The grid, community, town or region ``code`` names, in ``scope`` (rule: module docstring).

    Raises
    ------
    NotFound
        No unit of that code in ``scope`` (404).
    """
    for level in AREA_LEVELS:
        params: dict = {"code": code}
        row = conn.execute(text(
            f"WITH {_UNITS} SELECT u.code, u.comm, u.town, u.region FROM {_TABLE[level]} u "
            f"WHERE u.code = :code AND {_scope_sql(scope, params)} "
            "ORDER BY u.town NULLS LAST, u.region LIMIT 1"), params).first()
        if row is not None:
            name = unit_names(conn, level, [code]).get(code)
            return Area(code=code, level=level, name=name, region_code=row.region,
                        town_code=row.town, community_code=row.comm if level != "region" else None)
    raise NotFound(f"no town, community, grid or county {code!r} in your jurisdiction")


def unit_codes(conn: Connection, scope: Jurisdiction, level: str, area: str | None = None) -> list[str]:
    """Codes of the units of ``level`` (``grid``, ``community``, ``town``) in ``scope``, those in or
    named ``area`` (any level's code) when it is given, sorted."""
    params: dict = {}
    where = ["u.code IS NOT NULL", _scope_sql(scope, params)]
    if area is not None:
        where.append("(u.code = :area OR u.comm = :area OR u.town = :area OR u.region = :area)")
        params["area"] = area
    sql = f"WITH {_UNITS} SELECT DISTINCT u.code FROM {_TABLE[level]} u WHERE " + " AND ".join(where) + " ORDER BY 1"
    return list(conn.execute(text(sql), params).scalars())


def unit_names(conn: Connection, level: str, codes: list[str] | None = None) -> dict[str, str]:
    """Name of each unit of ``level`` (those of ``codes`` when given): a grid's from its newest
    version, a community's or town's from ``areas``, a region's from the ``areas`` row of level
    ``county`` with that code."""
    params: dict = {}
    only = ""
    if codes is not None:
        only = " AND code = ANY(:codes)"
        params["codes"] = list(codes)
    if level == "grid":
        sql = ("SELECT DISTINCT ON (code) code, name FROM grids WHERE true" + only
               + " ORDER BY code, valid_to DESC NULLS FIRST")
    else:
        params["level"] = "county" if level == "region" else level
        sql = "SELECT DISTINCT ON (code) code, name FROM areas WHERE level = :level" + only + " ORDER BY code"
    return dict(conn.execute(text(sql), params).all())
