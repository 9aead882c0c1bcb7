"""Parameters of a grid redraw: the household band, the grid count, locks and the search's weights."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from geo.errors import InvalidInput, Problem

__all__ = ["ZoningParams", "SEED_METHODS", "MICRO_PARAMS"]

#: How the first partition of a community is drawn: METIS (``pymetis``) on the unit graph, or the
#: recursive household bisection of :func:`geo.zoning.bisect.bisect_households` on unit points.
SEED_METHODS: tuple[str, ...] = ("metis", "bisect")


@dataclass(frozen=True)
class ZoningParams:
    """What a redraw aims at.  Frozen: a plan stores the parameters it was made with.

    Attributes
    ----------
    target_households : int
        Households a grid should hold (the domain's ~300).
    band : float
        Allowed relative deviation from the target (0.15: 255-345 households), unless
        ``min_households``/``max_households`` are given.
    min_households, max_households : int, optional
        The band's bounds in households, overriding ``band``.
    n_grids : int, optional
        Number of grids per community (locked grids included); derived from the households when
        ``None``: ``round(total / target)`` clamped into the range of counts whose mean is in band.
    locked : tuple of str
        Codes of current grids that must not change: their units never move and no other unit
        joins them.
    compactness_weight, street_weight : float
        Weights of the improvement phase: ``compactness_weight * sum(1 - Polsby-Popper)`` plus
        ``street_weight * sum(share of each grid's perimeter cut through blocks)``.
    stay_close : bool
        Start from the current grids (each unit in the current grid covering most of its area) and
        move only what the band requires: unchanged, in-band data moves nothing.
    move_weight : float
        Cost of one household moved off its current grid, in households of band violation
        (``stay_close`` only; must stay below 1 so that reaching the band always wins).
    seed_method : str
        One of :data:`SEED_METHODS`.
    random_seed : int
        Seed of METIS and of the restarts; the same input and parameters give the same plan.
    street_cost, block_cost : float
        Edge weight per metre of shared boundary along a street (between blocks) and through a
        block (between cells of one block): cutting along streets is cheap, through blocks dear.
    split_households : int, optional
        A block holding more households than this is split into dwelling cells; default the band's
        maximum.
    sliver_m2 : float
        Blocks smaller than this (m², metric CRS) merge into the neighbour sharing the longest
        boundary.
    restarts : int
        Extra seeds tried for a community whose grids are not all in band after the search.
    max_sweeps : int
        Bound on the sweeps of each phase of the local search.
    """

    target_households: int = 300
    band: float = 0.15
    min_households: int | None = None
    max_households: int | None = None
    n_grids: int | None = None
    locked: tuple[str, ...] = field(default_factory=tuple)
    compactness_weight: float = 1.0
    street_weight: float = 1.0
    stay_close: bool = False
    move_weight: float = 0.02
    seed_method: str = "metis"
    random_seed: int = 0
    street_cost: float = 1.0
    block_cost: float = 10.0
    split_households: int | None = None
    sliver_m2: float = 50.0
    restarts: int = 4
    max_sweeps: int = 60

    def __post_init__(self):
        object.__setattr__(self, "locked", tuple(sorted(set(self.locked or ()))))
        problems = []
        if not (isinstance(self.target_households, (int,)) and self.target_households >= 1):
            problems.append(Problem("must be a whole number of at least 1", field="target_households"))
        if not (0 <= self.band < 1):
            problems.append(Problem("must be at least 0 and below 1", field="band"))
        lo, hi = self.min_households, self.max_households
        if lo is not None and lo < 0:
            problems.append(Problem("must not be negative", field="min_households"))
        if hi is not None and hi < 1:
            problems.append(Problem("must be at least 1", field="max_households"))
        if lo is not None and hi is not None and lo > hi:
            problems.append(Problem(f"min_households {lo} is above max_households {hi}", field="min_households"))
        if self.n_grids is not None and self.n_grids < 1:
            problems.append(Problem("must be at least 1", field="n_grids"))
        if self.seed_method not in SEED_METHODS:
            problems.append(Problem(f"must be one of {', '.join(SEED_METHODS)}", field="seed_method"))
        if self.compactness_weight < 0 or self.street_weight < 0:
            problems.append(Problem("weights must not be negative", field="compactness_weight"))
        if not (0 <= self.move_weight < 1):
            problems.append(Problem("must be at least 0 and below 1", field="move_weight"))
        if self.street_cost <= 0 or self.block_cost <= 0:
            problems.append(Problem("edge costs must be positive", field="street_cost"))
        if problems:
            raise InvalidInput("invalid zoning parameters", problems)

    @property
    def bounds(self) -> tuple[int, int]:
        """``(min, max)`` households of a grid in band, inclusive."""
        lo = self.min_households if self.min_households is not None else math.ceil(
            self.target_households * (1 - self.band) - 1e-9)
        hi = self.max_households if self.max_households is not None else math.floor(
            self.target_households * (1 + self.band) + 1e-9)
        return int(lo), int(hi)

    @property
    def split_above(self) -> int:
        """Households above which a block is split into dwelling cells."""
        return self.split_households if self.split_households is not None else self.bounds[1]

    def as_dict(self) -> dict:
        """The parameters as plain JSON-able values (a plan stores them)."""
        from dataclasses import asdict
        d = asdict(self)
        d["locked"] = list(self.locked)
        return d


#: Defaults of the second level: micro-grids of 10-30 households inside each grid.
MICRO_PARAMS = ZoningParams(target_households=20, min_households=10, max_households=30, restarts=1,
                            split_households=0)
