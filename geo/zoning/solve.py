"""Redraw the grids of a community (and of a county, community by community in worker processes).

Per community (nesting by construction: a grid is a union of the community's units):

1. units and their graph (:mod:`geo.zoning.units`, :mod:`geo.zoning.graph`);
2. the number of grids: given, or ``round(free households / target)`` clamped into the counts whose
   mean grid is in band (locked grids keep theirs);
3. a seed: METIS on the unit graph (vertex weights households, edge weights the cut costs), or the
   recursive household bisection; with ``stay_close`` the current grids instead;
4. repair: every grid one piece (fragments join the adjacent grid that best keeps the balance);
5. the local search (:mod:`geo.zoning.search`): into the band, then compact and along streets;
   restarts from other seeds while grids stay out of band;
6. reasons for whatever stays out of band (:mod:`geo.zoning.reasons`).

Micro-grids (second level) run the same engine inside each grid with every dwelling its own cell.
"""

from __future__ import annotations

import math
import multiprocessing as mp
import warnings
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS
from scipy.optimize import linear_sum_assignment

from geo.crs import WGS84, metric_crs_for
from geo.zoning.bisect import bisect_households
from geo.zoning.graph import UnitGraph, build_graph
from geo.zoning.metrics import grid_metrics, plan_metrics
from geo.zoning.params import MICRO_PARAMS, ZoningParams
from geo.zoning.partition import Partition
from geo.zoning.reasons import Reason
from geo.zoning.search import balance, improve, total_violation
from geo.zoning.units import Units, build_units, to_metric_geoms

__all__ = ["CommunityPlan", "CountyPlan", "grid_count", "solve_units", "solve_community", "solve_county",
           "home_grids"]

DEV_WEIGHT = 0.5
OTHER_COUNTS = 4  # other grid counts tried when the first leaves grids out of band
EXACT_UNITS = 12  # areas with at most this many free units are searched exhaustively when the search misses
STAY_CLOSE_DEV = (0.0, 0.01, DEV_WEIGHT / 10, DEV_WEIGHT)  # deviation weights tried in turn (stay_close)
SPLIT_ROUNDS = 2  # rounds of splitting blocks into cells where grids stay out of band


@dataclass(eq=False)
class CommunityPlan:
    """The redraw of one community.

    Attributes
    ----------
    community : str
        Community code.
    partition : Partition
        Units, graph and assignment (live: moves can continue on it).
    reasons : list of Reason
        Why grids are out of band (empty when all are in band).
    micro : geopandas.GeoDataFrame, optional
        Micro-grids (``label``, ``grid``, ``households``, ``status``, ``dwelling_ids``, geometry 4326).
    """

    community: str
    partition: Partition
    reasons: list = field(default_factory=list)
    micro: gpd.GeoDataFrame | None = None

    @property
    def units(self) -> Units:
        return self.partition.units

    @property
    def assignment(self) -> pd.Series:
        """Grid label of each unit id."""
        return self.partition.assignment_series()

    def unit_frame(self) -> gpd.GeoDataFrame:
        """The units (EPSG:4326) with ``community_code`` and their ``grid``."""
        f = self.units.frame()
        f.insert(0, "community_code", self.community)
        f["grid"] = self.assignment.to_numpy()
        return f

    def grids(self) -> gpd.GeoDataFrame:
        """One row per grid: ``label``, ``community_code``, metrics (:func:`grid_metrics`), ``flagged``
        (a reason names it), geometry (EPSG:4326)."""
        m = grid_metrics(self.partition)
        m.insert(1, "community_code", self.community)
        flagged = {r.grid for r in self.reasons if r.grid}
        m["flagged"] = m["label"].isin(flagged) | ~m["in_band"] | ~m["contiguous"]
        return gpd.GeoDataFrame(m, geometry=gpd.GeoSeries(self.partition.polygons(), crs=WGS84))

    def metrics(self) -> dict:
        return plan_metrics(grid_metrics(self.partition))


@dataclass(eq=False)
class CountyPlan:
    """Redraws of many communities (each a :class:`CommunityPlan`)."""

    communities: dict
    params: ZoningParams

    def grids(self) -> gpd.GeoDataFrame:
        return pd.concat([c.grids() for c in self.communities.values()], ignore_index=True)

    def units(self) -> gpd.GeoDataFrame:
        return pd.concat([c.unit_frame() for c in self.communities.values()], ignore_index=True)

    def reasons(self) -> list:
        return [r for c in self.communities.values() for r in c.reasons]

    def micro(self) -> gpd.GeoDataFrame | None:
        parts = [c.micro for c in self.communities.values() if c.micro is not None]
        return pd.concat(parts, ignore_index=True) if parts else None

    def metrics(self) -> dict:
        return plan_metrics(pd.concat([grid_metrics(c.partition) for c in self.communities.values()]))


def grid_count(households: int, params: ZoningParams) -> tuple[int, bool]:
    """Grids for ``households`` and whether that count can put every grid in band.

    ``round(households / target)`` (at least 1), clamped into ``[ceil(h / max), floor(h / min)]``
    when that range is not empty.
    """
    lo, hi = params.bounds
    k0 = max(1, round(households / params.target_households))
    kmin = max(1, math.ceil(households / hi)) if hi > 0 else 1
    kmax = households // lo if lo > 0 else max(k0, kmin)
    if kmin <= kmax:
        return int(min(max(k0, kmin), kmax)), True
    return int(k0), False


def home_grids(units: Units, grids_m, labels) -> np.ndarray:
    """Index (into ``labels``) of the grid covering most of each unit's area (-1: none covers it)."""
    out = np.full(len(units), -1, np.int64)
    if len(grids_m) == 0 or len(units) == 0:
        return out
    tree = shapely.STRtree(np.asarray(grids_m, dtype=object))
    ui, gi = tree.query(units.geometry, predicate="intersects")
    if len(ui) == 0:
        return out
    inter = shapely.area(shapely.intersection(units.geometry[ui], np.asarray(grids_m, dtype=object)[gi]))
    keep = inter > 0
    ui, gi, inter = ui[keep], gi[keep], inter[keep]
    order = np.lexsort((gi, -inter, ui))  # per unit, the largest overlap first (lowest grid on ties)
    ui, gi = ui[order], gi[order]
    first = np.r_[True, ui[1:] != ui[:-1]]
    out[ui[first]] = gi[first]
    return out


# ---------------------------------------------------------------------------------------------------
def _seed(units: Units, graph: UnitGraph, free: np.ndarray, k: int, params: ZoningParams, method: str,
          seed: int, area_m) -> np.ndarray:
    """Part (0..k-1) of each unit in ``free`` (indices)."""
    if k <= 1 or len(free) <= 1:
        return np.zeros(len(free), np.int64)
    k = min(k, len(free))
    hh = units.households[free]
    if method == "metis":
        import pymetis
        w = graph.edge_weights(params.street_cost, params.block_cost)
        m = graph.matrix(w)[free][:, free].tocsr()
        m.sort_indices()
        xadj, adjncy = m.indptr.astype(np.int64), m.indices.astype(np.int64)
        ew = np.maximum(1, np.round(m.data)).astype(np.int64)
        vw = (hh * 10 + 1).astype(np.int64)  # a unit without households weighs a tenth of one
        opts = pymetis.Options(seed=int(seed), ufactor=20, niter=20)
        try:
            _, parts = pymetis.part_graph(k, pymetis.CSRAdjacency(xadj, adjncy), vweights=vw, eweights=ew,
                                          options=opts)
        except Exception:  # noqa: BLE001 - METIS refuses some degenerate graphs: fall back to bisection
            return _seed(units, graph, free, k, params, "bisect", seed, area_m)
        return np.asarray(parts, dtype=np.int64)
    xy = units.xy[free]
    if seed:  # a restart: turn the points so that the cuts fall differently
        ang = (seed * 0.61803398875 % 1) * math.pi
        c, s = math.cos(ang), math.sin(ang)
        xy = np.column_stack([c * xy[:, 0] - s * xy[:, 1], s * xy[:, 0] + c * xy[:, 1]])
        area_m = None
    return bisect_households(xy[:, 0], xy[:, 1], hh + 0.1, k, polygon=area_m).labels


def _cost(h, p: Partition, target: int) -> float:
    lo, hi = p.bounds
    return max(0, lo - h) + max(0, h - hi) + DEV_WEIGHT * (h - target) ** 2 / target


def _pieces(p: Partition, g: int) -> list[list[int]]:
    nb = p.graph.lists()[0]
    todo = set(p.members(g).tolist())
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


def _repair(p: Partition, target: int, islands: set) -> None:
    """Make every unlocked grid one piece: fragments join the adjacent grid that best keeps the balance.

    A fragment with no adjacent unlocked grid is an island: it becomes a grid of its own when it
    holds at least the band's minimum, otherwise it joins the nearest grid (left in two pieces) and is
    recorded in ``islands``.
    """
    hh_u = p.units.households
    nb, sh, _ = p.graph.lists()
    xy = None
    lo, _hi = p.bounds
    for _ in range(50):
        frags = []
        for g in range(len(p.labels)):
            if g in p.locked or p._n[g] == 0:
                continue
            pcs = _pieces(p, g)
            if len(pcs) > 1:
                pcs.sort(key=lambda c: (int(hh_u[c].sum()), len(c)), reverse=True)
                frags += [(g, c) for c in pcs[1:] if not (islands & set(c))]
        if not frags:
            return
        frags.sort(key=lambda gc: (int(hh_u[gc[1]].sum()), len(gc[1])))
        moved = False
        for g, comp in frags:
            if any(p._a[u] != g for u in comp):
                continue
            cs = set(comp)
            touch: dict[int, float] = {}
            for u in comp:
                for v, s in zip(nb[u], sh[u]):
                    gv = p._a[v]
                    if v not in cs and gv != g and gv not in p.locked:
                        touch[gv] = touch.get(gv, 0.0) + s
            h = int(hh_u[comp].sum())
            if not touch:
                if h >= lo and lo > 0:
                    B = p.add_grid(f"__new{len(p.labels)}")
                else:
                    if xy is None:
                        xy = p.units.xy
                    free_g = [b for b in range(len(p.labels)) if b != g and b not in p.locked and p._n[b] > 0]
                    if not free_g:
                        islands.update(comp)
                        continue
                    a = p.assignment
                    c = xy[comp].mean(axis=0)
                    best, B = math.inf, free_g[0]
                    for b in free_g:
                        m = a == b
                        d = np.min(np.hypot(xy[m, 0] - c[0], xy[m, 1] - c[1]))
                        if d < best:
                            best, B = d, b
                    islands.update(comp)
                for u in comp:
                    p.apply(u, B)
                moved = True
                continue
            B = min(touch, key=lambda b: (_cost(p._hh[b] + h, p, target) - _cost(p._hh[b], p, target), -touch[b], b))
            for u in comp:
                p.apply(u, B)
            moved = True
        if not moved:
            return


def _split(p: Partition, g: int, label: str) -> int:
    """Split grid ``g`` in two by household bisection of its units (then repaired by the caller)."""
    m = p.members(g)
    xy = p.units.xy[m]
    lab = bisect_households(xy[:, 0], xy[:, 1], p.units.households[m] + 0.1, 2).labels
    B = p.add_grid(label)
    for u in m[lab == 1].tolist():
        p.apply(u, B)
    return B


def _fix_count(p: Partition, k_free: int, target: int, islands: set) -> None:
    """Split the fullest or merge the emptiest unlocked grids until ``k_free`` are not empty."""
    for _ in range(4 * (k_free + len(p.labels)) + 4):
        live = [g for g in range(len(p.labels)) if g not in p.locked and p._n[g] > 0]
        if len(live) < k_free:
            big = max((g for g in live if p._n[g] >= 2), key=lambda g: (p._hh[g], p._n[g]), default=None)
            if big is None:
                return
            _split(p, big, f"__new{len(p.labels)}")
            _repair(p, target, islands)
        elif len(live) > k_free:
            small = min(live, key=lambda g: (p._hh[g], p._n[g], g))
            nb = p.graph.lists()[0]
            touch = {p._a[v] for u in p.members(small).tolist() for v in nb[u]} - {small} - p.locked
            if not touch:
                return
            B = min(touch, key=lambda b: (p._hh[b], b))
            for u in p.members(small).tolist():
                p.apply(u, B)
        else:
            return


def _fill(assign: np.ndarray, graph: UnitGraph) -> np.ndarray:
    """Units without a grid (-1) take the grid they share the longest boundary with, spreading outwards."""
    a = assign.copy()
    nb, sh, _ = graph.lists()
    todo = set(np.flatnonzero(a < 0).tolist())
    while todo:
        done = {}
        for u in todo:
            best = {}
            for v, s in zip(nb[u], sh[u]):
                if a[v] >= 0:
                    best[a[v]] = best.get(a[v], 0.0) + s
            if best:
                done[u] = max(best, key=lambda g: (best[g], -g))
        if not done:
            break
        for u, g in done.items():
            a[u] = g
        todo -= set(done)
    return a


def _attempt(units, graph, params, base_assign, labels, locked_idx, free, k_free, method, seed, area_m, home,
             stay_close: bool):
    lo, hi = params.bounds
    t = params.target_households
    assign = base_assign.copy()
    labels = list(labels)
    if not stay_close and len(free):
        parts = _seed(units, graph, free, k_free, params, method, seed, area_m)
        first_new = len(labels)
        labels += [f"__new{first_new + i}" for i in range(int(parts.max()) + 1)]
        assign[free] = first_new + parts
    assign = _fill(assign, graph)
    orphans = np.flatnonzero(assign < 0)
    if len(orphans):  # a piece with no grid near it at all: a grid of its own
        g = len(labels)
        labels.append(f"__new{g}")
        assign[orphans] = g
    p = Partition(units, assign, labels, (lo, hi), locked=[labels[i] for i in locked_idx], graph=graph, home=home)
    islands: set = set()
    _repair(p, t, islands)
    _fix_count(p, k_free, t, islands)
    _repair(p, t, islands)
    if stay_close:
        for dev in STAY_CLOSE_DEV:  # move as little as the band needs: spread households further only if it must
            balance(p, t, dev_weight=dev, move_weight=params.move_weight, max_sweeps=params.max_sweeps)
            if total_violation(p) == 0:
                break
    else:
        balance(p, t, dev_weight=DEV_WEIGHT, max_sweeps=params.max_sweeps)
    return p, islands


def _exact(graph: UnitGraph, hh: np.ndarray, free: np.ndarray, lo: int, hi: int, k: int | None):
    """Exhaustive search of a small area: parts (0..) of ``free`` units, each connected and in band.

    Every count of parts is tried (only ``k`` when given); the first plan found is returned, or None.
    """
    nb = graph.lists()[0]
    n = len(free)
    pos = {int(u): i for i, u in enumerate(free)}
    adj = [[pos[v] for v in nb[int(u)] if v in pos] for u in free]
    w = hh[free].astype(int).tolist()
    total = sum(w)

    def connected(members):
        ms = set(members)
        stack, seen = [members[0]], {members[0]}
        while stack:
            x = stack.pop()
            for v in adj[x]:
                if v in ms and v not in seen:
                    seen.add(v)
                    stack.append(v)
        return len(seen) == len(ms)

    counts = [k] if k else range(max(1, -(-total // hi) if hi else 1), (total // lo if lo else n) + 1)
    for kk in counts:
        if kk > n:
            break
        a = [0] * n
        sums = [0] * kk

        def rec(i, m):
            if i == n:
                if m == kk and all(lo <= s <= hi for s in sums):
                    parts = [[j for j in range(n) if a[j] == g] for g in range(kk)]
                    if all(connected(pp) for pp in parts):
                        return True
                return False
            if n - i < kk - m:
                return False
            for v in range(min(m + 1, kk)):
                if sums[v] + w[i] > hi:
                    continue
                a[i] = v
                sums[v] += w[i]
                if rec(i + 1, max(m, v + 1)):
                    return True
                sums[v] -= w[i]
            return False

        if rec(0, 0):
            return np.array(a, dtype=np.int64)
    return None


def _score(p: Partition) -> tuple:
    n = len(p.labels)
    pp = [p.polsby_popper(g) for g in range(n) if p._n[g] > 0]
    return (total_violation(p), -sum(pp) / max(1, len(pp)))


def solve_units(units: Units, params: ZoningParams = ZoningParams(), *, code: str = "",
                current: tuple | None = None, graph: UnitGraph | None = None, area_m=None,
                label_format: str = "{code}-{n:02d}") -> CommunityPlan:
    """Redraw the grids over ``units`` (one community, or one grid for micro-grids).

    Parameters
    ----------
    units : Units
        The area's units (metric CRS).
    params : ZoningParams
    code : str
        The area's code (community code; grid label for micro-grids).
    current : tuple of (list of str, array of shapely.Polygon), optional
        Current grids' labels and polygons in the units' CRS: for ``stay_close``, locked grids and
        the households moved.
    graph : UnitGraph, optional
        The units' graph (built when not given).
    area_m : shapely.Geometry, optional
        The area's polygon (metric), guiding the bisection seed.
    label_format : str
        Labels of new grids, from ``code`` and a 1-based number ``n``.

    Returns
    -------
    CommunityPlan
    """
    graph = graph if graph is not None else build_graph(units.geometry, units.block)
    lo, hi = params.bounds
    reasons: list[Reason] = []
    cur_labels, cur_geoms = (list(current[0]), np.asarray(current[1], dtype=object)) if current else ([], [])
    home = home_grids(units, cur_geoms, cur_labels) if cur_labels else np.full(len(units), -1, np.int64)
    locked_codes = [c for c in params.locked if c in cur_labels]
    locked_idx = [cur_labels.index(c) for c in locked_codes]
    is_locked_unit = np.isin(home, locked_idx) if locked_idx else np.zeros(len(units), bool)
    free = np.flatnonzero(~is_locked_unit)
    hh = units.households
    total, free_hh = int(hh.sum()), int(hh[free].sum())
    stay_close = bool(params.stay_close and cur_labels)

    for i in np.flatnonzero(hh > hi):
        reasons.append(Reason("unit_above_max", code, unit=str(units.ids[i]),
                              figures={"households": int(hh[i]), "max": hi}))
    for c in locked_codes:
        h = int(hh[home == cur_labels.index(c)].sum())
        if not (lo <= h <= hi):
            reasons.append(Reason("locked_out_of_band", code, grid=c, figures={"households": h, "min": lo, "max": hi}))
    n_locked = len([c for c in locked_codes if (home == cur_labels.index(c)).any()])
    if params.n_grids is not None:
        k_free, fits = params.n_grids - n_locked, True
        if len(free) and k_free < 1:
            k_free = 1
            reasons.append(Reason("locked_leave_too_few", code, figures={"n_grids": params.n_grids, "locked": n_locked}))
    else:
        k_free, fits = grid_count(free_hh, params)
    if len(free) == 0:
        k_free = 0
    elif free_hh < lo:
        k_free = 1
        if locked_codes:
            reasons.append(Reason("locked_leave_too_few", code,
                                  figures={"households": free_hh, "locked_households": total - free_hh, "min": lo}))
        else:
            reasons.append(Reason("community_too_small", code, figures={"households": total, "min": lo}))
    elif not fits:
        reasons.append(Reason("no_count_fits", code, figures={"households": free_hh, "min": lo, "max": hi,
                                                               "grids_for_max": math.ceil(free_hh / hi),
                                                               "grids_for_min": free_hh // lo}))
    base = np.full(len(units), -1, np.int64)
    base[is_locked_unit] = home[is_locked_unit]
    if stay_close:
        keep = ~is_locked_unit & (home >= 0)
        base[keep] = home[keep]
        cur_free = {int(g) for g in home[keep]}
        if params.n_grids is None:  # keep the current count when it can be in band
            kmin = math.ceil(free_hh / hi) if hi else 1
            kmax = free_hh // lo if lo else len(cur_free)
            k_free = len(cur_free) if kmin <= len(cur_free) <= kmax else k_free
    tries = [(params.seed_method, params.random_seed, k_free)]
    if not stay_close:
        other = "bisect" if params.seed_method == "metis" else "metis"
        for r in range(params.restarts):
            tries.append((other if r % 2 == 0 else params.seed_method, params.random_seed + 1 + r, k_free))
        if params.n_grids is None and len(free) and fits:  # then the other counts whose mean is in band
            kmin, kmax = math.ceil(free_hh / hi), (free_hh // lo if lo else k_free)
            near = sorted(range(kmin, kmax + 1), key=lambda k: (abs(k - k_free), k))
            for k in [k for k in near if k != k_free][:OTHER_COUNTS]:
                tries += [(params.seed_method, params.random_seed, k), (other, params.random_seed, k)]
    best = None
    for method, seed, k_try in tries:
        p, islands = _attempt(units, graph, params, base, cur_labels, locked_idx, free, k_try, method, seed,
                              area_m, home, stay_close)
        sc = _score(p)
        if best is None or sc < best[0]:
            best = (sc, p, islands)
        if sc[0] == 0 or len(free) == 0:
            break
    _, p, islands = best
    if best[0][0] > 0 and 0 < len(free) <= EXACT_UNITS and not stay_close:
        exact = _exact(graph, hh, free, lo, hi, k_free if params.n_grids is not None else None)
        if exact is not None:
            assign = base.copy()
            labels = cur_labels + [f"__new{len(cur_labels) + i}" for i in range(int(exact.max()) + 1)]
            assign[free] = len(cur_labels) + exact
            p = Partition(units, assign, labels, (lo, hi), locked=[labels[i] for i in locked_idx], graph=graph,
                          home=home)
            islands = set()
    improve(p, compactness_weight=params.compactness_weight, street_weight=params.street_weight,
            stay_close=stay_close, max_sweeps=params.max_sweeps)
    p = _relabel(p, code, cur_labels, stay_close, locked_codes, label_format)
    for i in sorted(islands):
        reasons.append(Reason("island_unit", code, grid=p.labels[p._a[i]], unit=str(units.ids[i]),
                              figures={"households": int(hh[i])}))
    above = {p._a[i] for i in np.flatnonzero(hh > hi)}
    for g in range(len(p.labels)):
        v = p.violation(g)
        if v and p.labels[g] not in locked_codes:
            reasons.append(Reason("grid_out_of_band", code, grid=p.labels[g],
                                  figures={"households": int(p._hh[g]), "min": lo, "max": hi,
                                           **({"unit_above_max": True} if g in above else {})}))
    for r in reasons:  # name the grid holding an oversized unit
        if r.code == "unit_above_max" and r.grid is None:
            idx = int(np.flatnonzero(units.ids == r.unit)[0])
            object.__setattr__(r, "grid", p.labels[p._a[idx]])
    return CommunityPlan(code, p, reasons)


def rebalance(p: Partition, params: ZoningParams = ZoningParams(), *, code: str = "",
              grids=None) -> CommunityPlan:
    """Auto-balance a draft: redraw the units of its free grids with the engine, keeping the rest.

    The draft's own grids play the current grids (:func:`solve_units` with ``current`` = the
    draft): its locked grids (``p.locked``) and, when ``grids`` is given, every grid not named
    there stay exactly as they are; the units of the others are redrawn into balanced grids
    (their count derived from their households), which keep the labels of the draft grids they
    overlap most.  The households moved still count against the published grids (``p.home``).

    Parameters
    ----------
    p : Partition
        The draft (one community; metric CRS).
    params : ZoningParams
        Target, band, weights (its ``locked``, ``stay_close`` and ``n_grids`` are not used).
    code : str
        Community code (labels of grids beyond the draft's).
    grids : iterable of str, optional
        Labels of the grids to rebalance (default: every unlocked grid).

    Returns
    -------
    CommunityPlan
        Its partition's ``home`` is the draft's (published grids), by label.
    """
    chosen = set(p.labels) if grids is None else set(grids)
    unknown = chosen - set(p.labels)
    if unknown:
        raise ValueError(f"no grid {sorted(unknown)[0]!r} in this draft")
    keep = {p.labels[g] for g in p.locked} | (set(p.labels) - chosen)
    run = replace(params, locked=tuple(sorted(keep)), stay_close=False, n_grids=None)
    home_label = [p.labels[h] if h >= 0 else None for h in p.home.tolist()]
    home_gone = p.home < -1  # a published grid the draft no longer has (stored by code, not by index)
    plan = solve_units(p.units, run, code=code, current=(list(p.labels), p.polygons(lonlat=False)), graph=p.graph)
    q = plan.partition
    index = {lab: i for i, lab in enumerate(q.labels)}
    home = np.array([-2 if gone else (-1 if h is None else index.get(h, -2))
                     for h, gone in zip(home_label, home_gone.tolist())], dtype=np.int64)
    plan.partition = Partition(p.units, q.assignment, q.labels, q.bounds,
                               locked=[lab for lab in q.labels if lab in {p.labels[g] for g in p.locked}],
                               graph=p.graph, home=home)
    return plan


def _relabel(p: Partition, code: str, cur_labels: list, stay_close: bool, locked_codes: list,
             label_format: str) -> Partition:
    """Drop empty grids and give new grids their labels (reading order: north-west first)."""
    n = len(p.labels)
    live = [g for g in range(n) if p._n[g] > 0]
    keep_label = {}
    for g in live:
        lab = p.labels[g]
        if lab in locked_codes or (stay_close and lab in cur_labels):
            keep_label[g] = lab
    new = [g for g in live if g not in keep_label]
    if new and cur_labels and (p.home >= 0).any():  # a redrawn grid keeps the code of the current grid it
        free_cur = [c for c in range(len(cur_labels)) if cur_labels[c] not in keep_label.values()]  # shares most with
        if free_cur:
            a = p.assignment
            hh = p.units.households + 1e-3  # empty units break ties by their count
            m = np.zeros((len(new), len(free_cur)))
            col = {c: j for j, c in enumerate(free_cur)}
            row = {g: i for i, g in enumerate(new)}
            for u in np.flatnonzero(p.home >= 0):
                g, c = int(a[u]), int(p.home[u])
                if g in row and c in col:
                    m[row[g], col[c]] += hh[u]
            ri, ci = linear_sum_assignment(-m)
            for i, j in zip(ri, ci):
                if m[i, j] > 0:
                    keep_label[new[i]] = cur_labels[free_cur[j]]
            new = [g for g in new if g not in keep_label]
    if new:
        xy = p.units.xy
        a = p.assignment
        cen = np.array([xy[a == g].mean(axis=0) for g in new])
        order = np.lexsort((np.round(cen[:, 0], 1), -np.round(cen[:, 1], 1)))
        used = set(keep_label.values())
        nxt = 1
        for i in order:
            while label_format.format(code=code, n=nxt) in used:
                nxt += 1
            keep_label[new[i]] = label_format.format(code=code, n=nxt)
            used.add(keep_label[new[i]])
    final = sorted(live, key=lambda g: keep_label[g])
    index = {g: i for i, g in enumerate(final)}
    a = np.array([index[g] for g in p._a], dtype=np.int64)
    labels = [keep_label[g] for g in final]
    home = np.array([labels.index(cur_labels[h]) if h >= 0 and cur_labels[h] in labels else -2 for h in p.home])
    if (p.home < 0).all():
        home = np.full(len(a), -1, np.int64)
    q = Partition(p.units, a, labels, p.bounds, locked=[x for x in labels if x in locked_codes], graph=p.graph,
                  home=home)
    return q


# ---------------------------------------------------------------------------------------------------
def micro_grids(p: Partition, lines_m, dwell_xy, dwell_hh, dwell_ids, params: ZoningParams = MICRO_PARAMS, *,
                community: str = "", grids=None) -> gpd.GeoDataFrame:
    """Micro-grids inside grids of a partition: the same engine, every dwelling its own cell.

    Parameters
    ----------
    p : Partition
        The grids (metric CRS); each unit's dwellings are found by id (``p.units.dwelling_ids``).
    lines_m : array of shapely.LineString
        Streets in ``p.units.crs`` (micro-grid boundaries follow them too).
    dwell_xy, dwell_hh, dwell_ids : numpy.ndarray
        The dwellings (at least those of the grids drawn): metric x/y, households, ids.
    params : ZoningParams
        Micro-grid band (default :data:`MICRO_PARAMS`, 10-30 households).
    community : str
        Community code (a column of the answer).
    grids : iterable of str, optional
        Labels of the grids to draw (default: all).

    Returns
    -------
    geopandas.GeoDataFrame
        ``label``, ``grid``, ``community_code``, ``households``, ``status``, ``contiguous``,
        ``dwelling_ids``; EPSG:4326.
    """
    row_of = {str(d): i for i, d in enumerate(np.asarray(dwell_ids, dtype=object).tolist())}
    rows = []
    for label in (p.labels if grids is None else list(grids)):
        g = p.grid_index(label)
        members = p.members(g)
        dws = np.array([row_of[str(d)] for u in members for d in p.units.dwelling_ids[u]], dtype=np.int64)
        area = p.polygon(g)
        units = build_units(area, lines_m, dwell_xy[dws, 0], dwell_xy[dws, 1], dwell_hh[dws],
                            np.asarray(dwell_ids, dtype=object)[dws], crs=p.units.crs,
                            split_above=params.split_above, sliver_m2=params.sliver_m2)
        sub = solve_units(units, params, code=label, area_m=area)
        q = sub.partition
        geoms = q.polygons(lonlat=False)
        for h in range(len(q.labels)):
            m = q.members(h)
            rows.append({"label": q.labels[h], "grid": label, "community_code": community,
                         "households": int(q._hh[h]), "status": q.state(h).status,
                         "contiguous": q.is_contiguous(h),
                         "dwelling_ids": [d for u in m for d in units.dwelling_ids[u]], "geometry": geoms[h]})
    f = gpd.GeoDataFrame(rows, geometry="geometry", crs=p.units.crs) if rows else gpd.GeoDataFrame(
        {"label": [], "grid": [], "geometry": []}, geometry="geometry", crs=p.units.crs)
    return f.to_crs(WGS84)


def solve_community(community, streets: gpd.GeoDataFrame, dwellings: gpd.GeoDataFrame, *, code: str = "",
                    params: ZoningParams = ZoningParams(), current: gpd.GeoDataFrame | None = None,
                    crs: CRS | None = None, micro: ZoningParams | bool | None = None,
                    id_column: str = "source_id", code_column: str = "code") -> CommunityPlan:
    """Redraw one community's grids from EPSG:4326 inputs.

    Parameters
    ----------
    community : shapely.Polygon or MultiPolygon
        The community polygon (EPSG:4326).
    streets : geopandas.GeoDataFrame
        Street lines (EPSG:4326), ``road_class``; those not in the community are ignored.
    dwellings : geopandas.GeoDataFrame
        The community's dwellings (points, EPSG:4326) with ``households`` and ``id_column``.
    code : str
        Community code (new grids are labelled ``{code}-01``, ``{code}-02`` ...).
    params : ZoningParams
    current : geopandas.GeoDataFrame, optional
        The community's current grids (``code_column``, polygons, EPSG:4326): needed for
        ``stay_close``, locked grids and the households moved.
    crs : pyproj.CRS, optional
        Metric CRS (default chosen for the community, :func:`geo.crs.metric_crs_for`).
    micro : ZoningParams or bool, optional
        Also draw micro-grids (``True``: :data:`geo.zoning.params.MICRO_PARAMS`).

    Returns
    -------
    CommunityPlan
    """
    crs = CRS(crs) if crs is not None else metric_crs_for(gpd.GeoSeries([community], crs=WGS84))
    area = to_metric_geoms([community], crs)[0]
    lines = to_metric_geoms(streets.geometry.to_numpy(), crs) if len(streets) else np.zeros(0, dtype=object)
    return _solve_metric(code, area, lines, *_dwelling_arrays(dwellings, crs, id_column), params,
                         _current_metric(current, crs, code_column), crs, micro)


def _dwelling_arrays(dwellings, crs, id_column):
    pts = to_metric_geoms(dwellings.geometry.to_numpy(), crs) if len(dwellings) else np.zeros(0, dtype=object)
    xy = shapely.get_coordinates(pts) if len(pts) else np.zeros((0, 2))
    ids = dwellings[id_column].to_numpy() if id_column in dwellings else dwellings.index.to_numpy()
    return xy, dwellings["households"].to_numpy().astype(np.int64), np.asarray(ids, dtype=object)


def _current_metric(current, crs, code_column):
    if current is None or len(current) == 0:
        return None
    return (current[code_column].astype(str).tolist(), to_metric_geoms(current.geometry.to_numpy(), crs))


def _solve_metric(code, area, lines, xy, hh, ids, params, current, crs, micro) -> CommunityPlan:
    def units_for(split):
        return build_units(area, lines, xy[:, 0], xy[:, 1], hh, ids, crs=crs, split_above=params.split_above,
                           sliver_m2=params.sliver_m2, split_blocks=frozenset(split))

    units = units_for(())
    plan = solve_units(units, params, code=code, current=current, area_m=area)
    split: set = set()
    for _ in range(SPLIT_ROUNDS):  # whole blocks too coarse for the band: cut the blocks around the misses
        more = _blocks_to_split(plan.partition) - split
        if not more:
            break
        split |= more
        units2 = units_for(split)
        plan2 = solve_units(units2, params, code=code, current=current, area_m=area)
        if _score(plan2.partition) < _score(plan.partition):
            plan = plan2
        else:
            break
    if params.stay_close and current and _score(plan.partition)[0] > 0:  # the band first: a fresh redraw
        units = units_for(split)
        fresh = solve_units(units, replace(params, stay_close=False), code=code, current=current, area_m=area)
        if _score(fresh.partition)[0] < _score(plan.partition)[0]:
            plan = fresh
    for i in plan.units.outside.tolist():
        plan.reasons.append(Reason("dwelling_outside", code, figures={"dwelling": str(ids[i])}))
    if micro:
        mp_ = micro if isinstance(micro, ZoningParams) else MICRO_PARAMS
        plan.micro = micro_grids(plan.partition, lines, xy, hh, ids, mp_, community=plan.community)
    return plan


def _blocks_to_split(p: Partition) -> set:
    """Blocks of several dwellings in the grids out of band and in the grids next to them."""
    bad = {g for g in range(len(p.labels)) if p.violation(g) and g not in p.locked}
    if not bad:
        return set()
    nb = p.graph.lists()[0]
    a = p.assignment
    near = set(bad)
    for u in np.flatnonzero(np.isin(a, list(bad))).tolist():
        near.update(a[v] for v in nb[u])
    near -= p.locked
    units = p.units
    many = np.array([len(d) >= 2 for d in units.dwelling_ids])
    pick = np.isin(a, list(near)) & many & (units.kind == "block")
    return set(units.block[pick].tolist())


# ---------------------------------------------------------------------------------------------------
_JOB: dict = {}


def _init_worker(job: dict) -> None:
    _JOB.clear()
    _JOB.update(job)


def _solve_task(i: int) -> CommunityPlan:
    j = _JOB
    t = j["tasks"][i]
    return _solve_metric(t["code"], t["area"], t["lines"], t["xy"], t["hh"], t["ids"], j["params"], t["current"],
                         j["crs"], j["micro"])


def solve_county(areas: gpd.GeoDataFrame, streets: gpd.GeoDataFrame, dwellings: gpd.GeoDataFrame,
                 grids: gpd.GeoDataFrame | None = None, *, params: ZoningParams = ZoningParams(),
                 communities=None, workers: int = 2, micro: ZoningParams | bool | None = None,
                 progress=None, id_column: str = "source_id") -> CountyPlan:
    """Redraw every community's grids (each independently; ``workers`` forked processes).

    Parameters
    ----------
    areas : geopandas.GeoDataFrame
        Areas (EPSG:4326) with ``code`` and ``level``; the ``community`` rows are redrawn.
    streets, dwellings : geopandas.GeoDataFrame
        EPSG:4326; dwellings carry ``households``, ``id_column`` and ``community_code`` (else they are
        placed by their position).
    grids : geopandas.GeoDataFrame, optional
        Current grids (``code``, ``community_code``, polygons): for ``stay_close``, locks, moves.
    params : ZoningParams
    communities : iterable of str, optional
        Only these community codes.
    workers : int
        Worker processes (1: in this process).
    micro : ZoningParams or bool, optional
        Also draw micro-grids.
    progress : callable, optional
        Called with ``(done, total)`` after each community.

    Returns
    -------
    CountyPlan
    """
    comm = areas[areas["level"] == "community"] if "level" in areas else areas
    if communities is not None:
        comm = comm[comm["code"].isin(set(communities))]
    comm = comm.sort_values("code")
    crs = metric_crs_for(areas)
    c_geom = to_metric_geoms(comm.geometry.to_numpy(), crs)
    lines = to_metric_geoms(streets.geometry.to_numpy(), crs)
    tree = shapely.STRtree(lines)
    xy, hh, ids = _dwelling_arrays(dwellings, crs, id_column)
    codes = comm["code"].astype(str).tolist()
    if "community_code" in dwellings:
        d_comm = dwellings["community_code"].astype(str).to_numpy()
    else:
        ci, pi = shapely.STRtree(c_geom).query(shapely.points(xy), predicate="intersects")[::-1]
        d_comm = np.full(len(xy), None, dtype=object)
        d_comm[ci] = np.asarray(codes, dtype=object)[pi]
    order = np.argsort(d_comm.astype(str), kind="stable")
    sorted_c = d_comm.astype(str)[order]
    g_cur = None
    if grids is not None and len(grids):
        g_cur = (grids["code"].astype(str).to_numpy(), grids["community_code"].astype(str).to_numpy(),
                 to_metric_geoms(grids.geometry.to_numpy(), crs))
    tasks = []
    for code, geom in zip(codes, c_geom):
        s, e = np.searchsorted(sorted_c, code, "left"), np.searchsorted(sorted_c, code, "right")
        d = order[s:e]
        cur = None
        if g_cur is not None:
            m = g_cur[1] == code
            cur = (g_cur[0][m].tolist(), g_cur[2][m]) if m.any() else None
        tasks.append({"code": code, "area": geom, "lines": lines[tree.query(geom, predicate="intersects")],
                      "xy": xy[d], "hh": hh[d], "ids": ids[d], "current": cur})
    job = {"tasks": tasks, "params": params, "crs": crs, "micro": micro}
    out: dict = {}
    if workers <= 1 or len(tasks) <= 1 or "fork" not in mp.get_all_start_methods():
        _init_worker(job)
        for i in range(len(tasks)):
            out[codes[i]] = _solve_task(i)
            if progress:
                progress(i + 1, len(tasks))
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # fork() of a threaded caller
            with ProcessPoolExecutor(workers, mp_context=mp.get_context("fork"), initializer=_init_worker,
                                     initargs=(job,)) as ex:
                for n, (i, plan) in enumerate(zip(range(len(tasks)), ex.map(_solve_task, range(len(tasks)),
                                                                             chunksize=4))):
                    out[codes[i]] = plan
                    if progress:
                        progress(n + 1, len(tasks))
    return CountyPlan(out, params)
