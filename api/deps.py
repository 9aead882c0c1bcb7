"""FastAPI dependencies shared by every route: settings, engine, the caller's jurisdiction."""

from __future__ import annotations

from fastapi import Request
from sqlalchemy import Engine

from api.jurisdiction import EVERYWHERE, Jurisdiction
from api.settings import Settings


def settings(request: Request) -> Settings:
    return request.app.state.settings


def engine(request: Request) -> Engine:
    return request.app.state.engine


def jurisdiction(request: Request) -> Jurisdiction:
    """The caller's jurisdiction.  No access control yet: everyone sees everywhere."""
    return EVERYWHERE


# --- incidents: the one filter of list, stats, heatmap and hotspots, built and checked once ---
from datetime import datetime  # noqa: E402
from typing import Annotated  # noqa: E402

from fastapi import Depends, Query  # noqa: E402

from api.incidents.filters import IncidentFilter  # noqa: E402
from api.incidents.times import aware  # noqa: E402


def _codes(v: str | None) -> tuple[str, ...]:
    return tuple(x.strip() for x in v.split(",") if x.strip()) if v else ()


def _checked(request: Request, flt: IncidentFilter) -> IncidentFilter:
    with engine(request).connect() as conn:
        return flt.check(conn, jurisdiction(request))


def _window_filter(
    request: Request,
    from_: datetime | None = Query(None, alias="from", description="reported_at >= this (no offset: GRIDMAP_TIMEZONE)."),
    to: datetime | None = Query(None, description="reported_at < this (no offset: GRIDMAP_TIMEZONE)."),
    category: str | None = Query(None, description="Comma-separated category codes."),
    area: str | None = Query(None, description="Town, community, grid or region code."),
) -> IncidentFilter:
    tz = settings(request).timezone
    return IncidentFilter(start=aware(from_, tz), end=aware(to, tz), categories=_codes(category), area=area)


def incident_filter(request: Request, flt: IncidentFilter = Depends(_window_filter)) -> IncidentFilter:
    """The window, categories and area of an incident query; a reversed window or an unknown
    category is 422, an unknown area 404 (:meth:`IncidentFilter.check`)."""
    return _checked(request, flt)


def incident_list_filter(
    request: Request,
    base: IncidentFilter = Depends(_window_filter),
    status: str | None = Query(None, description="Comma-separated statuses."),
    grid: str | None = Query(None, description="One grid code."),
    overdue: bool | None = Query(None, description="true: open and past due_at; false: the others."),
) -> IncidentFilter:
    """:func:`incident_filter` plus the list's statuses, grid and overdue flag (422 / 404 likewise)."""
    from dataclasses import replace

    return _checked(request, replace(base, statuses=_codes(status), grid=grid, overdue=overdue))


IncidentFilterDep = Annotated[IncidentFilter, Depends(incident_filter)]
IncidentListFilterDep = Annotated[IncidentFilter, Depends(incident_list_filter)]
