"""FastAPI dependencies shared by the routes: settings, engine, the caller's jurisdiction, the
coverage service and the coverage question.

Routes take the ``Annotated`` aliases (``settings: SettingsDep, scope: ScopeDep, svc: CoverageDep,
params: CoverageQuery``) instead of reading ``request.app.state`` themselves.  The plain callables
(:func:`settings`, :func:`engine`, :func:`jurisdiction`) are what the aliases depend on.
"""

from __future__ import annotations

import datetime as dt
import re
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Query, Request
from pydantic import BeforeValidator
from sqlalchemy import Engine

from api.coverage import CoverageParams, CoverageService, parse_breaks
from api.incidents.filters import IncidentFilter
from api.auth import Caller, authorize
from api.errors import ValidationFailed
from api.incidents.times import aware, zone_instant
from api.jurisdiction import EVERYWHERE, Jurisdiction
from api.limits import MAX_MINUTES, breaks_help
from api.settings import Settings
from api.siting import SitingJobs, SitingService
from geo.errors import Problem


_NUMBER = re.compile(r"\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*")


def _not_a_number(v):
    # pydantic reads a number ("0", "0.5", "20250301") as seconds since 1970: nobody means that
    if isinstance(v, (int, float)) or (isinstance(v, str) and _NUMBER.fullmatch(v)):
        raise ValueError("write a date or time as ISO 8601 text (2025-03-01, 2025-03-01T08:30:00+08:00), "
                         "not a number")
    return v


#: A date or a time in a query or a body: ISO 8601 text, never a number of seconds.
IsoDate = Annotated[dt.date, BeforeValidator(_not_a_number)]
IsoDateTime = Annotated[datetime, BeforeValidator(_not_a_number)]


def settings(request: Request) -> Settings:
    return request.app.state.settings


def engine(request: Request) -> Engine:
    return request.app.state.engine


def caller(c: Caller = Depends(authorize)) -> Caller:
    """The caller of the request (user, role, jurisdiction), built once by :func:`api.auth.authorize`."""
    return c


def jurisdiction(request: Request, c: Caller = Depends(authorize)) -> Jurisdiction:
    """The caller's jurisdiction for the route's action (``api.auth``; everywhere in open mode)."""
    action = getattr(request.state, "action", None)
    return c.scope_for(action) if action is not None else c.scope


def coverage(request: Request) -> CoverageService:
    """The app's coverage service (created once in the lifespan, :func:`api.app.create_app`)."""
    return request.app.state.coverage


def live_plans(request: Request):
    """The app's live plan partitions (:class:`api.plans.LivePlans`, made in :func:`api.app.create_app`)."""
    return request.app.state.plans


def plan_jobs(request: Request):
    """The app's plan jobs (:class:`api.plans.PlanJobs`, made in :func:`api.app.create_app`)."""
    return request.app.state.plan_jobs


SettingsDep = Annotated[Settings, Depends(settings)]
EngineDep = Annotated[Engine, Depends(engine)]
ScopeDep = Annotated[Jurisdiction, Depends(jurisdiction)]
CallerDep = Annotated[Caller, Depends(caller)]
CoverageDep = Annotated[CoverageService, Depends(coverage)]


def coverage_params(
    settings: SettingsDep,
    minutes: Annotated[float | None, Query(gt=0, le=MAX_MINUTES, description=(
        f"Time budget, minutes (0 < minutes ≤ {MAX_MINUTES:g}; default the setting GRIDMAP_MINUTES)."))] = None,
    mode: Annotated[str, Query(pattern="^(walk|bike|drive)$", description="Travel mode.")] = "walk",
    kinds: Annotated[str | None, Query(description="Station kinds that count, comma-separated (default all).")] = None,
    at: Annotated[IsoDate | None, Query(description="Count stations open on this date (default today).")] = None,
    region: Annotated[str | None, Query(pattern=r"^\d{6}$",
                                        description="One county (6-digit code); default all in scope.")] = None,
) -> CoverageParams:
    """The coverage question of a request's query parameters, parsed once."""
    return CoverageParams.asked(minutes=minutes, default_minutes=settings.minutes, mode=mode, kinds=kinds, at=at,
                                region=region)


CoverageQuery = Annotated[CoverageParams, Depends(coverage_params)]


def coverage_breaks(
    params: CoverageQuery,
    breaks: Annotated[str | None, Query(description=(
        f"Budgets in minutes, comma-separated, e.g. 5,8,15 ({breaks_help()}; default the budget)."))] = None,
) -> tuple[float, ...] | None:
    """The ``breaks`` of a request, minutes ascending (422 on ``breaks`` when out of limits); None
    when not given (a route then uses the budget alone)."""
    return None if breaks is None else parse_breaks(breaks, params.minutes)


BreaksQuery = Annotated[tuple[float, ...] | None, Depends(coverage_breaks)]


# --- incidents: the one filter of list, stats, heatmap and hotspots, built and checked once ---


def _codes(v: str | None) -> tuple[str, ...]:
    return tuple(x.strip() for x in v.split(",") if x.strip()) if v else ()


def _checked(request: Request, flt: IncidentFilter, scope: Jurisdiction) -> IncidentFilter:
    with engine(request).connect() as conn:
        return flt.check(conn, scope)


def query_instant(name: str, value: datetime | None, tz: str) -> datetime | None:
    """A time query parameter as the instant it names (:func:`api.incidents.times.zone_instant`:
    read in ``tz`` without an offset, any offset Python reads, years :data:`geo.validate.YEARS`);
    outside those years 422 naming ``query.<name>``."""
    try:
        return zone_instant(value, tz)
    except ValueError as exc:
        raise ValidationFailed(f"{name}: {exc}", [Problem(str(exc), field=f"query.{name}")]) from None


def _window_filter(
    request: Request,
    from_: IsoDateTime | None = Query(None, alias="from", description="reported_at >= this (no offset: GRIDMAP_TIMEZONE)."),
    to: IsoDateTime | None = Query(None, description="reported_at < this (no offset: GRIDMAP_TIMEZONE)."),
    category: str | None = Query(None, description="Comma-separated category codes."),
    area: str | None = Query(None, description="Town, community, grid or region code."),
) -> IncidentFilter:
    tz = settings(request).timezone
    bounds = {name: query_instant(name, value, tz) for name, value in (("from", from_), ("to", to))}
    return IncidentFilter(start=bounds["from"], end=bounds["to"], categories=_codes(category), area=area)


def incident_filter(request: Request, flt: IncidentFilter = Depends(_window_filter),
                    scope: Jurisdiction = Depends(jurisdiction)) -> IncidentFilter:
    """The window, categories and area of an incident query; a reversed window or an unknown
    category is 422, an unknown area 404 (:meth:`IncidentFilter.check`)."""
    return _checked(request, flt, scope)


def incident_list_filter(
    request: Request,
    base: IncidentFilter = Depends(_window_filter),
    status: str | None = Query(None, description="Comma-separated statuses."),
    grid: str | None = Query(None, description="One grid code."),
    overdue: bool | None = Query(None, description="true: open and past due_at; false: the others."),
    scope: Jurisdiction = Depends(jurisdiction),
) -> IncidentFilter:
    """:func:`incident_filter` plus the list's statuses, grid and overdue flag (422 / 404 likewise)."""
    from dataclasses import replace

    return _checked(request, replace(base, statuses=_codes(status), grid=grid, overdue=overdue), scope)


IncidentFilterDep = Annotated[IncidentFilter, Depends(incident_filter)]
IncidentListFilterDep = Annotated[IncidentFilter, Depends(incident_list_filter)]


# --- siting: the app's siting service and its jobs (api/siting) ---


def siting(request: Request) -> SitingService:
    """The app's siting service (:class:`api.siting.SitingService`, created in the lifespan)."""
    return request.app.state.siting


def siting_jobs(request: Request) -> SitingJobs:
    """The app's siting jobs (:class:`api.siting.SitingJobs`)."""
    return request.app.state.siting_jobs


SitingDep = Annotated[SitingService, Depends(siting)]
SitingJobsDep = Annotated[SitingJobs, Depends(siting_jobs)]
