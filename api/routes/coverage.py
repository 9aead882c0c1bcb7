"""Coverage API: the 8-minute service circle per area (JSON, CSV or GeoJSON) and the coverage map.

The other coverage routes: one station's reach, dwellings and service areas in
:mod:`api.routes.coverage_reach`, gaps in :mod:`api.routes.coverage_gaps`, what-if planning in
:mod:`api.routes.coverage_whatif`; their shared parameters in :mod:`api.routes.coverage_params`.
Thin: parameters in, :mod:`api.db.coverage` and ``geo/`` do the work.

Every response that contains straight-line fallback results says so (``fallback.used``; per
feature ``method``).  Station ids are the database ids of ``/collections/stations/items``.
"""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path
from typing import Literal

import pandas as pd
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response

from api import deps
from api.db.coverage import CoverageService, Run, area_frame, area_totals, break_columns, break_totals
from api.errors import NotFound
from api.jurisdiction import Jurisdiction
from api.routes.coverage_params import (_AT, _BREAKS, _KINDS, _MINUTES, _MODE, _REGION, _feature_collection, _head,
                                        params, parse_breaks, service)

router = APIRouter(tags=["coverage"])


# -- GET /coverage -----------------------------------------------------------------------------
@router.get("/coverage", summary="Household coverage within the time budget per grid, community or town",
            description="Covered / total households and %, household-weighted mean and 90th percentile "
                        "travel time, stations by kind; `format=csv` for a CSV table.  Results are "
                        "stored per parameters and data versions and reused until the data change.")
def coverage(request: Request, minutes: float | None = _MINUTES, mode: str = _MODE,
             level: Literal["grid", "community", "town"] = "grid",
             area: str | None = Query(None, description="Only rows in this town, community or grid code."),
             kinds: str | None = _KINDS, at: dt.date | None = _AT, region: str | None = _REGION,
             breaks: str | None = _BREAKS, format: Literal["json", "csv", "geojson"] = "json",
             scope: Jurisdiction = Depends(deps.jurisdiction), svc: CoverageService = Depends(service)) -> Response:
    p = params(request, minutes, mode, kinds, at, region)
    bks = parse_breaks(breaks, p.minutes) if breaks is not None else ()
    if bks:  # search as far as the largest break (as gridmap coverage --breaks does)
        p = params(request, minutes, mode, kinds, at, region, limit_minutes=max(bks))
    if format == "geojson":  # rows with their area's polygon and a coverage band (0: <50% ... 4: 100%)
        run = svc.run(scope, p)
        frame = area_frame(run, level, area=area)
        if area and not len(frame):
            raise NotFound(f"no {level} with households in or named {area!r} in your jurisdiction")
        frame = frame[frame.geometry.notna()]
        if bks and len(frame):
            per = break_columns(run, level, bks)
            for col, vals in per.items():
                frame[col] = frame["code"].map(vals).fillna(0).astype("int64")
        return _feature_collection(frame, {**_head(run), "level": level, "breaks": list(bks),
                                           **_area_totals(run, area, bks)})
    s = svc.summary(scope, p)
    rows = s["levels"][level]
    totals = {"totals": s["totals"]}
    if area:
        rows = [r for r in rows if area in (r["code"], r.get("community_code"), r.get("town_code"))]
        if not rows:
            raise NotFound(f"no {level} with households in or named {area!r} in your jurisdiction")
    if area or bks:
        run = svc.run(scope, p)
        totals = _area_totals(run, area, bks)
        if bks:
            per = break_columns(run, level, bks)
            rows = [{**r, **{col: int(vals.get(r["code"], 0)) for col, vals in per.items()}} for r in rows]
    if format == "csv":
        buf = io.StringIO()
        pd.DataFrame(rows).to_csv(buf, index=False)
        return Response("\ufeff" + buf.getvalue(), media_type="text/csv; charset=utf-8", headers={  # BOM: Excel
            "Content-Disposition": f'attachment; filename="coverage_{level}.csv"',
            "X-Straight-Line-Fallback": "yes" if s["fallback"]["used"] else "no"})
    return JSONResponse({k: s[k] for k in ("run_id", "cached", "params", "data_versions", "fallback",
                                           "network", "unsnapped_stations")}
                        | totals | {"level": level, "area": area, "rows": rows})


def _area_totals(run: Run, area: str | None, breaks: tuple[float, ...] = ()) -> dict:
    """``totals`` of the area asked for (its code, name and level in it) and the whole scope's as
    ``scope_totals``; just ``totals`` without an area.  With ``breaks`` (minutes) each gets a
    ``covered_<seconds>s`` count of covered households."""
    scope_t = {**run.totals, **break_totals(run, breaks)}
    if not area:
        return {"totals": scope_t}
    t = area_totals(run, area)
    if t is None:
        raise NotFound(f"no households in {area!r} in your jurisdiction")
    a = run.assignment
    inside = (a[f"{t['area_level']}_code"] == area).to_numpy()
    return {"totals": {**t, **break_totals(run, breaks, inside)}, "scope_totals": scope_t}


# -- GET /coverage/map -------------------------------------------------------------------------
@router.get("/coverage/map", response_class=HTMLResponse, tags=["pages"],
            summary="Coverage map (HTML; ?lang=zh|en)")
def coverage_map_page(request: Request, minutes: float | None = _MINUTES, mode: str = _MODE,
                      kinds: str | None = _KINDS, at: dt.date | None = _AT,
                      area: str | None = Query(None, description="Draw station service areas and markers only "
                                                                 "inside this town, community or grid code."),
                      scope: Jurisdiction = Depends(deps.jurisdiction)) -> HTMLResponse:
    from api import i18n
    from api.pages.base import page_response
    from api.pages.coverage import coverage_map

    settings = request.app.state.settings
    lang = i18n.request_lang(request, settings.language)
    m_ = float(minutes if minutes is not None else settings.minutes)
    with request.app.state.engine.connect() as conn:
        m = coverage_map(conn, settings, scope, lang, minutes=m_, mode=mode, kinds=kinds, at=at, area=area)
    return page_response(m, i18n.t("coverage.title", lang).format(minutes=f"{m_:g}"), lang)


@router.get("/favicon.ico", include_in_schema=False)
def favicon() -> FileResponse:
    """The site icon, so that no page logs a 404 for it (browsers ask for it on every page)."""
    return FileResponse(FAVICON, media_type="image/x-icon", headers={"Cache-Control": "max-age=86400"})


FAVICON = Path(__file__).resolve().parents[1] / "static" / "gridmap" / "favicon.ico"
