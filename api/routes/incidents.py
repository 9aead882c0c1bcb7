"""Incident routes: intake (one, bulk; bodies read by :mod:`api.incidents.intake.bodies`), listing, one case with its events, workflow transitions,
statistics (JSON/CSV), hotspots (JSON) and the heatmap / hotspot map pages."""

from __future__ import annotations

import math
from typing import Literal

from fastapi import APIRouter, Body, Depends, Header, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy import Engine

from api import deps
from api.auth import Caller
from api.db import idempotency
from api.deps import IncidentFilterDep, IncidentListFilterDep
from api.incidents import cases, workflow
from api.incidents.intake import BULK_DOC, INTAKE_DOC, ingest_items, read_bulk
from api.incidents.stats import area_stats
from api.jurisdiction import Jurisdiction
from api.limits import MAX_OFFSET
from api.settings import Settings
from geo.layers import CLOSE_REASONS

router = APIRouter(tags=["incidents"])


def _reporter(caller: Caller) -> str:
    """The actor of a report's events: the caller (``api`` in open mode, where nobody logs in)."""
    return "api" if caller.via == "open" else caller.actor


IDEMPOTENCY_KEY = Header(None, alias="Idempotency-Key",
                         description="Makes a retry of this request safe (24 h): the stored answer is replayed.")


@router.post("/incidents", status_code=201, description="Report one incident." + INTAKE_DOC,
             responses={200: {"description": "Already known (same external_id): the existing incident."},
                        422: {"description": "Bad coordinates, unknown category, time in the future, ..."}})
def create_incident(body: dict = Body(..., examples=[{
        "type": "Feature", "geometry": {"type": "Point", "coordinates": [120.285, 31.92]},
        "properties": {"external_id": "12345-2025-000001", "category": "street_light",
                       "reported_at": "2025-03-01T08:30:00+08:00", "reporter_kind": "resident"}}]),
        key: str | None = IDEMPOTENCY_KEY,
        engine: Engine = Depends(deps.engine), settings: Settings = Depends(deps.settings),
        scope: Jurisdiction = Depends(deps.jurisdiction), caller: Caller = Depends(deps.caller)):
    def write(conn):
        rep, differing = ingest_items(engine, settings, [body], all_or_nothing=True, actor=_reporter(caller),
                                      scope=scope, conn=conn)
        inc = cases.get_incident(conn, scope, rep.incident_ids[1])  # its county's incident, new or stored
        inc["duplicate"] = rep.duplicates > 0
        inc["differs"] = differing[0]["differs"] if differing else []
        return (200 if rep.duplicates else 201), inc

    status, inc, replayed = idempotency.run_once(engine, key, "POST", "/incidents", body, write)
    return JSONResponse(inc, status_code=status, headers={"Idempotent-Replayed": "true"} if replayed else None)


@router.post("/incidents/bulk", description="Report many incidents at once." + BULK_DOC,
             openapi_extra={"requestBody": {"required": True, "content": {
                 "application/json": {"schema": {"type": "array", "items": {"type": "object"}}},
                 "application/x-ndjson": {"schema": {"type": "string"}}}}},
             responses={413: {"description": "Too many incidents in one request."},
                        422: {"description": "all_or_nothing: bad rows, nothing written."}})
async def bulk_incidents(request: Request,
                         mode: Literal["all_or_nothing", "partial"] = Query(
                             "all_or_nothing", description="all_or_nothing: write nothing if any row is bad "
                             "(422 listing every bad row); partial: write the good rows, list the rejected."),
                         key: str | None = IDEMPOTENCY_KEY,
                         engine: Engine = Depends(deps.engine), settings: Settings = Depends(deps.settings),
                         scope: Jurisdiction = Depends(deps.jurisdiction), caller: Caller = Depends(deps.caller)):
    items = await read_bulk(request, settings.max_bulk_incidents)

    def write(conn):
        rep, differing = ingest_items(engine, settings, items, all_or_nothing=(mode == "all_or_nothing"),
                                      actor=_reporter(caller), scope=scope, conn=conn)
        return 200, {"mode": mode, "received": len(items), **rep.as_dict(),
                     "differing": [d for d in differing if d["differs"]]}

    # the stored request is the parsed body with the mode (NDJSON and JSON of the same rows agree)
    status, out, replayed = await run_in_threadpool(
        idempotency.run_once, engine, key, "POST", "/incidents/bulk",
        {"mode": mode, "items": [getattr(i, "reason", i) for i in items]}, write)
    return JSONResponse(out, status_code=status, headers={"Idempotent-Replayed": "true"} if replayed else None)


@router.get("/incidents/categories")
def categories(engine: Engine = Depends(deps.engine)) -> list[dict]:
    """Known categories with their SLA (hours to close); add one with `gridmap categories add`."""
    from api.incidents.categories import list_categories

    with engine.connect() as conn:
        return [c.as_dict() for c in list_categories(conn)]


def _window(flt) -> dict:
    return {"from": flt.start.isoformat() if flt.start else None, "to": flt.end.isoformat() if flt.end else None,
            "category": list(flt.categories) or None, "area": flt.area}


@router.get("/incidents")
def list_incidents(request: Request, flt: IncidentListFilterDep,
                   limit: int = Query(100, ge=1, le=1000), offset: int = Query(0, ge=0, le=MAX_OFFSET),
                   engine: Engine = Depends(deps.engine), scope: Jurisdiction = Depends(deps.jurisdiction)):
    """Incidents, newest first, with paging links.  An unknown status or category or a reversed
    window is 422, an unknown area or grid 404."""
    with engine.connect() as conn:
        total, items = cases.list_incidents(conn, scope, flt, limit=limit, offset=offset)
    links = []
    if offset + len(items) < total:
        links.append({"rel": "next", "href": str(request.url.include_query_params(offset=offset + limit))})
    if offset > 0:
        links.append({"rel": "prev", "href": str(request.url.include_query_params(offset=max(0, offset - limit)))})
    return {"numberMatched": total, "numberReturned": len(items), "items": items, "links": links}


@router.get("/incidents/stats", description=(
    "Per grid, community or town over `[from, to)`: count, rate per 100 households, closure rate "
    "(resolved + closed_other) and resolution rate (resolved only), median/p90 hours to close, overdue "
    "count, trend by week or month (weeks and months in `GRIDMAP_TIMEZONE`).  `rank` (by rate) only for "
    "areas with at least `min_count` incidents; every area of the level in scope has a row, those without "
    "incidents with 0.  `format=csv` exports the rows (UTF-8 with a BOM, for Excel).  Times without an "
    "offset are in `GRIDMAP_TIMEZONE`.  An unknown category or a reversed window is 422, an unknown area 404."))
def stats(request: Request, flt: IncidentFilterDep, level: Literal["grid", "community", "town"] = "grid",
          min_count: int = Query(10, ge=0), period: Literal["week", "month"] = "month",
          format: Literal["json", "csv", "xlsx"] = "json",
          engine: Engine = Depends(deps.engine), settings: Settings = Depends(deps.settings),
          scope: Jurisdiction = Depends(deps.jurisdiction)):
    tables = format in ("csv", "xlsx")
    with engine.connect() as conn:
        s = area_stats(conn, scope, flt, tz=settings.timezone, level=level, min_count=min_count,
                       period=None if tables else period)
    if tables:  # CSV with a BOM (Excel on Chinese Windows reads GBK otherwise); xlsx headers in the language
        from api.sheets import table_response

        return table_response(s.rows, format, f"incident-stats-{level}", lang=_lang(request, settings),
                              tz=settings.timezone)
    out = s.as_dict()
    out.update({**_window(flt), "period": period})
    # as_dict is JSON already (None for missing, ISO times): written as is, not walked again by
    # FastAPI's jsonable_encoder (a third of the request's time at a county's 1,700 grids x 12 months)
    return JSONResponse(out)


class TransitionIn(BaseModel):
    action: str = Field(..., description=f"One of {', '.join(workflow.ACTIONS)}.")
    actor: str = Field(..., min_length=1, description="Who acts (name or staff id).")
    note: str | None = None
    close_reason: str | None = Field(None, description=f"For action close: {', '.join(CLOSE_REASONS)}.")


@router.get("/incidents/{incident_id:int}")
def get_incident(incident_id: int, engine: Engine = Depends(deps.engine),
                 scope: Jurisdiction = Depends(deps.jurisdiction)):
    """One incident with its events (oldest first) and the actions allowed now."""
    with engine.connect() as conn:
        return cases.get_incident(conn, scope, incident_id)


@router.post("/incidents/{incident_id:int}/transitions",
             description=(workflow.__doc__ or "") + (
                 "\nA malformed request (unknown `action`; `close` without a known `close_reason`; a "
                 "`close_reason` on another action) answers 422 with `errors` (field, reason) and "
                 "`allowed_values`.  A valid action that the current state does not allow answers 409 with "
                 "`allowed` (the actions possible now)."),
             responses={409: {"description": "Not possible from the current state; `allowed` lists what is."},
                        422: {"description": "Unknown action or bad close_reason; `errors` and `allowed_values`."}})
def transition(incident_id: int, body: TransitionIn, key: str | None = IDEMPOTENCY_KEY,
               engine: Engine = Depends(deps.engine), scope: Jurisdiction = Depends(deps.jurisdiction)):
    def write(conn):
        return 200, cases.transition(conn, scope, incident_id, action=body.action, actor=body.actor,
                                     note=body.note, close_reason=body.close_reason)

    status, out, replayed = idempotency.run_once(engine, key, "POST", f"/incidents/{incident_id}/transitions",
                                                 body.model_dump(), write)
    return JSONResponse(out, status_code=status, headers={"Idempotent-Replayed": "true"} if replayed else None)


@router.get("/incidents/hotspots", description=(
    "Getis-Ord Gi* hotspots of incident counts with a Benjamini-Hochberg false-discovery-rate "
    "correction at 90/95/99% (as ArcGIS's Optimized Hot Spot Analysis).  `level=grid`: current grids, "
    "Queen contiguity; `level=h3`: H3 cells at `resolution` with their ring-1 neighbours.  Fewer than "
    "`min_incidents` incidents: 422.  Each unit: `count`, `z`, `p` (two-sided), `bin` (-3..3) and "
    "`classification` (hot/cold 90/95/99%, not significant).  An unknown category or a reversed "
    "window is 422, an unknown area 404."))
def hotspots_json(request: Request, flt: IncidentFilterDep, level: Literal["grid", "h3"] = "grid",
                  resolution: int = Query(8, ge=4, le=11), min_incidents: int = Query(30, ge=1), fdr: bool = True,
                  format: Literal["json", "csv", "xlsx"] = "json",
                  engine: Engine = Depends(deps.engine), scope: Jurisdiction = Depends(deps.jurisdiction),
                  settings: Settings = Depends(deps.settings)):
    from api.incidents.stats import hotspots

    with engine.connect() as conn:
        res, _ = hotspots(conn, scope, flt, level=level, resolution=resolution, min_incidents=min_incidents, fdr=fdr)
    if format != "json":  # one row a unit; the class in the reader's language in the spreadsheet
        from api import i18n
        from api.sheets import table_response

        lang = _lang(request, settings)
        rows = res.reset_index().rename(columns={res.index.name or "index": "unit"})
        rows["unit"] = rows["unit"].astype(str)
        if format == "xlsx":
            rows["classification"] = [i18n.t(f"incidents.hot.bin.{int(b)}", lang) for b in rows["bin"]]
        return table_response(rows, format, f"incident-hotspots-{level}", lang=lang, tz=settings.timezone)
    units = [{"unit": str(u), "count": int(r["count"]), "z": None if math.isnan(r.z) else float(r.z),
              "p": None if math.isnan(r.p) else float(r.p), "bin": int(r["bin"]),
              "classification": r.classification} for u, r in res.iterrows()]
    return {"level": level, "resolution": resolution if level == "h3" else None, "fdr": fdr,
            "incidents": int(res["count"].sum()), "units": units}


def _lang(request: Request, settings: Settings) -> str:
    from api import i18n

    return i18n.request_lang(request, settings.language)


@router.get("/incidents/heatmap", response_class=Response, tags=["pages"],
            summary="Incident heatmap page (HTML; time slider, per-grid rates, category filter)")
def heatmap_page(request: Request, flt: IncidentFilterDep, period: Literal["week", "month"] = "month",
                 engine: Engine = Depends(deps.engine), settings: Settings = Depends(deps.settings),
                 scope: Jurisdiction = Depends(deps.jurisdiction)):
    from fastapi.responses import HTMLResponse

    from api.pages.incidents import heatmap_html

    lang = _lang(request, settings)
    with engine.connect() as conn:
        page, info = heatmap_html(conn, settings, scope, lang, flt, period=period)
    return HTMLResponse(page, headers={"X-Gridmap-Heatmap-Mode": info["mode"], "X-Gridmap-Cache": info["cache"]})


@router.get("/incidents/hotspots/map", response_class=Response, tags=["pages"],
            summary="Incident hotspot page (HTML; Gi* with FDR)")
def hotspots_page(request: Request, flt: IncidentFilterDep, level: Literal["grid", "h3"] = "grid",
                  resolution: int = Query(8, ge=4, le=11), min_incidents: int = Query(30, ge=1),
                  engine: Engine = Depends(deps.engine), settings: Settings = Depends(deps.settings),
                  scope: Jurisdiction = Depends(deps.jurisdiction)):
    from api import i18n
    from api.pages.base import page_response
    from api.pages.incidents import hotspots_map

    lang = _lang(request, settings)
    with engine.connect() as conn:
        m = hotspots_map(conn, settings, scope, lang, flt, level=level, resolution=resolution,
                         min_incidents=min_incidents)
    return page_response(m, i18n.t("incidents.hotspots.title", lang), lang)
