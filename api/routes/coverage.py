"""Coverage API: the 8-minute service circle per area, one station's reach, gaps, service areas
and what-if planning.  Thin: parameters in, :mod:`api.db.coverage` and ``geo/`` do the work.

Every response that contains straight-line fallback results says so (``fallback.used``; per
feature ``method``).  Station ids are the database ids of ``/collections/stations/items``.
"""

from __future__ import annotations

import datetime as dt
import io
import json
from typing import Literal

import geopandas as gpd
import numpy as np
import pandas as pd
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, Field

from api import deps
from api.db.coverage import (CoverageParams, CoverageService, Run, area_frame, dwelling_index, gaps_frame, records,
                              service_for)
from api.errors import Conflict, NotFound, ValidationFailed
from api.jurisdiction import Jurisdiction
from geo.errors import Problem
from geo.gaps import find_gaps, grid_gaps
from geo.reach import station_dwellings
from geo.service_area import MAX_BREAKS, service_areas, union_by_area
from geo.whatif import Planner

router = APIRouter(tags=["coverage"])
GEOJSON = "application/geo+json"

_MINUTES = Query(None, gt=0, le=120, description="Time budget, minutes (default the setting, 8).")
_MODE = Query("walk", pattern="^(walk|bike|drive)$", description="Travel mode.")
_KINDS = Query(None, description="Station kinds that count, comma-separated (default all).")
_AT = Query(None, description="Count stations open on this date (default today).")
_REGION = Query(None, pattern=r"^\d{6}$", description="One county (6-digit code); default all in scope.")
_BREAKS = Query(None, description=f"Up to {MAX_BREAKS} budgets in minutes, comma-separated, e.g. 5,8,15.")


def service(request: Request) -> CoverageService:
    return service_for(request.app.state.engine, request.app.state.settings)


def _kinds(raw: str | None) -> tuple[str, ...] | None:
    if raw is None or not raw.strip():
        return None
    kinds = tuple(sorted({k.strip() for k in raw.split(",") if k.strip()}))
    return kinds or None


def parse_breaks(raw: str | None, minutes: float) -> tuple[float, ...]:
    """Budgets in minutes, ascending; ``minutes`` alone when none are given.  422 when malformed."""
    if raw is None or not raw.strip():
        return (float(minutes),)
    try:
        vals = sorted({float(x) for x in raw.split(",") if x.strip()})
    except ValueError:
        vals = []
    if not 1 <= len(vals) <= MAX_BREAKS or vals[0] <= 0 or vals[-1] > 120 or not all(np.isfinite(vals)):
        raise ValidationFailed(f"breaks must be 1 to {MAX_BREAKS} positive minutes up to 120, e.g. 5,8,15",
                               [Problem("invalid breaks", field="breaks")])
    return tuple(vals)


def params(request: Request, minutes: float | None, mode: str, kinds: str | None, at: dt.date | None,
           region: str | None, limit_minutes: float | None = None) -> CoverageParams:
    m = float(minutes if minutes is not None else request.app.state.settings.minutes)
    lim = None if limit_minutes is None or limit_minutes <= m else float(limit_minutes)
    return CoverageParams(minutes=m, mode=mode, kinds=_kinds(kinds), at=at or dt.date.today(), region=region,
                          limit_minutes=lim)


def _head(run: Run) -> dict:
    return {"run_id": run.run_id, "params": run.params.as_dict(), "data_versions": run.versions,
            "fallback": run.fallback()}


def _feature_collection(frame, extra: dict) -> JSONResponse:
    fc = json.loads(frame.to_json(drop_id=True, na="null")) if len(frame) else {"type": "FeatureCollection",
                                                                                 "features": []}
    return JSONResponse({**fc, **extra}, media_type=GEOJSON)


# -- GET /coverage -----------------------------------------------------------------------------
@router.get("/coverage", summary="Household coverage within the time budget per grid, community or town",
            description="Covered / total households and %, household-weighted mean and 90th percentile "
                        "travel time, stations by kind; `format=csv` for a CSV table.  Results are "
                        "stored per parameters and data versions and reused until the data change.")
def coverage(request: Request, minutes: float | None = _MINUTES, mode: str = _MODE,
             level: Literal["grid", "community", "town"] = "grid",
             area: str | None = Query(None, description="Only rows in this town, community or grid code."),
             kinds: str | None = _KINDS, at: dt.date | None = _AT, region: str | None = _REGION,
             format: Literal["json", "csv", "geojson"] = "json",
             scope: Jurisdiction = Depends(deps.jurisdiction), svc: CoverageService = Depends(service)) -> Response:
    p = params(request, minutes, mode, kinds, at, region)
    if format == "geojson":  # rows with their area's polygon and a coverage band (0: <50% ... 4: 100%)
        run = svc.run(scope, p)
        frame = area_frame(run, level, area=area)
        if area and not len(frame):
            raise NotFound(f"no {level} with households in or named {area!r} in your jurisdiction")
        return _feature_collection(frame[frame.geometry.notna()], {**_head(run), "level": level,
                                                                    "totals": run.totals})
    s = svc.summary(scope, p)
    rows = s["levels"][level]
    if area:
        rows = [r for r in rows if area in (r["code"], r.get("community_code"), r.get("town_code"))]
        if not rows:
            raise NotFound(f"no {level} with households in or named {area!r} in your jurisdiction")
    if format == "csv":
        buf = io.StringIO()
        pd.DataFrame(rows).to_csv(buf, index=False)
        return Response(buf.getvalue(), media_type="text/csv; charset=utf-8", headers={
            "Content-Disposition": f'attachment; filename="coverage_{level}.csv"',
            "X-Straight-Line-Fallback": "yes" if s["fallback"]["used"] else "no"})
    return JSONResponse({k: s[k] for k in ("run_id", "cached", "params", "data_versions", "totals", "fallback",
                                           "network", "unsnapped_stations")}
                        | {"level": level, "area": area, "rows": rows})


# -- GET /stations/{id}/reach ------------------------------------------------------------------
def _station_index(run: Run, station_id: int) -> int:
    ids = run.inputs.stations["id"].to_numpy()
    if station_id not in set(ids.tolist()):
        raise NotFound(f"no station {station_id} in your jurisdiction")
    where = np.flatnonzero(run.reach.station_ids == str(station_id))
    if where.size == 0:
        raise Conflict(f"station {station_id} does not count under these parameters (closed on that date "
                       "or of another kind)")
    return int(where[0])


def _plain_planner(run: Run) -> Planner:
    return run.lazy("planner_plain", lambda: Planner(run.net, run.reach, budget_s=run.params.budget_s))


@router.get("/stations/{station_id}/reach", summary="One station's reach: polygons and households within",
            description="GeoJSON polygon(s) of the ground reachable from the station within each break "
                        "(disks, or rings with `shape=ring`), the households within each break, and at the "
                        "budget its own households (it is their nearest), those only it covers and those "
                        "other stations cover too.")
def station_reach(request: Request, station_id: int, minutes: float | None = _MINUTES, mode: str = _MODE,
                  breaks: str | None = _BREAKS, shape: Literal["disk", "ring"] = "disk",
                  kinds: str | None = _KINDS, at: dt.date | None = _AT, region: str | None = _REGION,
                  scope: Jurisdiction = Depends(deps.jurisdiction), svc: CoverageService = Depends(service)
                  ) -> JSONResponse:
    p = params(request, minutes, mode, kinds, at, region)
    bks = parse_breaks(breaks, p.minutes)
    run = svc.run(scope, p)
    j = _station_index(run, station_id)
    net, reach = run.net, run.reach
    polys = run.station_polygons(j, tuple(b * 60 for b in bks), rings=shape == "ring")
    index = dwelling_index(run)
    hh = reach.households
    info = run.inputs.station_info().loc[str(station_id)]
    from shapely import to_geojson

    geoms = gpd.GeoSeries([g for g, _ in polys], crs=net.crs).to_crs(4326).values
    features = []
    for b, g, (_, fb) in zip(bks, geoms, polys):
        idx, _ = station_dwellings(net, reach, index, j, b * 60)
        features.append({"type": "Feature", "geometry": json.loads(to_geojson(g)),
                         "properties": {"station_id": station_id, "minutes": b, "shape": shape,
                                        "method": "network+straight_line" if fb else "network",
                                        "households": int(hh[idx].sum()), "dwellings": int(idx.size)}})
    budget = p.budget_s
    idx, t = station_dwellings(net, reach, index, j, budget)
    within = int(hh[idx].sum())
    own = int(hh[(reach.nearest == j) & (reach.time_s <= budget + 1e-6)].sum())
    closed = _plain_planner(run).close(str(station_id)).changed
    lost = closed[(closed["time_before_s"] <= budget + 1e-6) & ~(closed["time_after_s"] <= budget + 1e-6)]
    exclusive = int(hh[lost["dwelling"].to_numpy(dtype=np.int64)].sum())
    body = {"type": "FeatureCollection", "features": features, **_head(run),
            "station": {"id": station_id, "name": info["name"], "kind": info["kind"], "source_id": info["source_id"],
                        "snapped": bool(reach.station_snap.ok[j]),
                        "access_m": float(reach.station_snap.dist_m[j]) if reach.station_snap.ok[j] else None},
            "households": {"minutes": p.minutes, "within": within, "own": own, "exclusive": exclusive,
                           "overlapping": within - exclusive}}
    return JSONResponse(body, media_type=GEOJSON)


# -- GET /coverage/dwellings -------------------------------------------------------------------
@router.get("/coverage/dwellings", summary="Dwellings with their travel time to the nearest station",
            description="GeoJSON points: `time_s` (null when no station within the search limit), `covered`, "
                        "nearest station, `method` (network, straight_line or unreachable).  Above `limit` an "
                        "evenly spaced sample is returned (`sampled`).")
def coverage_dwellings(request: Request, minutes: float | None = _MINUTES, mode: str = _MODE,
                       uncovered: bool = Query(False, description="Only dwellings not covered."),
                       grid: str | None = Query(None, description="Only this grid's dwellings."),
                       limit: int = Query(20_000, ge=1, le=1_000_000), kinds: str | None = _KINDS,
                       at: dt.date | None = _AT, region: str | None = _REGION,
                       scope: Jurisdiction = Depends(deps.jurisdiction), svc: CoverageService = Depends(service)
                       ) -> JSONResponse:
    run = svc.run(scope, params(request, minutes, mode, kinds, at, region))
    r = run.reach
    d = run.inputs.dwellings
    cov = r.time_s <= run.params.budget_s + 1e-6
    keep = np.ones(len(d), dtype=bool)
    if uncovered:
        keep &= ~cov
    codes = run.assignment["grid_code"].to_numpy(dtype=object)
    if grid is not None:
        keep &= codes == grid
    idx = np.flatnonzero(keep)
    total = int(idx.size)
    if idx.size > limit:
        idx = idx[np.linspace(0, idx.size - 1, limit).round().astype(np.int64)]
    xy = d.geometry.values[idx]
    import shapely

    lon, lat = shapely.get_x(xy), shapely.get_y(xy)
    t = r.time_s[idx]
    near = r.nearest[idx]
    feats = [{"type": "Feature", "geometry": {"type": "Point", "coordinates": [round(float(x), 7), round(float(y), 7)]},
              "properties": {"id": int(i), "source_id": sid, "households": int(h),
                             "time_s": round(float(tt), 4) if np.isfinite(tt) else None,
                             "covered": "yes" if c else "no",
                             "nearest_station": int(r.station_ids[n]) if n >= 0 else None,
                             "method": mth, "grid_code": g}}
             for i, sid, h, tt, c, n, mth, g, x, y in zip(
                 d["id"].to_numpy()[idx], d["source_id"].to_numpy()[idx], r.households[idx], t, cov[idx], near,
                 r.method[idx], codes[idx], lon, lat)]
    return JSONResponse({"type": "FeatureCollection", "features": feats, **_head(run), "matched": total,
                         "sampled": total > len(feats)}, media_type=GEOJSON)


# -- GET /coverage/gaps ------------------------------------------------------------------------
def run_gaps(run: Run, link_m: float = 100.0):
    return run.lazy(("gaps", link_m), lambda: find_gaps(run.reach, budget_s=run.params.budget_s, link_m=link_m,
                                                         grid_codes=run.assignment["grid_code"].to_numpy(dtype=object)))


@router.get("/coverage/gaps", summary="Coverage gaps: uncovered households clustered, ranked",
            description="GeoJSON gap polygons with household counts, the nearest station and its time, ranked "
                        "by households; `grid=CODE` gives one grid's gap list.")
def coverage_gaps(request: Request, minutes: float | None = _MINUTES, mode: str = _MODE,
                  grid: str | None = Query(None, description="Only this grid's gaps."),
                  link_m: float = Query(100.0, gt=0, le=2000, description="Linking distance, metres."),
                  limit: int = Query(1000, ge=1, le=100_000), kinds: str | None = _KINDS,
                  at: dt.date | None = _AT, region: str | None = _REGION,
                  scope: Jurisdiction = Depends(deps.jurisdiction), svc: CoverageService = Depends(service)
                  ) -> JSONResponse:
    run = svc.run(scope, params(request, minutes, mode, kinds, at, region))
    gaps = run_gaps(run, link_m)
    frame = gaps_frame(run, gaps)
    extra = {**_head(run), "total_gaps": int(len(frame)),
             "uncovered_households": int(frame["households"].sum()) if len(frame) else 0}
    if grid is not None:
        gg = grid_gaps(gaps, run.reach, run.assignment["grid_code"].to_numpy(dtype=object))
        row = gg[gg["grid_code"] == grid]
        if grid not in set(run.inputs.grids["code"]):
            raise NotFound(f"no grid {grid!r} in your jurisdiction")
        ids = list(row["gap_ids"].iloc[0]) if len(row) else []
        frame = frame.set_index("gap_id").loc[ids].reset_index() if ids else frame.iloc[:0]
        extra["grid"] = {"code": grid, "name": run.inputs.names.get(grid),
                         "uncovered_households": int(row["uncovered_households"].iloc[0]) if len(row) else 0,
                         "uncovered_dwellings": int(row["uncovered_dwellings"].iloc[0]) if len(row) else 0,
                         "gap_ids": [int(i) for i in ids]}
    return _feature_collection(frame.head(limit), extra)


# -- GET /coverage/areas -----------------------------------------------------------------------
@router.get("/coverage/areas", summary="Service-area polygons per station, or their union per area",
            description="`by=station`: each station's own service area per break (overlaps kept); "
                        "`by=community|town|grid`: the union of all service areas clipped to each area. "
                        f"Up to {MAX_BREAKS} breaks, as disks or rings (`shape=ring`), holes kept.")
def coverage_areas(request: Request, minutes: float | None = _MINUTES, mode: str = _MODE,
                   by: Literal["station", "grid", "community", "town"] = "station",
                   breaks: str | None = _BREAKS, shape: Literal["disk", "ring"] = "disk",
                   station: int | None = Query(None, description="Only this station (by=station)."),
                   kinds: str | None = _KINDS, at: dt.date | None = _AT, region: str | None = _REGION,
                   scope: Jurisdiction = Depends(deps.jurisdiction), svc: CoverageService = Depends(service)
                   ) -> JSONResponse:
    m = float(minutes if minutes is not None else request.app.state.settings.minutes)
    bks = parse_breaks(breaks, m)
    secs = tuple(b * 60 for b in bks)
    rings = shape == "ring"
    if by == "station":
        run = svc.run(scope, params(request, minutes, mode, kinds, at, region))
        if station is not None:
            j = _station_index(run, station)
            frame = service_areas(run.net, run.reach, secs, rings=rings, stations=[j])
        else:
            frame = run.lazy(("areas", secs, rings), lambda: service_areas(run.net, run.reach, secs, rings=rings))
        info = run.inputs.station_info()
        frame = frame.copy()
        frame["name"] = frame["station"].map(info["name"])
        frame["station"] = frame["station"].astype(int)
    else:
        run = svc.run(scope, params(request, minutes, mode, kinds, at, region, limit_minutes=max(bks)))
        if by == "grid":
            areas = run.inputs.grids[["code", "geometry"]]
        else:
            areas = run.inputs.areas[run.inputs.areas["level"] == by][["code", "geometry"]]
        frame = run.lazy(("union", by, secs, rings),
                         lambda: union_by_area(run.net, run.reach, areas, secs, rings=rings))
        frame = frame.copy()
        frame["name"] = frame["code"].map(run.inputs.names)
        frame["method"] = "network+straight_line" if run.reach.fallback_geom is not None else "network"
    frame["minutes"] = frame["break_s"] / 60.0
    return _feature_collection(frame, {**_head(run), "by": by, "breaks": list(bks), "shape": shape})


# -- POST /coverage/what-if --------------------------------------------------------------------
class WhatIf(BaseModel):
    """One hypothetical change: add a station at (lon, lat), move one there, or close one."""

    action: Literal["add", "move", "close"]
    station_id: int | None = Field(None, description="The station to move or close (database id).")
    lon: float | None = Field(None, ge=-180, le=180, description="Longitude, degrees EPSG:4326 (add, move).")
    lat: float | None = Field(None, ge=-90, le=90, description="Latitude, degrees EPSG:4326 (add, move).")
    kind: str | None = Field(None, description="Kind of the added station (must be counted).")
    minutes: float | None = Field(None, gt=0, le=120)
    mode: Literal["walk", "bike", "drive"] = "walk"
    kinds: list[str] | None = None
    at: dt.date | None = None
    region: str | None = Field(None, pattern=r"^\d{6}$")


def _planner(run: Run) -> Planner:
    gaps = run_gaps(run)
    return run.lazy("planner", lambda: Planner(run.net, run.reach, gaps=gaps, budget_s=run.params.budget_s,
                                               grid_codes=run.assignment["grid_code"].to_numpy(dtype=object)))


@router.post("/coverage/what-if", summary="Effect of adding, moving or closing one station",
             description="Change in covered households and each affected grid's gap list, from one bounded "
                         "search around the station (no full recompute).")
def what_if(request: Request, body: WhatIf, scope: Jurisdiction = Depends(deps.jurisdiction),
            svc: CoverageService = Depends(service)) -> JSONResponse:
    need_point = body.action in ("add", "move")
    problems = []
    if need_point and (body.lon is None or body.lat is None):
        problems.append(Problem(f"{body.action} needs lon and lat", field="lon"))
    if body.action in ("move", "close") and body.station_id is None:
        problems.append(Problem(f"{body.action} needs station_id", field="station_id"))
    if problems:
        raise ValidationFailed("The what-if request is incomplete.", problems)
    kinds = ",".join(body.kinds) if body.kinds else None
    p = params(request, body.minutes, body.mode, kinds, body.at, body.region)
    if body.action == "add" and p.kinds and body.kind not in p.kinds:
        raise ValidationFailed("The added station would not count.",
                               [Problem(f"kind must be one of the counted kinds {list(p.kinds)}", field="kind")])
    run = svc.run(scope, p)
    planner = _planner(run)
    if body.action == "add":
        res = planner.add(body.lon, body.lat, station_id="new")
    else:
        _station_index(run, body.station_id)
        sid = str(body.station_id)
        res = planner.close(sid) if body.action == "close" else planner.move(sid, body.lon, body.lat)
    gaps = run_gaps(run)
    base = gaps_frame(run, gaps)
    added = gaps_frame(run, gaps, res.gaps_added) if res.gaps_added is not None and len(res.gaps_added) else base.iloc[:0]
    removed = set(res.gaps_removed)
    cols = ["gap_id", "households", "dwellings", "nearest_station", "nearest_station_name", "nearest_time_min",
            "method"]
    before = grid_gaps(gaps, run.reach, run.assignment["grid_code"].to_numpy(dtype=object))
    lists = {c: list(ids) for c, ids in zip(before["grid_code"], before["gap_ids"])}
    affected = set(res.per_grid["grid_code"]) if len(res.per_grid) else set()
    for _, r in base[base["gap_id"].isin(removed)].iterrows():
        affected |= set(r["grids"])
    for _, r in added.iterrows():
        affected |= set(r["grids"])
    rows_by_id = {int(r["gap_id"]): r for r in records(pd.concat([base[cols], added[cols]]))}
    grid_rows = res.per_grid.set_index("grid_code") if len(res.per_grid) else None
    grids = []
    for code in sorted(affected):
        keep = [g for g in lists.get(code, []) if g not in removed]
        new = [int(r["gap_id"]) for _, r in added.iterrows() if code in r["grids"]]
        gl = sorted(keep + new, key=lambda g: -rows_by_id[g]["households"])
        if grid_rows is not None and code in grid_rows.index:
            cb, ca = int(grid_rows.loc[code, "covered_before"]), int(grid_rows.loc[code, "covered_after"])
        else:
            cb = ca = int(run.tables["grid"].set_index("code")["covered_households"].get(code, 0))
        grids.append({"grid_code": code, "name": run.inputs.names.get(code), "covered_before": cb,
                      "covered_after": ca, "delta": ca - cb, "gaps_before": lists.get(code, []),
                      "gaps_after": [rows_by_id[g] for g in gl]})
    gaps_added = json.loads(added.to_json(drop_id=True, na="null")) if len(added) else {
        "type": "FeatureCollection", "features": []}
    return JSONResponse({**_head(run), "action": body.action, "station_id": body.station_id,
                         "lon": body.lon, "lat": body.lat, "kind": body.kind, "minutes": p.minutes,
                         "households": int(run.reach.households.sum()),
                         "covered_before": res.covered_before, "covered_after": res.covered_after,
                         "delta": res.delta, "changed_dwellings": int(len(res.changed)),
                         "grids": grids, "gaps_removed": sorted(int(g) for g in removed), "gaps_added": gaps_added})


# -- GET /coverage/map -------------------------------------------------------------------------
@router.get("/coverage/map", response_class=HTMLResponse, tags=["pages"],
            summary="Coverage map (HTML; ?lang=zh|en)")
def coverage_map_page(request: Request, minutes: float | None = _MINUTES, mode: str = _MODE,
                      kinds: str | None = _KINDS, scope: Jurisdiction = Depends(deps.jurisdiction)
                      ) -> HTMLResponse:
    from api import i18n
    from api.pages.base import page_response
    from api.pages.coverage import coverage_map

    settings = request.app.state.settings
    lang = i18n.request_lang(request, settings.language)
    m_ = float(minutes if minutes is not None else settings.minutes)
    with request.app.state.engine.connect() as conn:
        m = coverage_map(conn, settings, scope, lang, minutes=m_, mode=mode, kinds=kinds)
    return page_response(m, i18n.t("coverage.title", lang).format(minutes=f"{m_:g}"), lang)
