"""Redraw one area: :func:`solve_units` over its units (a community, or one grid for micro-grids),
:func:`solve_community` from EPSG:4326 frames, and :func:`solve_metric`, the per-community step the
county redraw runs in its workers (blocks too coarse for the band are split into dwelling cells and
the area solved again; micro-grids drawn inside each grid).

An attempt: seed (:mod:`~geo.zoning.solve.seed`), repair (:mod:`~geo.zoning.solve.repair`), the
balance search (:mod:`geo.zoning.search`); the best of several attempts (other seeds, other counts)
is kept, searched exhaustively when small (:mod:`~geo.zoning.solve.exact`), made compact and
relabelled (:mod:`~geo.zoning.solve.current`), and the reasons for what stays out of band are
recorded.  Lengths in metres, areas in m² (the metric CRS).
"""

from __future__ import annotations

import math
from dataclasses import replace

import geopandas as gpd
import numpy as np
import shapely
from pyproj import CRS

from geo.crs import WGS84, metric_crs_for
from geo.zoning.graph import UnitGraph, build_graph
from geo.zoning.params import MICRO_PARAMS, ZoningParams
from geo.zoning.partition import Partition
from geo.zoning.reasons import Reason
from geo.zoning.search import DEV_WEIGHT, balance, improve, total_violation
from geo.zoning.solve.current import home_grids, relabel
from geo.zoning.solve.exact import EXACT_UNITS, exact_parts
from geo.zoning.solve.plan import CommunityPlan
from geo.zoning.solve.repair import fix_count, repair
from geo.zoning.solve.seed import fill_unassigned, grid_count, seed_parts
from geo.zoning.units import Units, build_units, to_metric_geoms

__all__ = ["solve_units", "solve_community", "solve_metric", "micro_grids", "dwelling_arrays"]

OTHER_COUNTS = 4  # other grid counts tried when the first leaves grids out of band
STAY_CLOSE_DEV = (0.0, 0.01, DEV_WEIGHT / 10, DEV_WEIGHT)  # deviation weights tried in turn (stay_close)
SPLIT_ROUNDS = 2  # rounds of splitting blocks into cells where grids stay out of band


def _attempt(units, graph, params, base_assign, labels, locked_idx, free, k_free, method, seed, area_m, home,
             stay_close: bool):
    lo, hi = params.bounds
    t = params.target_households
    assign = base_assign.copy()
    labels = list(labels)
    if not stay_close and len(free):
        parts = seed_parts(units, graph, free, k_free, params, method, seed, area_m)
        first_new = len(labels)
        labels += [f"__new{first_new + i}" for i in range(int(parts.max()) + 1)]
        assign[free] = first_new + parts
    assign = fill_unassigned(assign, graph)
    orphans = np.flatnonzero(assign < 0)
    if len(orphans):  # a piece with no grid near it at all: a grid of its own
        g = len(labels)
        labels.append(f"__new{g}")
        assign[orphans] = g
    p = Partition(units, assign, labels, (lo, hi), locked=[labels[i] for i in locked_idx], graph=graph, home=home)
    islands: set = set()
    repair(p, t, islands)
    fix_count(p, k_free, t, islands)
    repair(p, t, islands)
    if stay_close:
        for dev in STAY_CLOSE_DEV:  # move as little as the band needs: spread households further only if it must
            balance(p, t, dev_weight=dev, move_weight=params.move_weight, max_sweeps=params.max_sweeps)
            if total_violation(p) == 0:
                break
    else:
        balance(p, t, dev_weight=DEV_WEIGHT, max_sweeps=params.max_sweeps)
    return p, islands


def _score(p: Partition) -> tuple:
    n = len(p.labels)
    pp = [p.polsby_popper(g) for g in range(n) if p.grid_units[g] > 0]
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
        exact = exact_parts(graph, hh, free, lo, hi, k_free if params.n_grids is not None else None)
        if exact is not None:
            assign = base.copy()
            labels = cur_labels + [f"__new{len(cur_labels) + i}" for i in range(int(exact.max()) + 1)]
            assign[free] = len(cur_labels) + exact
            p = Partition(units, assign, labels, (lo, hi), locked=[labels[i] for i in locked_idx], graph=graph,
                          home=home)
            islands = set()
    improve(p, compactness_weight=params.compactness_weight, street_weight=params.street_weight,
            stay_close=stay_close, max_sweeps=params.max_sweeps)
    p = relabel(p, code, cur_labels, stay_close, locked_codes, label_format)
    for i in sorted(islands):
        reasons.append(Reason("island_unit", code, grid=p.labels[p.grid_of[i]], unit=str(units.ids[i]),
                              figures={"households": int(hh[i])}))
    above = {p.grid_of[i] for i in np.flatnonzero(hh > hi)}
    for g in range(len(p.labels)):
        v = p.violation(g)
        if v and p.labels[g] not in locked_codes:
            reasons.append(Reason("grid_out_of_band", code, grid=p.labels[g],
                                  figures={"households": int(p.grid_households[g]), "min": lo, "max": hi,
                                           **({"unit_above_max": True} if g in above else {})}))
    for r in reasons:  # name the grid holding an oversized unit
        if r.code == "unit_above_max" and r.grid is None:
            idx = int(np.flatnonzero(units.ids == r.unit)[0])
            object.__setattr__(r, "grid", p.labels[p.grid_of[idx]])
    return CommunityPlan(code, p, reasons)


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
                         "households": int(q.grid_households[h]), "status": q.state(h).status,
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
    return solve_metric(code, area, lines, *dwelling_arrays(dwellings, crs, id_column), params,
                         _current_metric(current, crs, code_column), crs, micro)


def dwelling_arrays(dwellings, crs, id_column):
    pts = to_metric_geoms(dwellings.geometry.to_numpy(), crs) if len(dwellings) else np.zeros(0, dtype=object)
    xy = shapely.get_coordinates(pts) if len(pts) else np.zeros((0, 2))
    ids = dwellings[id_column].to_numpy() if id_column in dwellings else dwellings.index.to_numpy()
    return xy, dwellings["households"].to_numpy().astype(np.int64), np.asarray(ids, dtype=object)


def _current_metric(current, crs, code_column):
    if current is None or len(current) == 0:
        return None
    return (current[code_column].astype(str).tolist(), to_metric_geoms(current.geometry.to_numpy(), crs))


def solve_metric(code, area, lines, xy, hh, ids, params, current, crs, micro) -> CommunityPlan:
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
