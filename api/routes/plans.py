"""Plans (grid redraws): create, list, show, moves, locks, balance, diff, publish, discard, export;
and the validation of the current grids (``GET /grids/check``, what ``gridmap grids check`` reports).

Thin handlers: each takes the deps aliases and calls :mod:`api.plans`, which assembles the answer
(the CLI ``gridmap plan`` calls the same functions).  Every write takes an ``Idempotency-Key``;
a retry answers the stored response with ``Idempotent-Replayed: true``.  ``GET /plans`` and
``GET /plans/{id}`` answer the workbench page (:mod:`api.pages.workbench`) to a browser
(``Accept: text/html``) and JSON to everyone else.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Header, Path, Query, Request
from fastapi.responses import JSONResponse, Response

from api import deps, i18n, plans
from api.deps import EngineDep, ScopeDep, SettingsDep
from api.negotiation import prefers_html
from api.pages.workbench import plans_page, workbench_page
from api.plans.check import REPORT_FORMATS, check_stored_grids, report_bytes
from api.plans.export import EXPORT_FORMATS, export_plan

router = APIRouter(tags=["plans"])

Key = Annotated[str | None, Header(alias="Idempotency-Key", description="Makes a retry of this request safe (24 h).")]
PlanId = Annotated[int, Path(ge=1, le=2**63 - 1)]
Live = Annotated[plans.LivePlans, Depends(deps.live_plans)]
Jobs = Annotated[plans.PlanJobs, Depends(deps.plan_jobs)]

CREATE_EXAMPLE = {"community": "320281001001", "target": 300, "band": 0.15, "stay_close": False, "lock": []}
MOVE_EXAMPLE = {"units": ["b0001"], "to": "320281001001-02", "allow_split": False}


def _json(status: int, body, replayed: bool) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers={"Idempotent-Replayed": "true"} if replayed else {})


@router.post("/plans", status_code=201, summary="Redraw grids as a draft plan (one plan a region), or a job",
             description="Up to `GRIDMAP_PLAN_SYNC_COMMUNITIES` communities answer 201 with the plans; more (a town, "
                         "`all`) answer 202 with a job (`Location: /plans/jobs/{id}`); `job: true|false` forces "
                         "either.  `Idempotency-Key` makes a retry safe.",
             responses={202: {"description": "Queued as a job; poll the Location."}})
def create_plan(request: Request, engine: EngineDep, settings: SettingsDep, scope: ScopeDep, jobs: Jobs,
                key: Key = None, body: dict = Body(..., examples=[CREATE_EXAMPLE])) -> JSONResponse:
    status, out, headers = plans.submit_plans(engine, settings, jobs, scope, body, key=key, path=request.url.path)
    return JSONResponse(out, status_code=status, headers=headers)


@router.get("/plans/jobs/{job_id}", summary="A redraw job: status, and the plans made when done")
def plan_job(engine: EngineDep, scope: ScopeDep, jobs: Jobs,
             job_id: Annotated[str, Path(max_length=32, pattern="^[0-9a-f]+$")]) -> dict:
    with engine.connect() as conn:
        return plans.plan_job(jobs, conn, job_id, scope)


@router.get("/plans", summary="The plans (newest first)")
def list_plans(request: Request, engine: EngineDep, settings: SettingsDep, scope: ScopeDep,
               status: Annotated[str | None, Query(pattern="^(draft|published|discarded)$")] = None):
    if prefers_html(request.headers.get("accept")):
        return plans_page(i18n.request_lang(request, settings.language))
    with engine.connect() as conn:
        return {"plans": plans.list_plans(conn, scope, status)}


@router.get("/plans/{plan_id}", summary="One plan: grids (GeoJSON with metrics), units with ?units=true")
def show_plan(request: Request, engine: EngineDep, settings: SettingsDep, scope: ScopeDep, plan_id: PlanId,
              units: Annotated[bool, Query(description="Also the units with their grid.")] = False,
              micro: Annotated[bool, Query(description="Also the micro-grids (plans made with micro).")] = False
              ):
    if prefers_html(request.headers.get("accept")):
        return workbench_page(i18n.request_lang(request, settings.language), plan_id)
    with engine.connect() as conn:
        # large answers (a plan's units: ~3 MB for 4,000 dwellings) are gzip-compressed by the app's middleware
        return JSONResponse(plans.show_plan(conn, scope, plan_id, units=units, micro=micro), headers={"Vary": "Accept"})


@router.post("/plans/{plan_id}/moves", summary="Move units into a grid (409 if it would split a grid)")
def move(request: Request, engine: EngineDep, scope: ScopeDep, live: Live, plan_id: PlanId, key: Key = None,
         body: dict = Body(..., examples=[MOVE_EXAMPLE])) -> JSONResponse:
    units = body.get("units", body.get("unit"))
    return _json(*plans.move_units(engine, live, scope, plan_id, units, str(body.get("to") or ""),
                                   allow_split=bool(body.get("allow_split", False)), key=key,
                                   path=request.url.path, body=body))


@router.post("/plans/{plan_id}/split", summary="Split a grid in two along a drawn line (409 if the line misses)")
def split(request: Request, engine: EngineDep, scope: ScopeDep, live: Live, plan_id: PlanId, key: Key = None,
          body: dict = Body(..., examples=[{"grid": "320281001001-01", "line": [[120.30, 31.50], [120.31, 31.51]]}])
          ) -> JSONResponse:
    return _json(*plans.split_grid(engine, live, scope, plan_id, str(body.get("grid") or ""), body.get("line"),
                                   allow_split=bool(body.get("allow_split", False)), key=key,
                                   path=request.url.path, body=body))


@router.post("/plans/{plan_id}/merge", summary="Merge a grid into a neighbouring grid (the undo of a split)")
def merge(request: Request, engine: EngineDep, scope: ScopeDep, live: Live, plan_id: PlanId, key: Key = None,
          body: dict = Body(..., examples=[{"grid": "320281001001-07", "into": "320281001001-01"}])) -> JSONResponse:
    return _json(*plans.merge_grid(engine, live, scope, plan_id, str(body.get("grid") or ""),
                                   str(body.get("into") or ""), allow_split=bool(body.get("allow_split", False)),
                                   key=key, path=request.url.path, body=body))


@router.post("/plans/{plan_id}/lock", summary="Lock (or with locked=false unlock) grids of a draft")
def lock(request: Request, engine: EngineDep, scope: ScopeDep, live: Live, plan_id: PlanId, key: Key = None,
         body: dict = Body(..., examples=[{"grids": ["320281001001-01"], "locked": True}])) -> JSONResponse:
    return _json(*plans.lock_grids(engine, live, scope, plan_id, body.get("grids"),
                                   locked=bool(body.get("locked", True)), key=key, path=request.url.path, body=body))


@router.post("/plans/{plan_id}/balance", status_code=201,
             summary="Auto-balance a draft (all its unlocked grids, or the grids named): a new draft beside it")
def balance(request: Request, engine: EngineDep, scope: ScopeDep, live: Live, plan_id: PlanId, key: Key = None,
            body: dict = Body(default={}, examples=[{"grids": ["320281001001-01", "320281001001-02"]}])
            ) -> JSONResponse:
    return _json(*plans.balance_plan(engine, live, scope, plan_id, (body or {}).get("grids"), key=key,
                                     path=request.url.path, body=body))


@router.get("/plans/{plan_id}/diff", summary="The plan against the current grids")
def diff(engine: EngineDep, scope: ScopeDep, plan_id: PlanId) -> dict:
    with engine.connect() as conn:
        return plans.diff_plan(conn, scope, plan_id)


@router.post("/plans/{plan_id}/publish", summary="Publish: the plan's grids become the grids (one transaction)")
def publish(request: Request, engine: EngineDep, settings: SettingsDep, scope: ScopeDep, live: Live,
            plan_id: PlanId, key: Key = None) -> JSONResponse:
    return _json(*plans.publish_plan(engine, settings, scope, plan_id, live=live, key=key, path=request.url.path))


@router.delete("/plans/{plan_id}", summary="Discard a draft")
def discard(request: Request, engine: EngineDep, scope: ScopeDep, live: Live, plan_id: PlanId,
            key: Key = None) -> JSONResponse:
    return _json(*plans.discard_plan(engine, scope, plan_id, live=live, key=key, path=request.url.path))


@router.get("/plans/{plan_id}/export", summary="The plan's grids as gpkg, geojson, csv (UTF-8 BOM) or xlsx")
def export(engine: EngineDep, scope: ScopeDep, plan_id: PlanId,
           format: Annotated[str, Query(pattern="^(gpkg|geojson|csv|xlsx)$")] = "gpkg",
           lang: Annotated[str | None, Query(pattern="^(zh|en)$", description="xlsx headers in this language")] = None
           ) -> Response:
    with engine.connect() as conn:
        data = export_plan(conn, scope, plan_id, format, lang)
    media, suffix = EXPORT_FORMATS[format]
    return Response(data, media_type=media,
                    headers={"Content-Disposition": f'attachment; filename="plan-{plan_id}{suffix}"'})


@router.get("/grids/check", summary="Validate the current grids: overlaps, gaps, outside parts, pieces, sizes",
            description="The report of `gridmap grids check`: JSON (default), GeoJSON (each issue's place, the "
                        "map layer), CSV (UTF-8 BOM) or xlsx.")
def grids_check(engine: EngineDep, scope: ScopeDep,
                area: Annotated[str | None, Query(max_length=32, description="Region, town, community or grid code")] = None,
                target: Annotated[int, Query(ge=1, le=100_000)] = 300,
                band: Annotated[float, Query(gt=0, lt=1)] = 0.15,
                format: Annotated[str, Query(pattern="^(json|geojson|csv|xlsx)$")] = "json") -> Response:
    with engine.connect() as conn:
        report = check_stored_grids(conn, scope, area=area, target=target, band=band, geometry=format == "geojson")
    media, suffix = REPORT_FORMATS[format]
    headers = {} if format in ("json", "geojson") else {"Content-Disposition": f'attachment; filename="grids-check{suffix}"'}
    return Response(report_bytes(report, format), media_type=media, headers=headers)
