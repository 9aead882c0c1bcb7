"""The one incident filter: which incidents a list, statistic, heatmap or hotspot analysis covers.

An :class:`IncidentFilter` is built once at the edge (the ``deps.IncidentFilterDep`` FastAPI
dependency, the CLI's ``api.cli.incidents.cli_filter``), checked once (:meth:`IncidentFilter.check`)
and handed to every query in :mod:`api.incidents`, which turn it into SQL with bound parameters
only (:meth:`IncidentFilter.where`).

A filter that cannot match anything because it is wrong is the caller's mistake, not "nothing
found": it is refused, as intake refuses an unknown category.

- ``from`` after ``to``: :class:`ValidationFailed` (422) naming both fields;
- unknown category: 422, ``errors`` on field ``category``, ``known_categories`` listed;
- unknown status: 422 on field ``status``;
- unknown area or grid code (``api.db.areas.resolve_area``: no town, community, grid or county of
  that code in the caller's jurisdiction): :class:`NotFound` (404), as ``/coverage?area=``.

Also the jurisdiction as a bound-parameter SQL condition (:func:`scope_condition`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Callable

from sqlalchemy import Connection, text

from api.db.areas import resolve_area
from api.errors import ValidationFailed
from api.incidents.categories import ADD_COMMAND
from api.incidents.workflow import OPEN_STATUSES
from api.jurisdiction import Jurisdiction
from geo.errors import Problem
from geo.layers import INCIDENT_STATUSES

__all__ = ["IncidentFilter", "scope_condition", "named", "pyformat"]

#: Placeholder styles: SQLAlchemy ``text()`` (``:name``) and psycopg2 / ``COPY`` (``%(name)s``).
named: Callable[[str], str] = lambda n: f":{n}"  # noqa: E731
pyformat: Callable[[str], str] = lambda n: f"%({n})s"  # noqa: E731


def scope_condition(scope: Jurisdiction, alias: str, params: dict, *,
                    columns: tuple[str, ...] = ("region_code", "town_code", "community_code"),
                    ph: Callable[[str], str] = named, grid_column: str | None = "grid_code") -> str:
    """SQL condition keeping the rows of ``alias`` (a table or view with ``columns``) inside
    ``scope``; the codes go into ``params`` (key ``scope_codes``), never into the SQL text.
    ``grid_column``: the column that ``scope.grids`` narrows (None: the rows have none)."""
    if scope.codes is None:
        return "true"
    if not scope.codes:
        return "false"
    params["scope_codes"] = sorted(scope.codes)
    cond = "(" + " OR ".join(f"{alias}.{c} = ANY({ph('scope_codes')})" for c in columns) + ")"
    if scope.grids is not None and grid_column:  # a grid worker's own grids (api.jurisdiction)
        params["scope_grids"] = sorted(scope.grids)
        cond = f"({cond} AND {alias}.{grid_column} = ANY({ph('scope_grids')}))"
    return cond


@dataclass(frozen=True)
class IncidentFilter:
    """Which incidents: reported in ``[start, end)``, of these categories and statuses, in an area.

    Attributes
    ----------
    start, end : datetime, optional
        Window on ``reported_at`` (timezone-aware; read in ``GRIDMAP_TIMEZONE`` at the edge when the
        caller gave no offset); open-ended when omitted.
    categories : tuple of str
        Category codes to keep (empty: all).
    statuses : tuple of str
        Statuses to keep (empty: all).
    area : str, optional
        Keep incidents whose region, town, community or grid code is this.
    grid : str, optional
        Keep incidents of this grid code.
    overdue : bool, optional
        True: open and past ``due_at`` at the query's ``as_of``; False: the others.
    """

    start: datetime | None = None
    end: datetime | None = None
    categories: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    area: str | None = None
    grid: str | None = None
    overdue: bool | None = None

    def window(self, start: datetime | None, end: datetime | None) -> "IncidentFilter":
        """The same filter over another window."""
        return replace(self, start=start, end=end)

    def check(self, conn: Connection, scope: Jurisdiction) -> "IncidentFilter":
        """Refuse a filter that is wrong rather than empty; returns ``self``.

        Raises
        ------
        ValidationFailed
            ``start`` after ``end`` (both named), a category not in ``incident_categories`` (the
            known ones listed in the reason and in ``known_categories``), an unknown status.
        NotFound
            ``area`` or ``grid`` is no town, community, grid or county code in ``scope``.
        """
        if self.start is not None and self.end is not None and self.start > self.end:
            why = f"from {self.start.isoformat()} is after to {self.end.isoformat()}"
            raise ValidationFailed(f"the window is reversed: {why}", [Problem(why, field="from"),
                                                                      Problem(why, field="to")])
        unknown = [s for s in self.statuses if s not in INCIDENT_STATUSES]
        if unknown:
            why = f"unknown status {', '.join(map(repr, unknown))}; statuses: {', '.join(INCIDENT_STATUSES)}"
            raise ValidationFailed(why, [Problem(why, field="status")], allowed_values={"status": list(INCIDENT_STATUSES)})
        if self.categories:
            known = list(conn.execute(text("SELECT code FROM incident_categories ORDER BY code")).scalars())
            unknown = [c for c in self.categories if c not in known]
            if unknown:
                why = (f"unknown category {', '.join(map(repr, unknown))}; known categories: {', '.join(known)} "
                       f"(add one with `{ADD_COMMAND}`)")
                raise ValidationFailed(why, [Problem(why, field="category")], known_categories=known)
        if self.area is not None:
            resolve_area(conn, self.area, scope)
        if self.grid is not None:
            resolve_area(conn, self.grid, scope)
        return self

    def where(self, scope: Jurisdiction, params: dict, *, alias: str = "incidents",
              ph: Callable[[str], str] = named, window: bool = True) -> str:
        """SQL condition on ``alias`` (the ``incidents`` table) for this filter in ``scope``; the
        values go into ``params`` (keys prefixed ``f_``), none into the text.  ``window=False``
        leaves the time window out.  ``overdue`` needs ``params["as_of"]`` (the caller's "now")."""
        a = alias
        where = [scope_condition(scope, a, params, ph=ph)]
        if window and self.start is not None:
            where.append(f"{a}.reported_at >= {ph('f_start')}")
            params["f_start"] = self.start
        if window and self.end is not None:
            where.append(f"{a}.reported_at < {ph('f_end')}")
            params["f_end"] = self.end
        if self.categories:
            where.append(f"{a}.category = ANY({ph('f_categories')})")
            params["f_categories"] = list(self.categories)
        if self.statuses:
            where.append(f"{a}.status = ANY({ph('f_statuses')})")
            params["f_statuses"] = list(self.statuses)
        if self.grid is not None:
            where.append(f"{a}.grid_code = {ph('f_grid')}")
            params["f_grid"] = self.grid
        if self.area is not None:
            where.append(f"({a}.town_code = {ph('f_area')} OR {a}.community_code = {ph('f_area')} "
                         f"OR {a}.grid_code = {ph('f_area')} OR {a}.region_code = {ph('f_area')})")
            params["f_area"] = self.area
        if self.overdue is not None:
            params["f_open"] = list(OPEN_STATUSES)
            od = f"({a}.status = ANY({ph('f_open')}) AND {a}.due_at < {ph('as_of')})"
            where.append(od if self.overdue else f"NOT {od}")
        return " AND ".join(where)
