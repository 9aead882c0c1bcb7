"""HTML map pages (Folium, offline).  ``/map`` is the overview of areas, grids and stations; also the
offline ``/docs`` and the site icon ``/favicon.ico``."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Depends, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse
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


@router.get("/docs", include_in_schema=False)
def docs_page(request: Request) -> HTMLResponse:
    """Swagger UI for the OpenAPI document, from vendored assets (FastAPI's own /docs uses a CDN).

    Serves only once the app is created with ``docs_url=None`` (FastAPI's route comes first).
    """
    return get_swagger_ui_html(
        openapi_url=request.app.openapi_url or "/openapi.json",
        title=f"{request.app.title} - API",
        swagger_js_url="/static/vendor/swagger-ui/swagger-ui-bundle.js",
        swagger_css_url="/static/vendor/swagger-ui/swagger-ui.css",
        swagger_favicon_url="/static/vendor/swagger-ui/favicon-32x32.png",
        swagger_ui_parameters={"validatorUrl": None},  # the default validator badge is on swagger.io
    )


@router.get("/favicon.ico", include_in_schema=False)
def favicon() -> FileResponse:
    """The site icon, so that no page logs a 404 for it (browsers ask for it on every page)."""
    return FileResponse(FAVICON, media_type="image/x-icon", headers={"Cache-Control": "max-age=86400"})


FAVICON = Path(__file__).resolve().parents[1] / "static" / "gridmap" / "favicon.ico"
