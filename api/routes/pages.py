"""HTML map pages (Folium, offline).  ``/map`` is the overview of areas, grids and stations."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import Engine

from api import deps, i18n
from api.jurisdiction import Jurisdiction
from api.pages.base import page_response
from api.pages.overview import overview_map
from api.settings import Settings

router = APIRouter(tags=["pages"])


@router.get("/map", response_class=HTMLResponse, summary="Overview map (HTML; ?lang=zh|en)")
def map_page(
    request: Request,
    engine: Engine = Depends(deps.engine),
    scope: Jurisdiction = Depends(deps.jurisdiction),
    settings: Settings = Depends(deps.settings),
) -> HTMLResponse:
    lang = i18n.request_lang(request, settings.language)
    with engine.connect() as conn:
        m = overview_map(conn, settings, scope, lang)
    return page_response(m, i18n.t("map.title", lang), lang)
