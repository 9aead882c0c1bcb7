"""A county's partitions, made when its first rows arrive (migration ``0006_region_partitions``).

grids, dwellings, streets, incidents and incident_events are LIST-partitioned by ``region_code``;
:func:`ensure_partitions` calls the database function ``gridmap_region_partitions(code)`` for every
county code a write is about to use, in the writer's transaction, so each county's rows land in
its own partition (``regions.<table>_r<code>``) rather than in the default one.  The function
takes an advisory lock only when something is missing, so the common case is one cheap query.
"""

from __future__ import annotations

from sqlalchemy import Connection, text

__all__ = ["ensure_partitions", "ensure_staged_partitions"]


def ensure_partitions(conn: Connection, codes) -> int:
    """Create the partitions of the county ``codes`` that have none yet; returns how many tables
    were created.  Codes that are not 6 digits are left to the write's own checks."""
    wanted = sorted({str(c) for c in codes if c is not None and len(str(c)) == 6 and str(c).isdigit()})
    if not wanted:
        return 0
    return int(conn.execute(text("SELECT COALESCE(sum(gridmap_region_partitions(c)), 0) FROM unnest(:codes) c"),
                            {"codes": wanted}).scalar_one())


def ensure_staged_partitions(conn: Connection, staged: str, extra: tuple = ()) -> int:
    """:func:`ensure_partitions` for the ``region_code`` values of staging table ``staged`` (a name
    the load path made, never user input) and ``extra`` codes."""
    codes = list(conn.execute(text(f"SELECT DISTINCT region_code FROM {staged} WHERE region_code IS NOT NULL"))
                 .scalars())
    return ensure_partitions(conn, [*codes, *extra])
