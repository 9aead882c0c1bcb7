"""The answers the coverage routes and ``gridmap coverage`` return, each assembled once here.

Dicts of JSON values and frames (EPSG:4326); the routes render them as JSON, GeoJSON or CSV, the
CLI as rich tables and files.  Station ids are the stations' database ids, ``int``; areas are town,
community or grid codes.  Every answer about a run carries :func:`head` (the run, its parameters,
data versions and the straight-line label).
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from api.coverage.frames import (area_frame, break_columns, break_totals, dwelling_index, gaps_frame, station_areas,
                                 stations_in)
from api.coverage.params import CoverageParams
from api.coverage.runs import Run, area_totals, records
from api.coverage.service import CoverageService
from api.coverage.whatif import GAP_COLUMNS, added_gaps, plain_planner, planner, run_gaps, site, whatif_base
from api.errors import Conflict, NotFound, ValidationFailed
from api.jurisdiction import Jurisdiction
from api.limits import MAX_WHATIF_SITES
from geo.errors import Problem
from geo.gaps import grid_gaps
from geo.reach import EPS_S, station_dwellings
from geo.service_area import union_by_area

LEVELS = ("grid", "community", "town")


def head(run: Run) -> dict:
    """What every answer about ``run`` starts with."""
    return {"run_id": run.run_id, "params": run.params.as_dict(), "data_versions": run.versions,
            "fallback": run.fallback()}


def station_position(run: Run, station_id: int) -> int:
    """Position (reach order) of station ``station_id`` among the run's counted stations.

    Raises
    ------
    NotFound
        No such station in the run's scope.
    Conflict
        The station does not count under the run's parameters (closed then, or of another kind).
    """
    ids = run.inputs.stations["id"].to_numpy()
    if int(station_id) not in set(ids.tolist()):
        raise NotFound(f"no station {station_id} in your jurisdiction")
    where = np.flatnonzero(run.reach.station_ids == str(int(station_id)))
    if where.size == 0:
        raise Conflict(f"station {station_id} does not count under these parameters (closed on that date "
                       "or of another kind)")
    return int(where[0])


def _no_area(area: str) -> NotFound:
    return NotFound(f"no town, community or grid {area!r} in your jurisdiction")


# -- coverage per area -------------------------------------------------------------------------
def totals(run: Run, area: str | None = None, breaks: tuple[float, ...] = ()) -> dict:
    """``{"totals": ...}`` of the whole scope, or of ``area`` (with its ``area``, ``area_name`` and
    ``area_level``) plus the scope's as ``scope_totals``.  With ``breaks`` (minutes) each gets a
    ``covered_<seconds>s`` count of covered households.  NotFound when no dwelling lies in ``area``."""
    scope_t = {**run.totals, **break_totals(run, breaks)}
    if not area:
        return {"totals": scope_t}
    t = area_totals(run, area)
    if t is None:
        raise NotFound(f"no households in {area!r} in your jurisdiction")
    inside = (run.assignment[f"{t['area_level']}_code"] == area).to_numpy()
    return {"totals": {**t, **break_totals(run, breaks, inside)}, "scope_totals": scope_t}


def coverage_table(svc: CoverageService, scope: Jurisdiction, params: CoverageParams, level: str = "grid",
                   area: str | None = None, breaks: tuple[float, ...] = ()) -> dict:
    """``GET /coverage``: the summary's rows of ``level`` (only those in ``area``), each with a
    ``covered_<seconds>s`` count per break, and the totals (:func:`totals`).  Without ``area`` and
    ``breaks`` it is served from the stored summary (no run needed after a restart)."""
    if breaks:
        params = params.searching_to(max(breaks))
    s = svc.summary(scope, params)
    rows = s["levels"][level]
    out_totals = {"totals": s["totals"]}
    if area:
        rows = [r for r in rows if area in (r["code"], r.get("community_code"), r.get("town_code"))]
        if not rows:
            raise NotFound(f"no {level} with households in or named {area!r} in your jurisdiction")
    if area or breaks:
        run = svc.run(scope, params)
        out_totals = totals(run, area, breaks)
        if breaks:
            per = break_columns(run, level, breaks)
            rows = [{**r, **{col: int(vals.get(r["code"], 0)) for col, vals in per.items()}} for r in rows]
    return ({k: s[k] for k in ("run_id", "cached", "params", "data_versions", "fallback", "network",
                                "unsnapped_stations")} | out_totals | {"level": level, "area": area, "rows": rows})


def coverage_areas(run: Run, level: str = "grid", area: str | None = None,
                   breaks: tuple[float, ...] = ()) -> tuple[gpd.GeoDataFrame, dict]:
    """``GET /coverage?format=geojson``: the areas of ``level`` with their polygon, coverage band
    and a ``covered_<seconds>s`` count per break, and the answer's other members."""
    frame = area_frame(run, level, area=area)
    if area and not len(frame):
        raise NotFound(f"no {level} with households in or named {area!r} in your jurisdiction")
    frame = frame[frame.geometry.notna()]
    if breaks and len(frame):
        for col, vals in break_columns(run, level, breaks).items():
            frame[col] = frame["code"].map(vals).fillna(0).astype("int64")
    return frame, {**head(run), "level": level, "breaks": list(breaks), **totals(run, area, breaks)}


def area_gap_count(run: Run, gaps, area: str, level: str) -> int:
    """Gaps touching a grid of town, community or grid ``area`` (of ``level``)."""
    a = run.assignment
    in_area = set(a["grid_code"][(a[f"{level}_code"] == area).to_numpy()].dropna())
    return int(sum(bool(in_area.intersection(g)) for g in gaps.frame["grids"]))


# -- stations ----------------------------------------------------------------------------------
def station_reach(run: Run, station_id: int, breaks: tuple[float, ...], shape: str = "disk") -> dict:
    """``GET /stations/{id}/reach``: one station's reach as a GeoJSON FeatureCollection dict with
    metric polygons still to render (``features[i]["geometry"]`` is a shapely geometry, EPSG:4326):
    per break (minutes) the ground reachable within it (disks, or rings with ``shape="ring"``) and
    the households reached, and at the budget its own households (it is their nearest), those only
    it covers and those other stations cover too."""
    j = station_position(run, station_id)
    net, reach = run.net, run.reach
    polys = run.station_polygons(j, tuple(b * 60 for b in breaks), rings=shape == "ring")
    index = dwelling_index(run)
    hh = reach.households
    info = run.inputs.station_info().loc[str(station_id)]
    geoms = _valid_4326(gpd.GeoSeries([g for g, _ in polys], crs=net.crs))
    budget = run.params.budget_s
    # one bounded search to the farthest time asked for; each break (and the budget) filters it
    far, t_far = station_dwellings(net, reach, index, j, max(max(breaks) * 60, budget))
    features, prev_hh, prev_dw = [], 0, 0
    for b, g, (_, fb) in zip(breaks, geoms, polys):
        inside = t_far <= b * 60 + EPS_S
        cum_hh, cum_dw = int(hh[far[inside]].sum()), int(inside.sum())
        # a ring holds the households reached after the previous break and by this one
        own_hh, own_dw = (cum_hh - prev_hh, cum_dw - prev_dw) if shape == "ring" else (cum_hh, cum_dw)
        features.append({"type": "Feature", "geometry": g,
                         "properties": {"station_id": int(station_id), "minutes": b, "shape": shape,
                                        "method": "network+straight_line" if fb else "network",
                                        "households": own_hh, "dwellings": own_dw,
                                        "households_cumulative": cum_hh, "dwellings_cumulative": cum_dw}})
        prev_hh, prev_dw = cum_hh, cum_dw
    within = int(hh[far[t_far <= budget + EPS_S]].sum())
    own = int(hh[(reach.nearest == j) & (reach.time_s <= budget + 1e-6)].sum())
    closed = plain_planner(run).close(str(station_id)).changed
    lost = closed[(closed["time_before_s"] <= budget + 1e-6) & ~(closed["time_after_s"] <= budget + 1e-6)]
    exclusive = int(hh[lost["dwelling"].to_numpy(dtype=np.int64)].sum())
    return {"type": "FeatureCollection", "features": features, **head(run),
            "station": {"id": int(station_id), "name": info["name"], "kind": info["kind"],
                        "source_id": info["source_id"], "snapped": bool(reach.station_snap.ok[j]),
                        "access_m": float(reach.station_snap.dist_m[j]) if reach.station_snap.ok[j] else None},
            "households": {"minutes": run.params.minutes, "within": within, "own": own, "exclusive": exclusive,
                           "overlapping": within - exclusive}}


def _valid_4326(polys: gpd.GeoSeries) -> np.ndarray:
    """Metric polygons in EPSG:4326, repaired where reprojection made them invalid (as
    ``geo.service_area`` does for its frames): on the sample district 112 of 672 reach polygons
    (5/8/15 min, disks and rings) came out of ``to_crs`` self-intersecting."""
    g = np.asarray(polys.to_crs(4326).values, dtype=object)
    bad = ~shapely.is_valid(g) & ~shapely.is_missing(g)
    if bad.any():
        g[bad] = shapely.make_valid(g[bad], method="structure", keep_collapsed=False)
    return g


def counted_stations(run: Run, kind: str | None = None, area: str | None = None) -> gpd.GeoDataFrame:
    """``GET /coverage/stations``: the stations the run counts (of ``kind``, inside ``area``) with
    whether each reaches a street (``snapped``, ``access_m``)."""
    c = run.counted
    js = np.arange(len(c))
    if area is not None:
        js = stations_in(run, area)
        if js is None:
            raise _no_area(area)
    if kind is not None:
        js = js[c["kind"].to_numpy(dtype=object)[js] == kind]
    snap = run.reach.station_snap
    cols = [k for k in ("id", "source_id", "name", "kind", "address") if k in c]
    frame = gpd.GeoDataFrame(c.iloc[js][cols].reset_index(drop=True), geometry=c.geometry.values[js], crs=4326)
    frame["snapped"] = snap.ok[js]
    frame["access_m"] = np.where(snap.ok[js], np.round(snap.dist_m[js], 1), np.nan)
    return frame


# -- dwellings ---------------------------------------------------------------------------------
def dwelling_rows(run: Run, *, uncovered: bool = False, grid: str | None = None) -> np.ndarray:
    """Positions of the run's dwellings (all, only the uncovered ones, only those of ``grid``)."""
    keep = np.ones(len(run.inputs.dwellings), dtype=bool)
    if uncovered:
        keep &= ~(run.reach.time_s <= run.params.budget_s + 1e-6)
    if grid is not None:
        keep &= run.assignment["grid_code"].to_numpy(dtype=object) == grid
    return np.flatnonzero(keep)


def even_sample(idx: np.ndarray, limit: int) -> np.ndarray:
    """``idx`` itself, or ``limit`` of its entries evenly spaced when it has more."""
    if idx.size <= limit:
        return idx
    return idx[np.linspace(0, idx.size - 1, limit).round().astype(np.int64)]


def dwellings_frame(run: Run, idx: np.ndarray | None = None) -> gpd.GeoDataFrame:
    """The run's dwellings (all, or positions ``idx``) with their travel time: ``id, source_id,
    households, grid_code, time_s`` (seconds; NaN when no station within the search limit),
    ``covered``, ``nearest_station`` (database id, nullable int), ``nearest_station_name`` and
    ``method`` (network, straight_line or unreachable); points EPSG:4326."""
    r, d = run.reach, run.inputs.dwellings
    idx = np.arange(len(d)) if idx is None else np.asarray(idx, dtype=np.int64)
    near = r.nearest[idx]
    has = near >= 0
    sid = np.where(has, r.station_ids[np.maximum(near, 0)] if len(r.station_ids) else "", None)
    names = run.lazy("station_names", lambda: dict(zip(run.inputs.stations["id"].astype(str),
                                                       run.inputs.stations["name"])))
    t = r.time_s[idx]
    return gpd.GeoDataFrame({
        "id": d["id"].to_numpy()[idx], "source_id": d["source_id"].to_numpy()[idx], "households": r.households[idx],
        "grid_code": run.assignment["grid_code"].to_numpy(dtype=object)[idx],
        "time_s": np.where(np.isfinite(t), t, np.nan), "covered": t <= run.params.budget_s + 1e-6,
        "nearest_station": pd.array([int(s) if s is not None else None for s in sid], dtype="Int64"),
        "nearest_station_name": [names.get(s) if s is not None else None for s in sid],
        "method": r.method[idx],
    }, geometry=d.geometry.values[idx], crs=4326)


# -- gaps --------------------------------------------------------------------------------------
def gaps(run: Run, link_m: float = 100.0, grid: str | None = None) -> tuple[gpd.GeoDataFrame, dict]:
    """``GET /coverage/gaps``: the gap polygons (only ``grid``'s, largest first) and the answer's
    other members (totals over every gap, and with ``grid`` that grid's own figures)."""
    found = run_gaps(run, link_m)
    frame = gaps_frame(run, found)
    extra = {**head(run), "total_gaps": int(len(frame)),
             "uncovered_households": int(frame["households"].sum()) if len(frame) else 0}
    if grid is not None:
        gg = grid_gaps(found, run.reach, run.assignment["grid_code"].to_numpy(dtype=object))
        row = gg[gg["grid_code"] == grid]
        if grid not in set(run.inputs.grids["code"]):
            raise NotFound(f"no grid {grid!r} in your jurisdiction")
        ids = list(row["gap_ids"].iloc[0]) if len(row) else []
        frame = frame.set_index("gap_id").loc[ids].reset_index() if ids else frame.iloc[:0]
        extra["grid"] = {"code": grid, "name": run.inputs.names.get(grid),
                         "uncovered_households": int(row["uncovered_households"].iloc[0]) if len(row) else 0,
                         "uncovered_dwellings": int(row["uncovered_dwellings"].iloc[0]) if len(row) else 0,
                         "gap_ids": [int(i) for i in ids]}
    return frame, extra


# -- service areas -----------------------------------------------------------------------------
def station_area_frame(run: Run, breaks: tuple[float, ...], rings: bool = False, station: int | None = None,
                       area: str | None = None) -> gpd.GeoDataFrame:
    """``GET /coverage/areas?by=station``: each counted station's own service area per break
    (minutes; all stations, one ``station``, or those inside ``area``), with ``name`` and
    ``minutes``; ``station`` the database id."""
    secs = tuple(b * 60 for b in breaks)
    if station is not None:
        frame = station_areas(run, secs, rings, np.array([station_position(run, station)]))
    elif area is not None:
        js = stations_in(run, area)
        if js is None:
            raise _no_area(area)
        frame = station_areas(run, secs, rings, js)
    else:  # the budget disks the warm-up drew are reused
        frame = station_areas(run, secs, rings)
    info = run.inputs.station_info()
    frame = frame.copy()
    frame["name"] = frame["station"].map(info["name"])
    frame["station"] = frame["station"].astype(int)
    frame["minutes"] = frame["break_s"] / 60.0
    return frame


def union_frame(run: Run, by: str, breaks: tuple[float, ...], rings: bool = False,
                area: str | None = None) -> gpd.GeoDataFrame:
    """``GET /coverage/areas?by=grid|community|town``: the covered ground of every ``by`` area per
    break (minutes; ``area``: only the areas inside that code), with ``name``, ``method`` and
    ``minutes``.  The union itself is drawn once per run."""
    secs = tuple(b * 60 for b in breaks)
    if by == "grid":
        areas = run.inputs.grids[["code", "geometry"]]
    else:
        areas = run.inputs.areas[run.inputs.areas["level"] == by][["code", "geometry"]]
    frame = run.lazy(("union", by, secs, rings),
                     lambda: union_by_area(run.net, run.reach, areas, secs, rings=rings))
    if area is not None:
        g = run.inputs.grids
        inside = np.zeros(len(g), dtype=bool)
        for c in ("code", "community_code", "town_code"):
            if c in g:
                inside |= (g[c] == area).to_numpy()
        if not inside.any():
            raise _no_area(area)
        col = {"grid": "code", "community": "community_code", "town": "town_code"}[by]
        frame = frame[frame["code"].isin(set(g.loc[inside, col]) | {area})]
    frame = frame.copy()
    frame["name"] = frame["code"].map(run.inputs.names)
    frame["method"] = "network+straight_line" if run.reach.fallback_geom is not None else "network"
    frame["minutes"] = frame["break_s"] / 60.0
    return frame


# -- what-if -----------------------------------------------------------------------------------
def whatif_answer(svc: CoverageService, scope: Jurisdiction, params: CoverageParams, action: str, *,
                  station_id: int | None = None, lon: float | None = None, lat: float | None = None,
                  kind: str | None = None, sites: list[tuple[float, float]] | None = None,
                  station_ids: list[int] | None = None) -> dict:
    """``POST /coverage/what-if``: the effect of adding a station at (lon, lat), moving
    ``station_id`` there, or closing it: covered households before and after, each affected grid's
    gap list before and after, the gaps removed and added (``gaps_added`` a frame, EPSG:4326).

    Several changes answer as one question (a siting proposal checked whole): ``add`` with
    ``sites`` (several ``(lon, lat)`` new stations together), ``close`` with ``station_ids`` (several
    closed together), ``change`` with both (new sites and closures together).  At most
    :data:`api.limits.MAX_WHATIF_SITES` of each.

    Each site is projected and snapped once (:func:`api.coverage.whatif.site`; ValidationFailed on
    ``lon`` or ``sites.N`` when it can reach nobody)."""
    problems = []
    sites = [tuple(map(float, x)) for x in sites] if sites else []
    closes = [int(x) for x in station_ids] if station_ids else []
    if action in ("add", "change") and (lon is None) != (lat is None):
        problems.append(Problem(f"{action} needs both lon and lat", field="lon"))
    if action == "add" and lon is None and not sites:
        problems.append(Problem("add needs lon and lat, or sites", field="lon"))
    if action == "move" and (lon is None or lat is None):
        problems.append(Problem("move needs lon and lat", field="lon"))
    if action == "move" and station_id is None:
        problems.append(Problem("move needs station_id", field="station_id"))
    if action == "close" and station_id is None and not closes:
        problems.append(Problem("close needs station_id or station_ids", field="station_id"))
    if action == "change" and lon is None and not sites and station_id is None and not closes:
        problems.append(Problem("change needs sites to add or station_ids to close", field="sites"))
    if action != "change" and ((sites and action != "add") or (closes and action != "close")):
        problems.append(Problem("several sites are added by add or change, several stations closed by close or "
                                "change", field="sites" if sites else "station_ids"))
    if max(len(sites), len(closes)) > MAX_WHATIF_SITES:
        problems.append(Problem(f"at most {MAX_WHATIF_SITES} sites and {MAX_WHATIF_SITES} closures in one what-if",
                                field="sites" if len(sites) > MAX_WHATIF_SITES else "station_ids"))
    if problems:
        raise ValidationFailed("The what-if request is incomplete.", problems)
    p = params
    if action in ("add", "change") and (lon is not None or sites) and p.kinds and kind not in p.kinds:
        raise ValidationFailed("The added station would not count.",
                               [Problem(f"kind must be one of the counted kinds {list(p.kinds)}", field="kind")])
    run = svc.run(scope, p)
    plan = planner(run, svc.max_snap_m)
    if action == "move":
        there = site(run, plan, lon, lat)
        station_position(run, station_id)
        sid = str(int(station_id))
        res = plan.move(sid, lon, lat, site=there)
    else:
        adds = ([("new", lon, lat, "lon")] if lon is not None else []) + [
            (f"new-{i + 1}", x, y, f"sites.{i}") for i, (x, y) in enumerate(sites)]
        places = [site(run, plan, x, y, field) for _, x, y, field in adds]
        shut = ([station_id] if station_id is not None else []) + closes
        for sid in shut:
            station_position(run, sid)
        res = plan.change(add=[(name, x, y) for name, x, y, _ in adds], close=[str(int(s)) for s in shut],
                          sites=places, action=action)
    base = whatif_base(run)
    added = added_gaps(run, res)
    removed = set(int(g) for g in res.gaps_removed)
    affected = set(res.per_grid["grid_code"]) if len(res.per_grid) else set()
    for g in removed:
        affected.update(base.grids_of.get(g, ()))
    new_by_grid: dict[str, list[int]] = {}
    for g, codes in zip(added["gap_id"], added["grids"]):
        for code in codes:
            new_by_grid.setdefault(code, []).append(int(g))
    affected.update(new_by_grid)
    rows_added = {int(r["gap_id"]): r for r in records(added[GAP_COLUMNS])} if len(added) else {}

    def row(g: int) -> dict:
        return rows_added[g] if g in rows_added else base.rows[g]

    grid_rows = (dict(zip(res.per_grid["grid_code"], zip(res.per_grid["covered_before"], res.per_grid["covered_after"])))
                 if len(res.per_grid) else {})
    grids = []
    for code in sorted(affected):
        before = base.lists.get(code, [])
        gl = sorted([g for g in before if g not in removed] + new_by_grid.get(code, []),
                    key=lambda g: -row(g)["households"])
        cb, ca = (int(v) for v in grid_rows[code]) if code in grid_rows else (base.covered.get(code, 0),) * 2
        grids.append({"grid_code": code, "name": run.inputs.names.get(code), "covered_before": cb,
                      "covered_after": ca, "delta": ca - cb, "gaps_before": list(before),
                      "gaps_after": [row(g) for g in gl]})
    return {**head(run), "action": action, "station_id": station_id, "lon": lon, "lat": lat, "kind": kind,
            "sites": [{"lon": x, "lat": y} for x, y in sites], "station_ids": closes, "minutes": p.minutes,
            "households": base.households,
            "covered_before": res.covered_before, "covered_after": res.covered_after,
            "delta": res.delta, "changed_dwellings": int(len(res.changed)),
            "grids": grids, "gaps_removed": sorted(int(g) for g in removed), "gaps_added": added}
