"""Counties (regions) stored and their partitions (migration ``0006_region_partitions``).

:func:`list_regions` counts each county's rows per table and names its partitions;
:func:`drop_region` removes a county: its partitions of the partitioned tables are detached and
dropped and its rows of the other tables (areas, stations) deleted, all in the caller's
transaction, and the data versions of every layer touched move (detaching a partition fires no
row trigger), so no cached coverage of the county is served again.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, text

from api.errors import NotFound

__all__ = ["PARTITIONED", "PLAIN", "RegionInfo", "list_regions", "drop_region", "partitions_of"]

#: The tables partitioned by region_code (0006), rows written in this order.
PARTITIONED = ("grids", "dwellings", "streets", "incidents", "incident_events")
#: Tables holding a region_code but not partitioned.
PLAIN = ("areas", "stations")
#: Layers whose versions the drop moves (incident_events has no version of its own).
_VERSIONED = ("areas", "stations", "grids", "dwellings", "streets", "incidents")


@dataclass(frozen=True)
class RegionInfo:
    """One county: its code, name (an ``areas`` row of level ``county``, if any), rows per table
    and the partitions holding them (``regions.<table>_r<code>``; rows in a default partition are
    counted under their table all the same)."""

    code: str
    name: str | None
    rows: dict[str, int]
    partitions: tuple[str, ...]


def partitions_of(conn: Connection, code: str) -> list[tuple[str, str]]:
    """``(parent table, partition)`` of county ``code``'s own partitions (schema-qualified)."""
    rows = conn.execute(text("""
        SELECT p.relname AS parent, 'regions.' || c.relname AS part
        FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'regions' AND c.relname = p.relname || '_r' || :code"""), {"code": code}).all()
    order = {t: i for i, t in enumerate(PARTITIONED)}
    return sorted(((r.parent, r.part) for r in rows), key=lambda x: order.get(x[0], 99))


def list_regions(conn: Connection) -> list[RegionInfo]:
    """Every county with at least one row in any table, by code."""
    union = " UNION ALL ".join(f"SELECT region_code, '{t}' AS tbl, count(*) AS n FROM {t} GROUP BY 1"
                               for t in (*PLAIN, *PARTITIONED))
    counts: dict[str, dict[str, int]] = {}
    for r in conn.execute(text(union)):
        counts.setdefault(r.region_code, {})[r.tbl] = int(r.n)
    names = dict(conn.execute(text("SELECT code, name FROM areas WHERE level = 'county'")).all())
    out = []
    for code in sorted(counts):
        rows = {t: counts[code].get(t, 0) for t in (*PLAIN, *PARTITIONED)}
        out.append(RegionInfo(code, names.get(code), rows, tuple(p for _, p in partitions_of(conn, code))))
    return out


def drop_region(conn: Connection, code: str) -> RegionInfo:
    """Remove county ``code`` (in the caller's transaction): detach and drop its partitions, delete
    its rows of :data:`PLAIN` (and any of its rows left in a default partition), move the data
    versions.  Returns what it held.

    Raises
    ------
    NotFound
        No row and no partition of that county.
    """
    held = next((r for r in list_regions(conn) if r.code == code), None)
    parts = partitions_of(conn, code)
    if held is None and not parts:
        raise NotFound(f"no county {code!r} is stored")
    for parent, part in reversed(parts):  # events before incidents: the events' key names them
        conn.execute(text(f"ALTER TABLE {parent} DETACH PARTITION {part}"))
        conn.execute(text(f"DROP TABLE {part}"))
    for t in (*reversed(PARTITIONED), *PLAIN):  # rows of the county in a default partition, and the rest
        conn.execute(text(f"DELETE FROM {t} WHERE region_code = :c"), {"c": code})
    conn.execute(text("""
        INSERT INTO data_versions (layer, version) SELECT l, 1 FROM unnest(CAST(:layers AS text[])) l
        ON CONFLICT (layer) DO UPDATE SET version = data_versions.version + 1, changed_at = now()"""),
                 {"layers": list(_VERSIONED)})
    return held or RegionInfo(code, None, {}, tuple(p for _, p in parts))
