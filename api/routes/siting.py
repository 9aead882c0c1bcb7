"""Siting API: ``POST /siting`` (sites and figures, or a job), ``GET /siting/jobs/{id}``, ``/siting/map``.

Thin: the body is parsed into :class:`api.siting.SitingParams`; the answers are
:mod:`api.siting.answers`; the page is :mod:`api.pages.siting`.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, Field

from api.deps import EngineDep, IsoDate, ScopeDep, SettingsDep, SitingDep, SitingJobsDep
from api.limits import MAX_MINUTES
from api.siting import MAX_CLOSE, MAX_K, SitingParams
from api.siting import answers

router = APIRouter(tags=["siting"])


class SitingRequest(BaseModel):
    """A siting question (see :class:`api.siting.SitingParams`)."""

    k: int = Field(1, ge=0, le=MAX_K, description="New sites to add (MCLP, p-median).")
    model: Literal["mclp", "lscp", "pmedian"] = Field("mclp", description="Maximal covering, set covering, p-median.")
    minutes: float | None = Field(None, gt=0, le=MAX_MINUTES, description="Time budget, minutes (default the setting).")
    mode: Literal["walk", "bike", "drive"] = "walk"
    kinds: list[str] | None = Field(None, description="Station kinds that count (default all).")
    at: IsoDate | None = Field(None, description="Count stations open on this day (default today).")
    region: str | None = Field(None, pattern=r"^\d{6}$")
    area: str | None = Field(None, description="Candidates only inside this town, community or grid code.")
    candidates: Literal["gaps", "streets", "osm"] | dict = Field(
        "gaps", description="gaps, streets, osm, or a GeoJSON FeatureCollection of candidate points (EPSG:4326).")
    target: float | None = Field(None, gt=0, le=1, description="LSCP: share of households to reach.")
    close: int = Field(0, ge=0, le=MAX_CLOSE, description="Existing stations to close, least loss first (MCLP).")
    method: Literal["exact", "greedy"] = "exact"
    time_limit_s: float = Field(60.0, gt=0, le=3600, description="Solver time limit, seconds.")
    curve: bool = Field(True, description="Also the marginal-gain curve for 1..k sites (MCLP).")
    job: bool | None = Field(None, description="true: always a job; false: always answer at once; "
                                               "default: a job when the question is large.")


@router.post("/siting", summary="Where new stations cover the most households (sites, figures, or a job)",
             description="Chosen sites, households newly covered, coverage before/after per grid and community, "
                         "the marginal-gain curve, closures.  A large question answers 202 with a job "
                         "(`Location: /siting/jobs/{id}`).  `Idempotency-Key` makes a retry safe.",
             responses={202: {"description": "Queued as a job; poll the Location."}})
def post_siting(request: Request, body: SitingRequest, scope: ScopeDep, settings: SettingsDep, siting: SitingDep,
                jobs: SitingJobsDep,
                key: str | None = Header(None, alias="Idempotency-Key",
                                         description="Makes a retry of this request safe (24 h).")) -> JSONResponse:
    points = body.candidates if isinstance(body.candidates, dict) else None
    params = SitingParams.asked(default_minutes=settings.minutes, minutes=body.minutes, kinds=body.kinds, at=body.at,
                                k=body.k, model=body.model, mode=body.mode, region=body.region, area=body.area,
                                candidates="file" if points is not None else body.candidates, target=body.target,
                                close=body.close, method=body.method, time_limit_s=body.time_limit_s, curve=body.curve)
    status, out, headers = answers.submit(siting, jobs, scope, params, points=points, job=body.job, key=key,
                                          path=request.url.path, body=body.model_dump(mode="json"))
    return JSONResponse(out, status_code=status, headers=headers)


@router.get("/siting/jobs/{job_id}", summary="A siting job: status, and its answer when done")
def get_job(job_id: str, scope: ScopeDep, engine: EngineDep, jobs: SitingJobsDep) -> JSONResponse:
    with engine.connect() as conn:
        return JSONResponse(answers.job_answer(jobs, conn, job_id, scope))


@router.get("/siting/map", response_class=HTMLResponse, tags=["pages"],
            summary="A siting proposal on a map (HTML; ?job=ID, or the question's parameters; ?lang=zh|en)")
def siting_map_page(request: Request, scope: ScopeDep, settings: SettingsDep, engine: EngineDep, siting: SitingDep,
                    jobs: SitingJobsDep,
                    job: str | None = Query(None, description="A siting job's id."),
                    k: int = Query(1, ge=0, le=MAX_K), model: Literal["mclp", "lscp", "pmedian"] = "mclp",
                    minutes: float | None = Query(None, gt=0, le=MAX_MINUTES),
                    mode: Literal["walk", "bike", "drive"] = "walk", kinds: str | None = None,
                    at: IsoDate | None = None, region: str | None = Query(None, pattern=r"^\d{6}$"),
                    area: str | None = None, candidates: Literal["gaps", "streets", "osm"] = "gaps",
                    target: float | None = Query(None, gt=0, le=1), close: int = Query(0, ge=0, le=MAX_CLOSE),
                    method: Literal["exact", "greedy"] = "exact") -> HTMLResponse:
    from api import i18n
    from api.pages.base import page_response
    from api.pages.siting import siting_map

    lang = i18n.request_lang(request, settings.language)
    params = None if job else SitingParams.asked(
        default_minutes=settings.minutes, minutes=minutes, kinds=kinds, at=at, k=k, model=model, mode=mode,
        region=region, area=area, candidates=candidates, target=target, close=close, method=method)
    with engine.connect() as conn:
        answer = answers.answer_for_map(siting, jobs, conn, scope, job_id=job, params=params)
        m = siting_map(conn, settings, scope, lang, answer)
    return page_response(m, i18n.t("siting.title", lang), lang)
