"""Incident routes: intake (one, bulk), listing, one case with its events, workflow transitions,
statistics (JSON/CSV), hotspots (JSON) and the heatmap / hotspot map pages."""

from __future__ import annotations

import io
import json
import math
from datetime import datetime
from typing import Any, Literal

import geopandas as gpd
from fastapi import APIRouter, Body, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from shapely.geometry import Point
from sqlalchemy import Engine

from api import deps
from api.errors import BadRequest, PayloadTooLarge, UnsupportedMedia
from api.incidents import cases, workflow
from api.incidents.intake import ingest_frame, known_categories, validate_incidents
from api.incidents.stats import area_stats
from api.jurisdiction import Jurisdiction
from api.settings import Settings
from geo.errors import InvalidInput, Problem
from geo.layers import CLOSE_REASONS, LAYERS

router = APIRouter(tags=["incidents"])
_FIELDS = {c.name for c in LAYERS["incidents"].columns}

INTAKE_DOC = """
Each incident is a GeoJSON Feature (Point geometry, the incident's fields in `properties`) or a flat
object with `lon` and `lat` (WGS84 degrees).  Required: `external_id` (the reporter's own id),
`category` (see `/incidents/categories`), `reported_at` (ISO 8601; no offset means UTC; not in the
future).  Optional: `description`, `reporter_kind`, `region_code`, and for historical records
`status`, `closed_at`, `close_reason`, `escalation_level`.

The incident is attributed to the grid version valid at `reported_at` by point-in-polygon; one
outside every grid is kept with `outside_grid: true`.  Idempotent on `external_id` within a region:
a retry returns the existing incident (`duplicate: true`) and writes nothing.
"""

BULK_DOC = INTAKE_DOC + """
**Body**: a JSON array (`application/json`) or one incident a line (`application/x-ndjson`, read as a
stream).  At most `GRIDMAP_MAX_BULK_INCIDENTS` incidents (413 above).

**mode** (the caller's choice):
- `all_or_nothing` (default): if any row is bad nothing is written and the answer is 422
  problem+json whose `errors` list every bad row (`row` is 1-based, with `field` and `reason`).
- `partial`: the good rows are written and the answer is 200 with `rejected` listing each bad row
  by `row` (1-based index in the batch), `field` and `reason`.

Either way `duplicates`/`duplicate_ids` report rows whose `external_id` already existed (retries),
which are not written again.
"""


def _to_frame(items: list[Any]) -> tuple[gpd.GeoDataFrame, list[Problem]]:
    """Rows (GeoJSON Features or flat objects) -> EPSG:4326 frame, plus shape problems."""
    records, geoms, problems = [], [], []
    for i, it in enumerate(items, start=1):
        if not isinstance(it, dict):
            problems.append(Problem("each incident must be a JSON object", row=i))
            records.append({})
            geoms.append(None)
            continue
        if it.get("type") == "Feature":
            props = dict(it.get("properties") or {})
            g = it.get("geometry") or {}
            coords = g.get("coordinates") if g.get("type") == "Point" else None
            if not (isinstance(coords, list) and len(coords) >= 2):
                problems.append(Problem("geometry must be a GeoJSON Point [lon, lat]", row=i, field="geometry",
                                        feature_id=props.get("external_id")))
                coords = None
        else:
            props = {k: v for k, v in it.items() if k not in ("lon", "lat")}
            coords = [it.get("lon"), it.get("lat")] if ("lon" in it or "lat" in it) else None
        unknown = sorted(set(props) - _FIELDS)
        if unknown:
            problems.append(Problem(f"unknown field(s) {', '.join(unknown)}", row=i, field=unknown[0],
                                    feature_id=props.get("external_id")))
        pt = None
        if coords is not None:
            try:
                x, y = float(coords[0]), float(coords[1])
                if math.isfinite(x) and math.isfinite(y):
                    pt = Point(x, y)
                else:
                    raise ValueError
            except (TypeError, ValueError):
                problems.append(Problem(f"coordinates {coords[:2]!r} are not numbers", row=i, field="geometry",
                                        feature_id=props.get("external_id")))
        records.append({k: v for k, v in props.items() if k in _FIELDS})
        geoms.append(pt)
    frame = gpd.GeoDataFrame(records, geometry=geoms, crs=4326) if records else \
        gpd.GeoDataFrame({"external_id": []}, geometry=[], crs=4326)
    return frame, problems


def _ingest(engine: Engine, settings: Settings, items: list, *, all_or_nothing: bool, actor: str):
    frame, shape_problems = _to_frame(items)
    if shape_problems and all_or_nothing:
        # report the shape faults together with every other fault of the batch, write nothing
        with engine.connect() as conn:
            _, others = validate_incidents(frame, known_categories(conn))
        seen = {(p.row, p.field) for p in shape_problems}
        problems = sorted(shape_problems + [p for p in others if (p.row, p.field) not in seen],
                          key=lambda p: (p.row or 0, p.field or ""))
        raise InvalidInput(f"{len({p.row for p in problems})} of {len(items)} incidents are invalid; "
                           "nothing was written", problems)
    bad_rows = {p.row for p in shape_problems}
    if bad_rows:
        keep = [i for i in range(len(frame)) if i + 1 not in bad_rows]
        sub = frame.iloc[keep].copy()
    else:
        keep, sub = list(range(len(frame))), frame
    with engine.begin() as conn:
        rep = ingest_frame(conn, sub, actor=actor, all_or_nothing=all_or_nothing,
                           default_region=settings.region_code)
    if bad_rows:  # map rows of the sub-frame back to the caller's numbering
        rep.rejected = sorted(
            [Problem(p.reason, keep[p.row - 1] + 1, p.field, p.feature_id) for p in rep.rejected] + shape_problems,
            key=lambda p: (p.row or 0, p.field or ""))
    return rep


@router.post("/incidents", status_code=201, description="Report one incident." + INTAKE_DOC,
             responses={200: {"description": "Already known (same external_id): the existing incident."},
                        422: {"description": "Bad coordinates, unknown category, time in the future, ..."}})
def create_incident(body: dict = Body(..., examples=[{
        "type": "Feature", "geometry": {"type": "Point", "coordinates": [120.285, 31.92]},
        "properties": {"external_id": "12345-2025-000001", "category": "street_light",
                       "reported_at": "2025-03-01T08:30:00+08:00", "reporter_kind": "resident"}}]),
        engine: Engine = Depends(deps.engine), settings: Settings = Depends(deps.settings),
        scope: Jurisdiction = Depends(deps.jurisdiction)):
    rep = _ingest(engine, settings, [body], all_or_nothing=True, actor="api")
    props = body.get("properties") or {} if body.get("type") == "Feature" else body
    with engine.connect() as conn:
        inc = cases.find_by_external_id(conn, scope, str(props.get("external_id")).strip(),
                                        props.get("region_code") or settings.region_code)
    inc["duplicate"] = rep.duplicates > 0
    return JSONResponse(inc, status_code=200 if rep.duplicates else 201)


async def _read_bulk(request: Request, limit: int) -> list:
    ctype = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if ctype in ("application/x-ndjson", "application/ndjson", "application/jsonl", "application/geo+json-seq"):
        items: list = []
        buf = b""
        line_no = 0

        def take(line: bytes) -> None:
            nonlocal line_no
            line = line.strip().lstrip(b"\x1e")
            if not line:
                return
            line_no += 1
            if len(items) >= limit:
                raise PayloadTooLarge(f"more than {limit} incidents in one request (GRIDMAP_MAX_BULK_INCIDENTS); "
                                      "split the batch")
            try:
                items.append(json.loads(line))
            except ValueError as exc:
                raise BadRequest(f"line {line_no} is not JSON: {exc}") from None

        async for chunk in request.stream():
            buf += chunk
            *lines, buf = buf.split(b"\n")
            for ln in lines:
                take(ln)
        take(buf)
        return items
    if ctype not in ("application/json", "application/geo+json"):
        raise UnsupportedMedia(f"send application/json (an array) or application/x-ndjson, not {ctype}")
    try:
        data = json.loads(await request.body())
    except ValueError as exc:
        raise BadRequest(f"the body is not JSON: {exc}") from None
    if isinstance(data, dict) and data.get("type") == "FeatureCollection":
        data = data.get("features") or []
    if not isinstance(data, list):
        raise BadRequest("the body must be a JSON array of incidents (or a FeatureCollection, or NDJSON)")
    if len(data) > limit:
        raise PayloadTooLarge(f"{len(data)} incidents in one request; the limit is {limit} "
                              "(GRIDMAP_MAX_BULK_INCIDENTS); split the batch")
    return data


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
                         engine: Engine = Depends(deps.engine), settings: Settings = Depends(deps.settings)):
    items = await _read_bulk(request, settings.max_bulk_incidents)
    rep = await run_in_threadpool(_ingest, engine, settings, items, all_or_nothing=(mode == "all_or_nothing"),
                                  actor="api")
    return {"mode": mode, "received": len(items), **rep.as_dict()}


@router.get("/incidents/categories")
def categories(engine: Engine = Depends(deps.engine)) -> list[dict]:
    """Known categories with their SLA (hours to close)."""
    from sqlalchemy import text

    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(text(
            "SELECT code, name_zh, name_en, sla_hours FROM incident_categories ORDER BY code")).mappings()]


def _csv_list(v: str | None) -> list[str] | None:
    return [x.strip() for x in v.split(",") if x.strip()] if v else None


@router.get("/incidents")
def list_incidents(request: Request,
                   status: str | None = Query(None, description="Comma-separated statuses."),
                   category: str | None = Query(None, description="Comma-separated category codes."),
                   grid: str | None = None, area: str | None = Query(None, description="Town, community, grid or region code."),
                   from_: datetime | None = Query(None, alias="from", description="reported_at >= this"),
                   to: datetime | None = Query(None, description="reported_at < this"),
                   overdue: bool | None = Query(None, description="true: open and past due_at."),
                   limit: int = Query(100, ge=1, le=1000), offset: int = Query(0, ge=0),
                   engine: Engine = Depends(deps.engine), scope: Jurisdiction = Depends(deps.jurisdiction)):
    """Incidents, newest first, with paging links."""
    with engine.connect() as conn:
        total, items = cases.list_incidents(conn, scope, status=_csv_list(status), category=_csv_list(category),
                                            grid=grid, area=area, start=from_, end=to, overdue=overdue,
                                            limit=limit, offset=offset)
    links = []
    if offset + len(items) < total:
        links.append({"rel": "next", "href": str(request.url.include_query_params(offset=offset + limit))})
    if offset > 0:
        links.append({"rel": "prev", "href": str(request.url.include_query_params(offset=max(0, offset - limit)))})
    return {"numberMatched": total, "numberReturned": len(items), "items": items, "links": links}


@router.get("/incidents/stats", description=(
    "Per grid, community or town over `[from, to)`: count, rate per 100 households, closure rate "
    "(resolved + closed_other) and resolution rate (resolved only), median/p90 hours to close, overdue "
    "count, trend by week or month.  `rank` (by rate) only for areas with at least `min_count` "
    "incidents.  `format=csv` exports the rows."))
def stats(level: Literal["grid", "community", "town"] = "grid", from_: datetime | None = Query(None, alias="from"),
          to: datetime | None = None, category: str | None = None, area: str | None = None,
          min_count: int = Query(10, ge=0), period: Literal["week", "month"] = "month",
          format: Literal["json", "csv"] = "json",
          engine: Engine = Depends(deps.engine), scope: Jurisdiction = Depends(deps.jurisdiction)):
    with engine.connect() as conn:
        s = area_stats(conn, scope, level=level, start=from_, end=to, category=_csv_list(category), area=area,
                       min_count=min_count, period=None if format == "csv" else period)
    if format == "csv":
        buf = io.StringIO()
        s.rows.to_csv(buf, index=False)
        return Response(buf.getvalue(), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="incident-stats-{level}.csv"'})
    out = s.as_dict()
    out.update({"from": from_.isoformat() if from_ else None, "to": to.isoformat() if to else None,
                "category": _csv_list(category), "area": area, "period": period})
    return out


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
def transition(incident_id: int, body: TransitionIn, engine: Engine = Depends(deps.engine),
               scope: Jurisdiction = Depends(deps.jurisdiction)):
    with engine.begin() as conn:
        return cases.transition(conn, scope, incident_id, action=body.action, actor=body.actor, note=body.note,
                                close_reason=body.close_reason)


@router.get("/incidents/hotspots", description=(
    "Getis-Ord Gi* hotspots of incident counts with a Benjamini-Hochberg false-discovery-rate "
    "correction at 90/95/99% (as ArcGIS's Optimized Hot Spot Analysis).  `level=grid`: current grids, "
    "Queen contiguity; `level=h3`: H3 cells at `resolution` with their ring-1 neighbours.  Fewer than "
    "`min_incidents` incidents: 422.  Each unit: `count`, `z`, `p` (two-sided), `bin` (-3..3) and "
    "`classification` (hot/cold 90/95/99%, not significant)."))
def hotspots_json(level: Literal["grid", "h3"] = "grid", resolution: int = Query(8, ge=4, le=11),
                  from_: datetime | None = Query(None, alias="from"), to: datetime | None = None,
                  category: str | None = None, area: str | None = None,
                  min_incidents: int = Query(30, ge=1), fdr: bool = True,
                  engine: Engine = Depends(deps.engine), scope: Jurisdiction = Depends(deps.jurisdiction)):
    from api.incidents.stats import hotspots

    with engine.connect() as conn:
        res, _ = hotspots(conn, scope, level=level, resolution=resolution, start=from_, end=to,
                          category=_csv_list(category), area=area, min_incidents=min_incidents, fdr=fdr)
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
def heatmap_page(request: Request, from_: datetime | None = Query(None, alias="from"), to: datetime | None = None,
                 category: str | None = None, period: Literal["week", "month"] = "month",
                 engine: Engine = Depends(deps.engine), settings: Settings = Depends(deps.settings),
                 scope: Jurisdiction = Depends(deps.jurisdiction)):
    from fastapi.responses import HTMLResponse

    from api.pages.incidents import heatmap_html

    lang = _lang(request, settings)
    with engine.connect() as conn:
        page, info = heatmap_html(conn, settings, scope, lang, start=from_, end=to, category=_csv_list(category),
                                  period=period)
    return HTMLResponse(page, headers={"X-Gridmap-Heatmap-Mode": info["mode"], "X-Gridmap-Cache": info["cache"]})


@router.get("/incidents/hotspots/map", response_class=Response, tags=["pages"],
            summary="Incident hotspot page (HTML; Gi* with FDR)")
def hotspots_page(request: Request, level: Literal["grid", "h3"] = "grid", resolution: int = Query(8, ge=4, le=11),
                  from_: datetime | None = Query(None, alias="from"), to: datetime | None = None,
                  category: str | None = None, min_incidents: int = Query(30, ge=1),
                  engine: Engine = Depends(deps.engine), settings: Settings = Depends(deps.settings),
                  scope: Jurisdiction = Depends(deps.jurisdiction)):
    from api import i18n
    from api.pages.base import page_response
    from api.pages.incidents import hotspots_map

    lang = _lang(request, settings)
    with engine.connect() as conn:
        m = hotspots_map(conn, settings, scope, lang, level=level, resolution=resolution, start=from_, end=to,
                         category=_csv_list(category), min_incidents=min_incidents)
    return page_response(m, i18n.t("incidents.hotspots.title", lang), lang)
