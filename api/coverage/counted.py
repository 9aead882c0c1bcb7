"""The stations a coverage counts, counted in the database (for pages that lay out before any run)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Connection, exists, func, literal_column, or_, select

from api.db.load import point_grid_id_sql
from api.db.models import grids, stations
from api.jurisdiction import Jurisdiction


def counted_kinds(conn: Connection, scope: Jurisdiction, *, kinds: tuple[str, ...] | None, at: dt.date,
                  area: str | None = None) -> dict[str, int]:
    """The stations the coverage counts, by kind, most numerous first: of ``kinds`` (all when None),
    open on ``at`` (as :func:`geo.reach.select_stations`) and, with ``area``, inside a current grid
    of that town, community or grid code (the grid the rule of :mod:`geo.attribution` gives it)."""
    st = stations
    conds = [scope.clause(st), or_(st.c.opened_on.is_(None), st.c.opened_on <= at),
             or_(st.c.closed_on.is_(None), st.c.closed_on > at)]
    if kinds:
        conds.append(st.c.kind.in_(kinds))
    if area:  # the station's grid by the point-in-grid rule (a station on a shared edge is in one grid)
        g = grids
        conds.append(exists().where(
            g.c.id == literal_column(point_grid_id_sql(f"{st.name}.geom")), g.c.valid_from <= func.now(),
            or_(g.c.code == area, g.c.community_code == area, g.c.town_code == area)))
    rows = conn.execute(select(st.c.kind, func.count()).where(*conds).group_by(st.c.kind)
                        .order_by(func.count().desc(), st.c.kind))
    return {k: int(n) for k, n in rows}
