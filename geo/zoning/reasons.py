"""Why a community's grids cannot all be in band: structured reasons with codes and figures."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Reason", "REASON_CODES"]

#: Every reason code, with what it means.
REASON_CODES: dict[str, str] = {
    "unit_above_max": "one unit (a block or a building) holds more households than a grid may",
    "community_too_small": "the community holds fewer households than one grid needs",
    "no_count_fits": "no number of grids puts every grid in band for the community's total",
    "locked_leave_too_few": "the locked grids leave too few households for the other grids",
    "locked_out_of_band": "a locked grid is outside the band and may not change",
    "island_unit": "units with no neighbour in the rest of the community (an island) cannot join a grid contiguously",
    "grid_out_of_band": "the search found no contiguous plan putting this grid in band",
    "dwelling_outside": "a dwelling lies outside the community polygon and was put in the nearest unit",
}


@dataclass(frozen=True)
class Reason:
    """One reason a plan misses its band (the plan is still made; the grids named are flagged).

    Attributes
    ----------
    code : str
        One of :data:`REASON_CODES`.
    community : str
        Community code.
    grid : str, optional
        Label of the grid concerned.
    unit : str, optional
        Unit id concerned.
    figures : dict
        The numbers behind it (households, min, max, counts ...).
    """

    code: str
    community: str
    grid: str | None = None
    unit: str | None = None
    figures: dict = field(default_factory=dict)

    @property
    def message(self) -> str:
        """The reason in words, with its figures."""
        where = " ".join(x for x in (f"community {self.community}", self.grid and f"grid {self.grid}",
                                     self.unit and f"unit {self.unit}") if x)
        figs = ", ".join(f"{k} {v}" for k, v in self.figures.items())
        return f"{where}: {REASON_CODES[self.code]}" + (f" ({figs})" if figs else "")

    def as_dict(self) -> dict:
        """Plain values (JSON-able) including the message."""
        return {"code": self.code, "community": self.community, "grid": self.grid, "unit": self.unit,
                "figures": dict(self.figures), "message": self.message}
