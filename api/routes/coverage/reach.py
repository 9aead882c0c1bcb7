"""Coverage API: one station's reach, the counted stations, every dwelling's travel time, and
service-area polygons."""

from __future__ import annotations

from typing import Literal

import numpy as np
import shapely
from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response

from api.coverage import answers
from api.deps import BreaksQuery, CoverageDep, CoverageQuery, ScopeDep, SettingsDep
from api.limits import DWELLINGS_DEFAULT, MAX_BREAKS, MAX_DWELLINGS, breaks_help
from api.openapi import GeoJSONResponse
from api.routes.coverage.geojson import COORD_DECIMALS, GEOJSON, features_response, geojson_response

router = APIRouter(tags=["coverage"])


@router.get("/stations/{station_id}/reach", response_class=GeoJSONResponse, summary="One station's reach: polygons and households within",
            description="GeoJSON polygon(s) of the ground reachable from the station within each break "
                        f"({breaks_help()}; disks, or rings with `shape=ring`), the households within each "
                        "break, and at the budget its own households (it is their nearest), those only it "
                        "covers and those other stations cover too.")
def station_reach(station_id: int, params: CoverageQuery, breaks: BreaksQuery, scope: ScopeDep, svc: CoverageDep,
                  shape: Literal["disk", "ring"] = "disk") -> JSONResponse:
    run = svc.run(scope, params)
    return features_response(answers.station_reach(run, station_id, breaks or (params.minutes,), shape))


# -- GET /coverage/stations --------------------------------------------------------------------
@router.get("/coverage/stations", response_class=GeoJSONResponse, summary="The stations that count under the coverage parameters",
            description="GeoJSON points of the stations the coverage counts (of `kinds`, open on `at`): "
                        "`kind=` one kind only, `area=` only inside a town, community or grid; whether each "
                        "reaches a street (`snapped`, `access_m`).  The coverage map's station markers.")
def coverage_stations(params: CoverageQuery, scope: ScopeDep, svc: CoverageDep,
                      kind: str | None = Query(None, description="Only this kind."),
                      area: str | None = Query(None, description="Only inside this town, community or grid code.")
                      ) -> JSONResponse:
    run = svc.run(scope, svc.implied(scope, params, area))
    frame = answers.counted_stations(run, kind, area)
    return geojson_response(frame, {**answers.head(run), "matched": int(len(frame))})


# -- GET /coverage/dwellings -------------------------------------------------------------------
@router.get("/coverage/dwellings", response_class=GeoJSONResponse, summary="Dwellings with their travel time to the nearest station",
            description="GeoJSON points: `time_s` (null when no station within the search limit), `covered`, "
                        "nearest station, `method` (network, straight_line or unreachable).  Above `limit` an "
                        "evenly spaced sample is returned (`sampled`).")
def coverage_dwellings(params: CoverageQuery, scope: ScopeDep, svc: CoverageDep,
                       uncovered: bool = Query(False, description="Only dwellings not covered."),
                       grid: str | None = Query(None, description="Only this grid's dwellings."),
                       limit: int = Query(DWELLINGS_DEFAULT, ge=1, le=MAX_DWELLINGS,
                                          description=f"Most dwellings returned (1-{MAX_DWELLINGS:,})."),
                       ) -> JSONResponse:
    run = svc.run(scope, params)
    idx = answers.dwelling_rows(run, uncovered=uncovered, grid=grid)
    frame = answers.dwellings_frame(run, answers.even_sample(idx, limit))
    # written by hand, not through GeoDataFrame.to_json: 20,000 points are the coverage map's largest layer
    xy = frame.geometry.values
    lon, lat = shapely.get_x(xy), shapely.get_y(xy)
    nd = COORD_DECIMALS
    near = frame["nearest_station"].to_numpy(dtype=object, na_value=None)
    feats = [{"type": "Feature",
              "geometry": {"type": "Point", "coordinates": [round(float(x), nd), round(float(y), nd)]},
              "properties": {"id": int(i), "source_id": sid, "households": int(h),
                             "time_s": round(float(tt), 4) if np.isfinite(tt) else None,
                             "covered": bool(c), "nearest_station": None if n is None else int(n),
                             "method": mth, "grid_code": g}}
             for i, sid, h, tt, c, n, mth, g, x, y in zip(
                 frame["id"], frame["source_id"], frame["households"], frame["time_s"], frame["covered"], near,
                 frame["method"], frame["grid_code"], lon, lat)]
    return JSONResponse({"type": "FeatureCollection", "features": feats, **answers.head(run),
                         "matched": int(idx.size), "sampled": int(idx.size) > len(feats)}, media_type=GEOJSON)


# -- GET /coverage/areas -----------------------------------------------------------------------
@router.get("/coverage/areas", summary="Service-area polygons per station, or their union per area",
            description="`by=station`: each station's own service area per break (overlaps kept); "
                        "`by=community|town|grid`: the union of all service areas clipped to each area. "
                        f"Up to {MAX_BREAKS} breaks ({breaks_help()}), as disks or rings (`shape=ring`), holes kept.")
def coverage_areas(request: Request, params: CoverageQuery, breaks: BreaksQuery, scope: ScopeDep, svc: CoverageDep,
                   settings: SettingsDep,
                   by: Literal["station", "grid", "community", "town"] = "station",
                   shape: Literal["disk", "ring"] = "disk",
                   station: int | None = Query(None, description="Only this station (by=station)."),
                   area: str | None = Query(None, description="Only the stations (by=station) or areas inside "
                                                              "this town, community or grid code."),
                   format: Literal["geojson", "xlsx", "csv"] = Query(
                       "geojson", description="`xlsx`/`csv`: the table of service areas (no polygons; a point "
                                              "inside each), headers in the request's language."),
                   ) -> Response:
    bks = breaks or (params.minutes,)
    rings = shape == "ring"
    params = svc.implied(scope, params, area)
    if format != "geojson":
        from api import i18n
        from api.sheets import table_response

        run = svc.run(scope, params if by == "station" else params.searching_to(max(bks)))
        frame = (answers.station_area_frame(run, bks, rings, station, area) if by == "station"
                 else answers.union_frame(run, by, bks, rings, area))
        return table_response(frame, format, f"service-areas-{by}",
                              lang=i18n.request_lang(request, settings.language), tz=settings.timezone)
    if by == "station":
        run = svc.run(scope, params)
        frame = answers.station_area_frame(run, bks, rings, station, area)
        return geojson_response(frame, {**answers.head(run), "by": by, "breaks": list(bks), "shape": shape})
    run = svc.run(scope, params.searching_to(max(bks)))
    # the union per area is drawn once per run and its GeoJSON written once too (at the 500k city
    # writing 333 communities' polygons again took ~1.3 s of every warm request)
    body = run.lazy(("union_body", by, tuple(b * 60 for b in bks), rings, area), lambda: geojson_response(
        answers.union_frame(run, by, bks, rings, area),
        {**answers.head(run), "by": by, "breaks": list(bks), "shape": shape}).body)
    return Response(body, media_type=GEOJSON)
