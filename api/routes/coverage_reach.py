"""Coverage API: one station's reach, every dwelling's travel time, and service-area polygons."""

from __future__ import annotations

import datetime as dt
from typing import Literal

import geopandas as gpd
import numpy as np
import shapely
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response

from api import deps
from api.db.coverage import CoverageService, Run, dwelling_index, station_areas, stations_in
from api.errors import NotFound
from api.jurisdiction import Jurisdiction
from api.routes.coverage_params import (_AT, _BREAKS, _KINDS, _MINUTES, _MODE, _REGION, COORD_DECIMALS, GEOJSON,
                                        _feature_collection, _head, _station_index, geojson_geometries, params,
                                        parse_breaks, service)
from geo.reach import EPS_S, station_dwellings
from geo.service_area import MAX_BREAKS, union_by_area
from geo.whatif import Planner

router = APIRouter(tags=["coverage"])


def _plain_planner(run: Run) -> Planner:
    return run.lazy("planner_plain", lambda: Planner(run.net, run.reach, budget_s=run.params.budget_s))


def _valid_4326(polys: gpd.GeoSeries) -> np.ndarray:
    """Metric polygons in EPSG:4326, repaired where reprojection made them invalid (as
    ``geo.service_area`` does for its frames): on the sample district 112 of 672 reach polygons
    (5/8/15 min, disks and rings) came out of ``to_crs`` self-intersecting."""
    g = np.asarray(polys.to_crs(4326).values, dtype=object)
    bad = ~shapely.is_valid(g) & ~shapely.is_missing(g)
    if bad.any():
        g[bad] = shapely.make_valid(g[bad], method="structure", keep_collapsed=False)
    return g


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
    geoms = geojson_geometries(_valid_4326(gpd.GeoSeries([g for g, _ in polys], crs=net.crs)))
    budget = p.budget_s
    # one bounded search to the farthest time asked for; each break (and the budget) filters it
    far, t_far = station_dwellings(net, reach, index, j, max(max(bks) * 60, budget))
    features, prev_hh, prev_dw = [], 0, 0
    for b, g, (_, fb) in zip(bks, geoms, polys):
        inside = t_far <= b * 60 + EPS_S
        cum_hh, cum_dw = int(hh[far[inside]].sum()), int(inside.sum())
        # a ring holds the households reached after the previous break and by this one
        own_hh, own_dw = (cum_hh - prev_hh, cum_dw - prev_dw) if shape == "ring" else (cum_hh, cum_dw)
        features.append({"type": "Feature", "geometry": g,
                         "properties": {"station_id": station_id, "minutes": b, "shape": shape,
                                        "method": "network+straight_line" if fb else "network",
                                        "households": own_hh, "dwellings": own_dw,
                                        "households_cumulative": cum_hh, "dwellings_cumulative": cum_dw}})
        prev_hh, prev_dw = cum_hh, cum_dw
    within = int(hh[far[t_far <= budget + EPS_S]].sum())
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


# -- GET /coverage/stations --------------------------------------------------------------------
@router.get("/coverage/stations", summary="The stations that count under the coverage parameters",
            description="GeoJSON points of the stations the coverage counts (of `kinds`, open on `at`): "
                        "`kind=` one kind only, `area=` only inside a town, community or grid; whether each "
                        "reaches a street (`snapped`, `access_m`).  The coverage map's station markers.")
def coverage_stations(request: Request, minutes: float | None = _MINUTES, mode: str = _MODE,
                      kind: str | None = Query(None, description="Only this kind."),
                      area: str | None = Query(None, description="Only inside this town, community or grid code."),
                      kinds: str | None = _KINDS, at: dt.date | None = _AT, region: str | None = _REGION,
                      scope: Jurisdiction = Depends(deps.jurisdiction), svc: CoverageService = Depends(service)
                      ) -> JSONResponse:
    run = svc.run(scope, params(request, minutes, mode, kinds, at, region))
    c = run.counted
    js = np.arange(len(c))
    if area is not None:
        js = stations_in(run, area)
        if js is None:
            raise NotFound(f"no town, community or grid {area!r} in your jurisdiction")
    if kind is not None:
        js = js[c["kind"].to_numpy(dtype=object)[js] == kind]
    snap = run.reach.station_snap
    cols = [k for k in ("id", "source_id", "name", "kind", "address") if k in c]
    frame = gpd.GeoDataFrame(c.iloc[js][cols].reset_index(drop=True), geometry=c.geometry.values[js], crs=4326)
    frame["snapped"] = snap.ok[js]
    frame["access_m"] = np.where(snap.ok[js], np.round(snap.dist_m[js], 1), np.nan)
    return _feature_collection(frame, {**_head(run), "matched": int(len(frame))})


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
    nd = COORD_DECIMALS
    feats = [{"type": "Feature",
              "geometry": {"type": "Point", "coordinates": [round(float(x), nd), round(float(y), nd)]},
              "properties": {"id": int(i), "source_id": sid, "households": int(h),
                             "time_s": round(float(tt), 4) if np.isfinite(tt) else None,
                             "covered": bool(c),
                             "nearest_station": int(r.station_ids[n]) if n >= 0 else None,
                             "method": mth, "grid_code": g}}
             for i, sid, h, tt, c, n, mth, g, x, y in zip(
                 d["id"].to_numpy()[idx], d["source_id"].to_numpy()[idx], r.households[idx], t, cov[idx], near,
                 r.method[idx], codes[idx], lon, lat)]
    return JSONResponse({"type": "FeatureCollection", "features": feats, **_head(run), "matched": total,
                         "sampled": total > len(feats)}, media_type=GEOJSON)



# -- GET /coverage/areas -----------------------------------------------------------------------
@router.get("/coverage/areas", summary="Service-area polygons per station, or their union per area",
            description="`by=station`: each station's own service area per break (overlaps kept); "
                        "`by=community|town|grid`: the union of all service areas clipped to each area. "
                        f"Up to {MAX_BREAKS} breaks, as disks or rings (`shape=ring`), holes kept.")
def coverage_areas(request: Request, minutes: float | None = _MINUTES, mode: str = _MODE,
                   by: Literal["station", "grid", "community", "town"] = "station",
                   breaks: str | None = _BREAKS, shape: Literal["disk", "ring"] = "disk",
                   station: int | None = Query(None, description="Only this station (by=station)."),
                   area: str | None = Query(None, description="Only the stations (by=station) or areas inside "
                                                              "this town, community or grid code."),
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
            frame = station_areas(run, secs, rings, np.array([_station_index(run, station)]))
        elif area is not None:
            js = stations_in(run, area)
            if js is None:
                raise NotFound(f"no town, community or grid {area!r} in your jurisdiction")
            frame = station_areas(run, secs, rings, js)
        else:  # the budget disks the warm-up drew are reused
            frame = station_areas(run, secs, rings)
        info = run.inputs.station_info()
        frame = frame.copy()
        frame["name"] = frame["station"].map(info["name"])
        frame["station"] = frame["station"].astype(int)
    else:
        run = svc.run(scope, params(request, minutes, mode, kinds, at, region, limit_minutes=max(bks)))
        # the union per area is drawn once per run and its GeoJSON written once too (at the 500k city
        # writing 333 communities' polygons again took ~1.3 s of every warm request)
        body = run.lazy(("union_body", by, secs, rings, area),
                        lambda: _union_collection(run, by, bks, secs, rings, shape, area).body)
        return Response(body, media_type=GEOJSON)
    frame["minutes"] = frame["break_s"] / 60.0
    return _feature_collection(frame, {**_head(run), "by": by, "breaks": list(bks), "shape": shape})


def _union_collection(run: Run, by: str, bks, secs, rings: bool, shape: str, area: str | None) -> Response:
    """The covered ground of every ``by`` area (``area``: only those inside that code) as GeoJSON."""
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
            raise NotFound(f"no town, community or grid {area!r} in your jurisdiction")
        col = {"grid": "code", "community": "community_code", "town": "town_code"}[by]
        frame = frame[frame["code"].isin(set(g.loc[inside, col]) | {area})]
    frame = frame.copy()
    frame["name"] = frame["code"].map(run.inputs.names)
    frame["method"] = "network+straight_line" if run.reach.fallback_geom is not None else "network"
    frame["minutes"] = frame["break_s"] / 60.0
    return _feature_collection(frame, {**_head(run), "by": by, "breaks": list(bks), "shape": shape})
