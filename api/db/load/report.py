"""What one :func:`api.db.load.load_frame` call did: :class:`LoadReport`."""

from __future__ import annotations

from dataclasses import dataclass

from geo.errors import Problem

__all__ = ["LoadReport", "REPORT_COLUMNS"]

#: The columns of :meth:`LoadReport.row`, in display order.
REPORT_COLUMNS = ("inserted", "updated", "unchanged", "closed", "dwellings re-attributed",
                  "incidents re-attributed", "warnings")


@dataclass(frozen=True)
class LoadReport:
    """What :func:`api.db.load.load_frame` did.

    Attributes
    ----------
    inserted : int
        New features (for grids: new grid codes and new versions of changed grids,
        ``added + new_versions``).
    updated : int
        Existing features whose attributes changed, updated in place (grids: also versions
        whose geometry was corrected in place, ``corrected``).
    versions_closed : int
        Grid versions closed because the grid's boundary changed (``= new_versions``).
    unchanged : int
        Features already stored exactly as given (re-imports).
    added : int
        Grids only: codes that had no current version.
    new_versions : int
        Grids only: grids whose boundary changed (old version closed, new one inserted).
    closed : int
        Grids only, ``replace=True``: current grids of the file's communities missing from the
        file, closed (``valid_to = now()``).
    corrected : int
        Grids only, ``correct=True``: current versions whose geometry was replaced in place
        (same validity).
    dwellings_reattributed : int
        Grids only: dwellings whose grid/community changed with the grids (same transaction).
    incidents_reattributed : int
        Grids only: incidents re-attributed because the validity or geometry of the grid version
        they fall in at their ``reported_at`` changed (:mod:`api.db.load.reattribute`).
    warnings : tuple of Problem
        Grids only: gaps between the grids of a community (area m2 and a lon/lat inside), which
        do not stop the import.
    """

    inserted: int = 0
    updated: int = 0
    versions_closed: int = 0
    unchanged: int = 0
    added: int = 0
    new_versions: int = 0
    closed: int = 0
    corrected: int = 0
    dwellings_reattributed: int = 0
    incidents_reattributed: int = 0
    warnings: tuple[Problem, ...] = ()

    def row(self) -> dict[str, int]:
        """The report as one table row: :data:`REPORT_COLUMNS` -> count (for the CLI to render)."""
        return dict(zip(REPORT_COLUMNS, (self.inserted, self.updated, self.unchanged, self.closed,
                                         self.dwellings_reattributed, self.incidents_reattributed,
                                         len(self.warnings))))
