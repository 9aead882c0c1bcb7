"""The FastAPI application: settings, database, error mapping, static assets and every router.

Routers live one topic a module (or a package whose ``__init__`` exposes one ``router``) in
``api/routes``; each module or package exposing ``router`` is included.  The
lifespan opens the engine (migrating it), the OGC API catalog (``api.ogc``) and creates the coverage
service (``app.state.coverage``).
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from sqlalchemy.exc import OperationalError
from fastapi.staticfiles import StaticFiles
from starlette.middleware.gzip import GZipMiddleware

from api import auth, errors, ogc, openapi, routes
from api.edge import BodyLimit, CatchAll, HostGuard, QueryGuard, SecurityHeaders, WriteRateLimit
from api.coverage import CoverageService
from api.db.engine import get_engine, migrate as migrate_schema
from api.settings import Settings, get_settings
from api.plans import PlanJobs
from api.siting import SitingJobs, SitingService

STATIC = Path(__file__).resolve().parent / "static"
#: Answers at least this large (bytes) go gzip-compressed to a client that accepts gzip: a community's
#: streets as GeoJSON (5.8 MB for 4,000 dwellings) or a plan's units (1.3 MB) shrink 4-7x.
GZIP_MIN_BYTES = 1024


def _routers():
    for mod in sorted(pkgutil.iter_modules(routes.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{routes.__name__}.{mod.name}")
        if hasattr(module, "router"):
            yield module.router


def create_app(settings: Settings | None = None, migrate: bool = True) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if migrate:  # as the schema's owner, then the app role granted (api/db/engine.py)
            migrate_schema(settings)
        engine = get_engine(settings)  # the least-privilege application role
        app.state.engine = engine
        # the OGC API (tipg): its asyncpg pool and catalog of the ogc views, on the same database
        try:
            await ogc.open_catalog(app, engine, settings)
        except OSError as exc:  # the database is down: the rest serves 503s; the catalog loads at the next start
            logging.getLogger("gridmap").warning("OGC API catalog not loaded, the database is unreachable: %s", exc)
        # the coverage service and its caches, one per app (routes get it through api.deps.CoverageDep);
        # each computed run starts its own warm-up (what-if planner, station polygons) in the background
        app.state.coverage = CoverageService.from_settings(engine, settings)
        # siting on the coverage service's runs; long questions as jobs in a thread pool (api/siting)
        app.state.siting = SitingService.from_settings(app.state.coverage, settings)
        app.state.siting_jobs = SitingJobs(engine, app.state.siting, workers=settings.siting_workers)
        # large redraws (POST /plans for a town or the county) as jobs on the same runner (api/jobs.py)
        app.state.plan_jobs = PlanJobs(engine, settings)
        for jobs in (app.state.siting_jobs, app.state.plan_jobs):
            try:
                jobs.resume()
            except OperationalError as exc:  # the database is down: serve (503s, /health) and resume at the next start
                logging.getLogger("gridmap").warning("%s jobs not resumed, the database is unreachable: %s",
                                                     jobs.kind, str(exc).splitlines()[0])
        try:
            yield
        finally:
            app.state.siting_jobs.close()
            app.state.plan_jobs.close()
            app.state.coverage.close()
            await ogc.close_catalog(app)

    app = FastAPI(
        title="gridmap",
        description="Community grid governance: grids, households, service stations, 8-minute reach, incidents.",
        version="0.1.0",
        lifespan=lifespan,
        # /docs is served offline by api/routes/pages.py (vendored Swagger UI), not from a CDN.
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    from api.plans import LivePlans  # plans being edited: live partitions, one set per app (api.plans.live)

    app.state.plans = LivePlans(settings.plan_live_max)

    # the edge (api/edge), innermost first: the body limit, the query check, the write rate limit,
    # the Host allow-list, the last-resort 500, the security headers on every answer, gzip outermost
    app.add_middleware(BodyLimit, limit_bytes=int(settings.max_upload_mb * 1024 * 1024))
    app.add_middleware(QueryGuard)
    app.add_middleware(WriteRateLimit, rate_per_s=settings.write_rate_per_s, burst=settings.write_burst)
    app.add_middleware(HostGuard, allowed=settings.allowed_host_names)
    app.add_middleware(CatchAll)
    app.add_middleware(SecurityHeaders, tile_url=settings.tile_url)
    app.add_middleware(GZipMiddleware, minimum_size=GZIP_MIN_BYTES, compresslevel=5)  # for clients that accept it
    errors.install(app)
    ogc.install(app)  # tipg's bbox/CRS, JSON-only outputs and errors (api/ogc); its router is api/routes/ogc.py
    auth.install(app)  # every route: the caller built and checked (api/auth), before the routers below
    STATIC.mkdir(exist_ok=True)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    for router in _routers():
        app.include_router(router)
    openapi.install(app)  # the document declares the problem+json, GeoJSON, table and HTML answers
    return app


def served_app() -> FastAPI:
    """The app as each ``gridmap serve`` worker builds it (uvicorn's factory, ``api.app:served_app``):
    the configured settings; ``serve`` migrated the database once before the workers start."""
    return create_app(get_settings(), migrate=False)
