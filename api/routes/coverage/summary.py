"""Coverage API: the service circle per area (JSON, CSV or GeoJSON) and the coverage map.

The other coverage routes: one station's reach, stations, dwellings and service areas in
:mod:`api.routes.coverage.reach`, gaps in :mod:`api.routes.coverage.gaps`, what-if planning in
:mod:`api.routes.coverage.whatif`; how they write GeoJSON in :mod:`api.routes.coverage.geojson`.
Thin: the question comes from :mod:`api.deps` (``CoverageQuery``), the answer from
:mod:`api.coverage.answers`; a route only renders it.

Every response that contains straight-line fallback results says so (``fallback.used``; per
feature ``method``).  Station ids are the database ids of ``/collections/stations/items``.
"""

from __future__ import annotations

from typing import Literal

import pandas as pd
from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from api.coverage import answers
from api.deps import BreaksQuery, CoverageDep, CoverageQuery, EngineDep, ScopeDep, SettingsDep
from api.routes.coverage.geojson import geojson_response

router = APIRouter(tags=["coverage"])


# -- GET /coverage -----------------------------------------------------------------------------
@router.get("/coverage", summary="Household coverage within the time budget per grid, community or town",
            description="Covered / total households and %, household-weighted mean and 90th percentile "
                        "travel time, stations by kind; `format=csv` for a CSV table.  Results are "
                        "stored per parameters and data versions and reused until the data change.")
def coverage(request: Request, params: CoverageQuery, breaks: BreaksQuery, scope: ScopeDep, svc: CoverageDep,
             settings: SettingsDep,
             level: Literal["grid", "community", "town"] = "grid",
             area: str | None = Query(None, description="Only rows in this town, community or grid code."),
             format: Literal["json", "csv", "geojson", "xlsx"] = "json") -> Response:
    bks = breaks or ()
    params = svc.implied(scope, params, area)
    if format == "geojson":  # rows with their area's polygon and a coverage band (0: <50% ... 4: 100%)
        run = svc.run(scope, params.searching_to(max(bks)) if bks else params)
        frame, extra = answers.coverage_areas(run, level, area, bks)
        return geojson_response(frame, extra)
    body = answers.coverage_table(svc, scope, params, level, area, bks)
    if format in ("csv", "xlsx"):  # CSV: UTF-8 with a BOM (Excel); xlsx: headers in the request's language
        from api import i18n
        from api.sheets import table_response

        return table_response(pd.DataFrame(body["rows"]), format, f"coverage_{level}",
                              lang=i18n.request_lang(request, settings.language), tz=settings.timezone,
                              headers={"X-Straight-Line-Fallback": "yes" if body["fallback"]["used"] else "no"})
    return JSONResponse(body)


# -- GET /coverage/map -------------------------------------------------------------------------
@router.get("/coverage/map", response_class=HTMLResponse, tags=["pages"],
            summary="Coverage map (HTML; ?lang=zh|en)")
def coverage_map_page(request: Request, params: CoverageQuery, scope: ScopeDep, settings: SettingsDep,
                      engine: EngineDep,
                      area: str | None = Query(None, description="Draw station service areas and markers only "
                                                                 "inside this town, community or grid code.")
                      ) -> HTMLResponse:
    from api import i18n
    from api.pages.base import page_response
    from api.pages.coverage import coverage_map

    from api.db.areas import resolve_area

    lang = i18n.request_lang(request, settings.language)
    with engine.connect() as conn:
        if area:  # an unknown area is a 404 page, not the whole district
            resolve_area(conn, area, scope)
        m = coverage_map(conn, settings, scope, lang, params, area=area)
    return page_response(m, i18n.t("coverage.title", lang).format(minutes=f"{params.minutes:g}"), lang)
