"""What gridmap holds, counted in SQL for the caller's jurisdiction (the home page's figures)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from sqlalchemy import Connection, and_, func, select

from api.db.models import areas, dwellings, grids, incidents, stations, streets
from api.jurisdiction import Jurisdiction

__all__ = ["Holdings", "holdings"]


@dataclass(frozen=True)
class Holdings:
    """Counts of each layer in scope: ``households`` is the sum over dwellings, ``grids`` the
    current grids (``valid_to IS NULL``), the others row counts."""

    towns: int
    communities: int
    grids: int
    households: int
    dwellings: int
    stations: int
    streets: int
    incidents: int

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def _count(conn: Connection, table, *conds) -> int:
    return int(conn.execute(select(func.count()).select_from(table).where(and_(*conds))).scalar_one())


def holdings(conn: Connection, scope: Jurisdiction) -> Holdings:
    """Count towns, communities, current grids, households, dwellings, stations, streets and
    incidents inside ``scope``."""
    hh = conn.execute(select(func.coalesce(func.sum(dwellings.c.households), 0))
                      .where(scope.clause(dwellings))).scalar_one()
    return Holdings(
        towns=_count(conn, areas, areas.c.level == "town", scope.clause(areas)),
        communities=_count(conn, areas, areas.c.level == "community", scope.clause(areas)),
        grids=_count(conn, grids, grids.c.valid_to.is_(None), scope.clause(grids)),
        households=int(hh),
        dwellings=_count(conn, dwellings, scope.clause(dwellings)),
        stations=_count(conn, stations, scope.clause(stations)),
        streets=_count(conn, streets, scope.clause(streets)),
        incidents=_count(conn, incidents, scope.clause(incidents)),
    )
