"""HTML pages.  ``/`` is the home page for browsers (and a JSON landing for API clients); ``/map`` the
overview of areas, grids and stations (Folium, offline); also the offline ``/docs`` and the site icon
``/favicon.ico``."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Depends, Query, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from sqlalchemy import Engine

from api import deps, i18n
from api.jurisdiction import Jurisdiction
from api.negotiation import prefers_html
from api.pages.overview import overview_html
from api.settings import Settings

router = APIRouter(tags=["pages"])


def wants_json(request: Request) -> bool:
    """``?f=json``, or an ``Accept`` that does not name HTML: browsers always send ``text/html``; API
    clients (OWSLib, curl, GDAL) send JSON types, ``*/*`` or nothing, and get the OGC landing page."""
    f = request.query_params.get("f")
    if f:
        return f.lower() == "json"
    return not prefers_html(request.headers.get("accept"))  # no HTML named (GIS clients, fetch, curl): the OGC landing


def api_landing(request: Request) -> dict:
    """The landing document for API clients (``/`` with JSON asked): the OGC API landing page."""
    from api import ogc

    return ogc.landing(request, ogc.ENDPOINTS)


@router.get("/", summary="Home page (HTML for browsers; the OGC landing for every other client, or with ?f=json)",
            response_class=HTMLResponse,
            responses={200: {"content": {"application/json": {}}, "description": "The page, or the OGC landing"}})
def home_page(request: Request, scope: deps.ScopeDep, settings: deps.SettingsDep,
              engine: deps.EngineDep) -> Response:
    if wants_json(request):
        return JSONResponse(api_landing(request))
    from api.db.holdings import holdings
    from api.pages.base import shell_page
    from api.pages.home import home_body

    lang = i18n.request_lang(request, settings.language)
    with engine.connect() as conn:
        h = holdings(conn, scope)
    title = i18n.t("home.title", lang)
    return HTMLResponse(shell_page(title, home_body(h, lang), lang))


@router.get("/map", response_class=HTMLResponse, summary="Overview map (HTML; ?lang=zh|en)")
def map_page(
    request: Request,
    engine: Engine = Depends(deps.engine),
    scope: Jurisdiction = Depends(deps.jurisdiction),
    settings: Settings = Depends(deps.settings),
    area: str | None = Query(None, description="Open on this town, community or grid code (404 if unknown)."),
) -> HTMLResponse:
    from api.db.areas import resolve_area

    lang = i18n.request_lang(request, settings.language)
    with engine.connect() as conn:
        if area:
            resolve_area(conn, area, scope)
        page, hit = overview_html(conn, settings, scope, lang, area=area)
    return HTMLResponse(page, headers={"X-Gridmap-Cache": "hit" if hit else "miss"})


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
