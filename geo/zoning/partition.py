"""A live partition of units into grids, kept up to date move by move.

:class:`Partition` holds the units, their graph, the assignment and per-grid totals (households,
area, perimeter, boundary length and the part of it on streets) and updates them incrementally:
moving one unit touches only the two grids concerned, in time proportional to the unit's
neighbours.  It is what the redraw's local search runs on and what an editing session (the
planner's workbench, ``POST /plans/{id}/moves``) keeps alive; :meth:`Partition.move` refuses a move
that would split a grid, leave a grid empty or touch a locked grid (:class:`MoveRefused`).

All lengths and areas are in the units' metric CRS (metres, square metres).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely

from geo.zoning.graph import UnitGraph, build_graph
from geo.zoning.units import Units, to_lonlat_geoms

__all__ = ["Partition", "MoveRefused", "GridState", "MoveResult", "band_status"]


CRACK_M = 1e-3  # zero-width cracks a union of units may leave are closed at this width (m)
CRUMB_M2 = 1e-3  # holes and pieces this small in a union of units are noding crumbs (m²)


def _clean_union(geoms):
    """Union of units without the hairline holes and crumbs near-coincident edges leave."""
    u = shapely.union_all(geoms)
    if shapely.get_num_geometries(u) > 1:  # pieces meeting along edges whose vertices differ: close the crack
        closed = shapely.buffer(shapely.buffer(u, CRACK_M, join_style="mitre"), -CRACK_M, join_style="mitre")
        if shapely.get_num_geometries(closed) < shapely.get_num_geometries(u):
            u = closed
    polys = []
    for part in shapely.get_parts(u):
        if shapely.get_type_id(part) != 3 or part.area <= CRUMB_M2:
            continue
        holes = [r for r in part.interiors if shapely.area(shapely.Polygon(r)) > CRUMB_M2]
        polys.append(shapely.Polygon(part.exterior, holes))
    return polys[0] if len(polys) == 1 else shapely.MultiPolygon(polys)


class MoveRefused(ValueError):
    """A move the partition will not make.

    Attributes
    ----------
    code : str
        ``splits_grid`` (the source grid would fall apart), ``detached`` (the units would not touch
        the destination), ``empties_grid``, ``locked``, ``unknown_unit``, ``unknown_grid``; for a
        split along a line (:meth:`Partition.split`) also ``line_misses`` (the line does not cut the
        grid in two) and ``line_crosses_twice`` (it cuts it into more than two pieces).
    unit : str, optional
        The unit that cannot move (its id).
    grid : str, optional
        The grid concerned (its label).
    """

    def __init__(self, code: str, message: str, unit: str | None = None, grid: str | None = None):
        self.code, self.unit, self.grid = code, unit, grid
        super().__init__(message)


def band_status(households: int, lo: int, hi: int) -> str:
    """``under``, ``in_band`` or ``over`` for a grid of ``households`` and the band ``[lo, hi]``."""
    return "under" if households < lo else "over" if households > hi else "in_band"


@dataclass(frozen=True)
class GridState:
    """One grid as a move leaves it.

    Attributes
    ----------
    label : str
    households : int
    status : str
        ``under`` / ``in_band`` / ``over`` (see :func:`band_status`).
    contiguous : bool
    polsby_popper : float
        4 pi area / perimeter², 0-1 (metric CRS).
    units : int
        Number of units in the grid.
    """

    label: str
    households: int
    status: str
    contiguous: bool
    polsby_popper: float
    units: int

    def as_dict(self) -> dict:
        return {"label": self.label, "households": self.households, "status": self.status,
                "contiguous": self.contiguous, "polsby_popper": self.polsby_popper, "units": self.units}


@dataclass(frozen=True)
class MoveResult:
    """What a move changed: the units moved and the state of every grid it touched."""

    moved: tuple
    grids: tuple

    def as_dict(self) -> dict:
        return {"moved": list(self.moved), "grids": [g.as_dict() for g in self.grids]}


class Partition:
    """Units assigned to grids, with per-grid totals kept up to date.

    Parameters
    ----------
    units : Units
        The units (metric CRS).
    assignment : array_like of int
        Grid index (into ``labels``) of each unit.
    labels : list of str
        Grid labels.
    bounds : tuple of int
        ``(min, max)`` households of a grid in band.
    locked : iterable of str
        Labels of grids that must not change.
    graph : UnitGraph, optional
        The units' graph (built when not given).
    home : array_like of int, optional
        Each unit's grid in the current (published) grids, as an index into ``labels`` (-1: none),
        for the households moved.

    Attributes
    ----------
    grid_of : list of int
        The live assignment: grid index of each unit.
    unit_households, unit_area_m2, unit_perimeter_m : list
        Per unit: households, area (m²), perimeter (m).
    grid_households, grid_units, grid_area_m2, grid_perimeter_m, grid_boundary_m, grid_boundary_street_m : list
        The live per-grid totals: households, units, area (m²), perimeter with the community outline
        (m), boundary with other grids (m) and its part along streets (m).

    These are plain lists, read one element at a time by the local search's inner loops (numpy
    scalar indexing is several times slower there); read them freely, change them only through
    :meth:`apply`, :meth:`move`, :meth:`add_grid` or :meth:`recount`.  The array properties
    (:attr:`assignment`, :attr:`households`, ...) are copies of them.
    """

    def __init__(self, units: Units, assignment, labels, bounds, locked=(), graph: UnitGraph | None = None,
                 home=None):
        self.units = units
        self.graph = graph if graph is not None else build_graph(units.geometry, units.block)
        self.labels = list(labels)
        self.bounds = (int(bounds[0]), int(bounds[1]))
        self.grid_of = [int(g) for g in np.asarray(assignment)]
        if len(self.grid_of) != len(units):
            raise ValueError("one grid per unit is needed")
        self.unit_households = units.households.tolist()
        self.unit_area_m2 = shapely.area(units.geometry).tolist()
        self.unit_perimeter_m = self.graph.perimeter_m.tolist()
        self.home = np.full(len(units), -1, np.int64) if home is None else np.asarray(home, np.int64)
        self._unit_index = {u: i for i, u in enumerate(units.ids.tolist())}
        self.locked = {self.labels.index(x) for x in locked if x in self.labels}
        self._poly_cache: dict = {}
        self.recount()

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state.pop("_unit_index")  # rebuilt from the ids: keeps a worker's answer small
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._unit_index = {u: i for i, u in enumerate(self.units.ids.tolist())}

    # -- totals ---------------------------------------------------------------------------------
    def recount(self) -> None:
        """Recompute every per-grid total from scratch."""
        n_g = len(self.labels)
        a = np.asarray(self.grid_of, dtype=np.int64)
        g = self.graph
        rows = np.repeat(np.arange(g.n), np.diff(g.indptr))
        cut = a[rows] != a[g.indices]
        self.grid_households = np.bincount(a, weights=self.units.households, minlength=n_g).astype(np.int64).tolist()
        self.grid_units = np.bincount(a, minlength=n_g).tolist()
        self.grid_area_m2 = np.bincount(a, weights=self.unit_area_m2, minlength=n_g).tolist()
        inner = np.bincount(a[rows[~cut]], weights=g.shared_m[~cut], minlength=n_g)
        self.grid_perimeter_m = (np.bincount(a, weights=self.unit_perimeter_m, minlength=n_g) - inner).tolist()
        self.grid_boundary_m = np.bincount(a[rows[cut]], weights=g.shared_m[cut], minlength=n_g).tolist()
        self.grid_boundary_street_m = np.bincount(a[rows[cut]], weights=g.street_m[cut], minlength=n_g).tolist()
        self._poly_cache.clear()

    @property
    def assignment(self) -> np.ndarray:
        """Grid index of each unit."""
        return np.asarray(self.grid_of, dtype=np.int64)

    @property
    def households(self) -> np.ndarray:
        """Households of each grid."""
        return np.asarray(self.grid_households, dtype=np.int64)

    @property
    def unit_counts(self) -> np.ndarray:
        """Units in each grid."""
        return np.asarray(self.grid_units, dtype=np.int64)

    @property
    def area_m2(self) -> np.ndarray:
        return np.asarray(self.grid_area_m2)

    @property
    def perimeter_m(self) -> np.ndarray:
        """Each grid's perimeter (m), community outline included."""
        return np.asarray(self.grid_perimeter_m)

    @property
    def boundary_m(self) -> np.ndarray:
        """Each grid's boundary with other grids (m), community outline excluded."""
        return np.asarray(self.grid_boundary_m)

    @property
    def boundary_street_m(self) -> np.ndarray:
        """The part of :attr:`boundary_m` running along streets (m)."""
        return np.asarray(self.grid_boundary_street_m)

    def polsby_popper(self, g: int) -> float:
        """4 pi area / perimeter² of grid ``g`` (0 for an empty grid)."""
        p = self.grid_perimeter_m[g]
        return 4 * math.pi * self.grid_area_m2[g] / (p * p) if p > 0 else 0.0

    def violation(self, g: int) -> int:
        """Households grid ``g`` lies outside the band by (0 for an empty grid: it is dropped)."""
        if self.grid_units[g] == 0:
            return 0
        h = self.grid_households[g]
        lo, hi = self.bounds
        return max(0, lo - h) + max(0, h - hi)

    def add_grid(self, label: str) -> int:
        """A new, empty grid; returns its index."""
        self.labels.append(label)
        for arr in (self.grid_households, self.grid_units, self.grid_area_m2, self.grid_perimeter_m, self.grid_boundary_m, self.grid_boundary_street_m):
            arr.append(0)
        return len(self.labels) - 1

    # -- structure ------------------------------------------------------------------------------
    def members(self, g: int) -> np.ndarray:
        """Units of grid ``g``."""
        return np.flatnonzero(self.assignment == g)

    def pieces(self, g: int, without=(), extra=()) -> list[list[int]]:
        """The connected pieces (lists of units) of grid ``g`` minus the units ``without`` plus the
        units ``extra``."""
        nb = self.graph.lists()[0]
        todo = set(self.members(g).tolist())
        if without:
            todo -= set(without)
        if extra:
            todo |= set(extra)
        out = []
        while todo:
            start = todo.pop()
            comp, stack = [start], [start]
            while stack:
                x = stack.pop()
                for v in nb[x]:
                    if v in todo:
                        todo.discard(v)
                        comp.append(v)
                        stack.append(v)
            out.append(comp)
        return out

    def n_parts(self, g: int, without=(), extra=()) -> int:
        """Number of connected pieces of grid ``g`` minus the units ``without`` plus the units ``extra``."""
        return len(self.pieces(g, without, extra))

    def is_contiguous(self, g: int) -> bool:
        return self.grid_units[g] > 0 and self.n_parts(g) == 1

    def can_leave(self, u: int) -> bool:
        """Whether unit ``u`` can leave its grid without splitting it or leaving it empty."""
        nb = self.graph.lists()[0][u]
        a = self.grid_of
        A = a[u]
        if self.grid_units[A] <= 1:
            return False
        same = [v for v in nb if a[v] == A]
        if len(same) <= 1:
            return True
        targets = set(same[1:])
        seen = {u, same[0]}
        stack = [same[0]]
        nbl = self.graph.lists()[0]
        while stack:
            x = stack.pop()
            for v in nbl[x]:
                if v not in seen and a[v] == A:
                    seen.add(v)
                    if v in targets:
                        targets.discard(v)
                        if not targets:
                            return True
                    stack.append(v)
        return not targets

    def touches(self, u: int, g: int) -> bool:
        """Whether unit ``u`` has a neighbour in grid ``g``."""
        a = self.grid_of
        return any(a[v] == g for v in self.graph.lists()[0][u])

    def shares(self, u: int, A: int, B: int) -> tuple[float, float, float, float, float, float]:
        """Boundary of ``u`` shared with grids ``A`` and ``B`` and in all: ``(sA, stA, sB, stB, s, st)``
        (st: the street part)."""
        nb, sh, st = self.graph.lists()
        a = self.grid_of
        sA = stA = sB = stB = tot = tot_st = 0.0
        for v, s, t in zip(nb[u], sh[u], st[u]):
            tot += s
            tot_st += t
            g = a[v]
            if g == A:
                sA += s
                stA += t
            elif g == B:
                sB += s
                stB += t
        return sA, stA, sB, stB, tot, tot_st

    def apply(self, u: int, B: int) -> None:
        """Move unit ``u`` to grid ``B`` unchecked, updating the totals (the search's step)."""
        A = self.grid_of[u]
        if A == B:
            return
        sA, stA, sB, stB, tot, tot_st = self.shares(u, A, B)
        p = self.unit_perimeter_m[u]
        h = self.unit_households[u]
        self.grid_perimeter_m[A] += 2 * sA - p
        self.grid_boundary_m[A] += 2 * sA - tot
        self.grid_boundary_street_m[A] += 2 * stA - tot_st
        self.grid_perimeter_m[B] += p - 2 * sB
        self.grid_boundary_m[B] += tot - 2 * sB
        self.grid_boundary_street_m[B] += tot_st - 2 * stB
        self.grid_households[A] -= h
        self.grid_households[B] += h
        self.grid_area_m2[A] -= self.unit_area_m2[u]
        self.grid_area_m2[B] += self.unit_area_m2[u]
        self.grid_units[A] -= 1
        self.grid_units[B] += 1
        self.grid_of[u] = B
        self._poly_cache.pop(A, None)
        self._poly_cache.pop(B, None)

    # -- editing --------------------------------------------------------------------------------
    def grid_index(self, label: str) -> int:
        try:
            return self.labels.index(label)
        except ValueError:
            raise MoveRefused("unknown_grid", f"no grid {label!r} in this plan", grid=label) from None

    def unit_index(self, unit_id: str) -> int:
        try:
            return self._unit_index[unit_id]
        except KeyError:
            raise MoveRefused("unknown_unit", f"no unit {unit_id!r} in this plan", unit=unit_id) from None

    def state(self, g: int) -> GridState:
        """The grid's households, band status, contiguity and compactness."""
        return GridState(self.labels[g], int(self.grid_households[g]), band_status(self.grid_households[g], *self.bounds),
                         self.is_contiguous(g), round(self.polsby_popper(g), 6), int(self.grid_units[g]))

    def move(self, units, to_grid: str, allow_split: bool = False) -> MoveResult:
        """Move ``units`` (ids) into grid ``to_grid``.

        Refused (:class:`MoveRefused`, nothing changed) when a unit or the grid is unknown, a grid
        concerned is locked, a source grid would be left empty, or, unless ``allow_split``, a source
        grid would fall into more pieces than it has or the destination would gain a detached piece.

        Returns
        -------
        MoveResult
            The units moved and the state of the destination and every source grid.
        """
        ids = [units] if isinstance(units, str) else list(units)
        idx = [self.unit_index(u) for u in dict.fromkeys(ids)]
        B = self.grid_index(to_grid)
        if B in self.locked:
            raise MoveRefused("locked", f"grid {to_grid} is locked", grid=to_grid)
        idx = [u for u in idx if self.grid_of[u] != B]
        by_src: dict[int, list] = {}
        for u in idx:
            by_src.setdefault(self.grid_of[u], []).append(u)
        for A, us in by_src.items():
            if A in self.locked:
                raise MoveRefused("locked", f"unit {self.units.ids[us[0]]} is in locked grid {self.labels[A]}",
                                  unit=str(self.units.ids[us[0]]), grid=self.labels[A])
            if len(us) >= self.grid_units[A]:
                raise MoveRefused("empties_grid", f"moving every unit of grid {self.labels[A]} would leave it empty",
                                  unit=str(self.units.ids[us[0]]), grid=self.labels[A])
        if not allow_split:
            for A, us in by_src.items():
                if self.n_parts(A, without=us) > self.n_parts(A):
                    u = next((x for x in us if not self.can_leave(x)), us[0])
                    raise MoveRefused("splits_grid", f"moving unit {self.units.ids[u]} out of grid {self.labels[A]} "
                                      "would split that grid", unit=str(self.units.ids[u]), grid=self.labels[A])
            if idx and self.n_parts(B, extra=idx) > max(1, self.n_parts(B)):
                u = next((x for x in idx if not self.touches(x, B)), idx[0])
                raise MoveRefused("detached", f"unit {self.units.ids[u]} does not touch grid {to_grid}: the move "
                                  "would give that grid a detached piece", unit=str(self.units.ids[u]), grid=to_grid)
        for u in idx:
            self.apply(u, B)
        changed = [B] + sorted(by_src)
        return MoveResult(tuple(str(self.units.ids[u]) for u in idx), tuple(self.state(g) for g in changed))

    def split(self, label: str, line, new_label: str, allow_split: bool = False) -> MoveResult:
        """Split grid ``label`` in two along ``line`` (a LineString in the units' metric CRS).

        The line cuts the grid's polygon into two pieces; each unit goes with the piece holding
        most of its area, so the new boundary runs along unit boundaries (streets, and dwelling
        cells inside a large block) nearest the line.  The side with fewer households (on a tie,
        the second piece) becomes the new grid ``new_label``.

        Raises
        ------
        MoveRefused
            ``line_misses`` / ``line_crosses_twice`` (the line does not cut the grid into exactly
            two pieces, or leaves every unit on one side), ``locked``, ``unknown_grid``, or, unless
            ``allow_split``, ``splits_grid`` when a side is not one piece.  Nothing is changed.
        """
        import shapely.ops
        from shapely.errors import GEOSException

        g = self.grid_index(label)
        if g in self.locked:
            raise MoveRefused("locked", f"grid {label} is locked", grid=label)
        if new_label in self.labels:
            raise ValueError(f"grid {new_label!r} exists already")
        poly = self.polygon(g)
        try:
            pieces = [x for x in shapely.get_parts(shapely.ops.split(poly, line)) if x.area > 1.0]
        except (ValueError, GEOSException):
            pieces = []
        if len(pieces) > 2:
            raise MoveRefused("line_crosses_twice", f"the line cuts grid {label} into {len(pieces)} pieces; "
                              "draw it across the grid once", grid=label)
        members = self.members(g)
        side = np.zeros(len(members), bool)
        if len(pieces) == 2:
            geoms = self.units.geometry[members]
            side = shapely.area(shapely.intersection(geoms, pieces[1])) > shapely.area(shapely.intersection(geoms, pieces[0]))
        if len(pieces) < 2 or side.all() or not side.any():
            raise MoveRefused("line_misses", f"the line does not cut grid {label} in two: draw it from one side "
                              "of the grid to the other", grid=label)
        hh = self.units.households[members]
        new_side = side if hh[side].sum() <= hh[~side].sum() else ~side
        move, stay = members[new_side], members[~new_side]
        if not allow_split:
            for part, name in ((stay, label), (move, new_label)):
                other = move if part is stay else stay
                if self.n_parts(g, without=other.tolist()) > 1:
                    u = int(part[0])
                    raise MoveRefused("splits_grid", f"the side of the line that would be grid {name} is not one "
                                      "piece", unit=str(self.units.ids[u]), grid=label)
        B = self.add_grid(new_label)
        for u in move.tolist():
            self.apply(int(u), B)
        return MoveResult(tuple(str(self.units.ids[u]) for u in move.tolist()), (self.state(g), self.state(B)))

    def merge(self, label: str, into: str, allow_split: bool = False) -> MoveResult:
        """Every unit of grid ``label`` into grid ``into`` (the undo of :meth:`split`); ``label`` is
        left empty, for the caller to drop.

        Raises
        ------
        MoveRefused
            ``unknown_grid``, ``locked`` (either grid), or, unless ``allow_split``, ``detached``
            when the two grids do not touch (merged, they would be two pieces).  Nothing is changed.
        """
        A, B = self.grid_index(label), self.grid_index(into)
        if A == B:
            raise MoveRefused("unknown_grid", f"grid {label} cannot be merged into itself", grid=label)
        for g in (A, B):
            if g in self.locked:
                raise MoveRefused("locked", f"grid {self.labels[g]} is locked", grid=self.labels[g])
        members = self.members(A).tolist()
        if not allow_split and self.n_parts(B, extra=members) > max(1, self.n_parts(B)):
            raise MoveRefused("detached", f"grid {label} does not touch grid {into}: merged they would be "
                              "in pieces", grid=into)
        for u in members:
            self.apply(int(u), B)
        return MoveResult(tuple(str(self.units.ids[u]) for u in members), (self.state(B),))

    # -- output ---------------------------------------------------------------------------------
    def assignment_series(self) -> pd.Series:
        """Grid label of each unit, indexed by unit id."""
        lab = np.asarray(self.labels, dtype=object)
        return pd.Series(lab[self.assignment], index=pd.Index(self.units.ids, name="unit_id"), name="grid")

    def polygon(self, g: int):
        """Grid ``g``'s polygon in the metric CRS (the union of its units; cached until it changes)."""
        if g not in self._poly_cache:
            geoms = self.units.geometry[self.members(g)]
            self._poly_cache[g] = _clean_union(geoms) if len(geoms) else shapely.Polygon()
        return self._poly_cache[g]

    def polygons(self, grids=None, lonlat: bool = True) -> np.ndarray:
        """Polygons of ``grids`` (indices; default all), EPSG:4326 unless ``lonlat=False``."""
        gs = range(len(self.labels)) if grids is None else grids
        out = np.array([self.polygon(g) for g in gs], dtype=object)
        return to_lonlat_geoms(out, self.units.crs) if lonlat else out

    def moved_households(self) -> np.ndarray:
        """Households of each grid that were in another grid (or in none) of the current grids."""
        a = self.assignment
        if (self.home < 0).all():  # no current grids to compare with
            return np.zeros(len(self.labels), np.int64)
        moved = self.home != a
        return np.bincount(a[moved], weights=self.units.households[moved], minlength=len(self.labels)).astype(np.int64)
