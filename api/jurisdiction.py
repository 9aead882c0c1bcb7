"""The caller's jurisdiction: the set of area codes whose data a query may touch.

Every data query takes one, from the start, so access control (roles scoped to area codes) can
be added at the edge without touching a query: ``api.auth`` builds the caller's from its user
(:data:`EVERYWHERE` only for admins, and for everyone while no user exists).

It also says whether the caller may see personal fields (:data:`PERSONAL_FIELDS`: grid workers'
phones, exact dwelling addresses): the readers drop them (:meth:`Jurisdiction.hides`) for roles
that do not need them, so the decision is made once, where the caller is built.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, Table, and_, false, or_, true

#: Personal columns of each table: served only to a jurisdiction with ``personal=True``.
PERSONAL_FIELDS: dict[str, frozenset[str]] = {
    "grids": frozenset({"phone"}),
    "dwellings": frozenset({"address"}),
    "incidents": frozenset({"reporter_contact"}),  # reserved: no such column yet
}


@dataclass(frozen=True)
class Jurisdiction:
    """Area codes a caller may see: 6-digit county codes, town codes or community codes.

    ``codes=None`` means everywhere.  A row is in scope when its ``region_code``, ``town_code``,
    ``community_code`` (or, for areas, its own ``code`` or ``parent_code``) is one of the codes.
    ``grids`` (when set) narrows rows that carry a ``grid_code`` (incidents, dwellings) to those
    grids: a grid worker handles only its own grids' cases.  ``personal``: whether personal fields
    (:data:`PERSONAL_FIELDS`) may be returned.
    """

    codes: frozenset[str] | None = None
    grids: frozenset[str] | None = None
    personal: bool = True

    def hides(self, table: str, column: str) -> bool:
        """Whether ``column`` of ``table`` must be left out of what this caller is answered."""
        return not self.personal and column in PERSONAL_FIELDS.get(table, ())

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
        cond = or_(*(table.c[c].in_(codes) for c in cols))
        if self.grids is not None and "grid_code" in table.c:
            cond = and_(cond, table.c.grid_code.in_(sorted(self.grids)))
        return cond

    def allows(self, *codes: str | None) -> bool:
        return self.codes is None or any(c in self.codes for c in codes if c)


EVERYWHERE = Jurisdiction()
