"""The caller's jurisdiction: the set of area codes whose data a query may touch.

Every data query takes one, from the start, so access control (roles scoped to area codes) can
later be added at the edge without touching a query.  Until then routes pass :data:`EVERYWHERE`.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, Table, false, or_, true


@dataclass(frozen=True)
class Jurisdiction:
    """Area codes a caller may see: 6-digit county codes, town codes or community codes.

    ``codes=None`` means everywhere.  A row is in scope when its ``region_code``, ``town_code``,
    ``community_code`` (or, for areas, its own ``code`` or ``parent_code``) is one of the codes.
    """

    codes: frozenset[str] | None = None

    @property
    def everywhere(self) -> bool:
        return self.codes is None

    def clause(self, table: Table) -> ColumnElement[bool]:
        """SQL condition that keeps ``table``'s rows inside this jurisdiction."""
        if self.codes is None:
            return true()
        if not self.codes:
            return false()
        cols = [c for c in ("region_code", "town_code", "community_code") if c in table.c]
        if table.name == "areas":
            cols += ["code", "parent_code"]
        codes = sorted(self.codes)
        return or_(*(table.c[c].in_(codes) for c in cols))

    def allows(self, *codes: str | None) -> bool:
        return self.codes is None or any(c in self.codes for c in codes if c)


EVERYWHERE = Jurisdiction()
