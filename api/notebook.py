"""One call for notebooks: ``db = open_database()`` and the services are at hand.

::

    from api.notebook import open_database
    db = open_database()                       # gridmap's own embedded PostGIS (GRIDMAP_HOME), sample loaded if empty
    db = open_database("postgresql://...")     # your own PostGIS with gridmap's schema

:func:`open_database` does what ``gridmap demo`` does before serving: the configured database (the
embedded cluster started on demand under the data directory, or ``url``), migrations applied, the
sample district (:data:`SAMPLE`) loaded through :func:`api.imports.load_sample` when the database
holds no area.  The returned :class:`Database` carries the engine, the settings and the coverage and
siting services the API and the CLI use, with short-cuts that take the caller's jurisdiction
(everywhere by default).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
from sqlalchemy import Engine, text

from api.coverage import CoverageParams, CoverageService, Run
from api.jurisdiction import EVERYWHERE, Jurisdiction
from api.settings import Settings
from api.siting import Proposal, SitingParams, SitingService

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "boundaries" / "sample_district.gpkg"

__all__ = ["Database", "open_database", "SAMPLE", "offline_html", "show_map", "chinese_font"]


@dataclass
class Database:
    """A gridmap database and its services (what :func:`open_database` returns).

    Attributes
    ----------
    engine : sqlalchemy.Engine
    settings : api.settings.Settings
    coverage : api.coverage.CoverageService
    siting : api.siting.SitingService
    scope : api.jurisdiction.Jurisdiction
        The jurisdiction every short-cut reads (everywhere unless given).
    loaded : dict
        ``{layer: rows}`` of the sample when this call loaded it, else empty.
    """

    engine: Engine
    settings: Settings
    coverage: CoverageService
    siting: SitingService
    scope: Jurisdiction = EVERYWHERE
    loaded: dict = field(default_factory=dict)

    def coverage_params(self, minutes: float | None = None, **kw) -> CoverageParams:
        return CoverageParams.asked(minutes=minutes, default_minutes=self.settings.minutes, **kw)

    def coverage_run(self, minutes: float | None = None, **kw) -> Run:
        """The coverage run (``mode``, ``kinds``, ``at``, ``region`` as for ``gridmap coverage``)."""
        return self.coverage.run(self.scope, self.coverage_params(minutes, **kw))

    def siting_params(self, minutes: float | None = None, **kw) -> SitingParams:
        return SitingParams.asked(default_minutes=self.settings.minutes, minutes=minutes, **kw)

    def propose(self, k: int = 1, *, points: gpd.GeoDataFrame | None = None, **kw) -> Proposal:
        """A siting proposal (:meth:`api.siting.SitingService.propose`; keywords of
        :class:`api.siting.SitingParams`: ``model``, ``minutes``, ``area``, ``candidates``, ``close``...)."""
        if points is not None:
            kw.setdefault("candidates", "file")
        return self.siting.propose(self.scope, self.siting_params(k=k, **kw), points)

    def layer(self, name: str, area: str | None = None) -> gpd.GeoDataFrame:
        """One stored layer in scope (``areas``, ``grids``, ``dwellings``, ``stations``, ``streets``), EPSG:4326."""
        from api.db.export import layer_frame

        with self.engine.connect() as conn:
            return layer_frame(conn, name, self.scope, area=area)


def _is_empty(engine: Engine) -> bool:
    with engine.connect() as conn:
        return not conn.execute(text("SELECT EXISTS (SELECT 1 FROM areas)")).scalar()


def open_database(url: str | None = None, *, home: Path | str | None = None, sample: Path | str | None = SAMPLE,
                  scope: Jurisdiction = EVERYWHERE, settings: Settings | None = None) -> Database:
    """Open gridmap's database for a notebook (module docstring).

    Parameters
    ----------
    url : str, optional
        Your own PostGIS (``postgresql://user:password@host/db``).  Default: ``GRIDMAP_DATABASE_URL``
        when set, else gridmap's embedded cluster, started on demand.
    home : path, optional
        Data directory of the embedded cluster (default ``GRIDMAP_HOME``).
    sample : path or None
        GeoPackage loaded when the database holds no area (None: never load).
    scope : Jurisdiction
        The jurisdiction the short-cuts read.
    settings : Settings, optional
        Settings to start from (default: the environment's).
    """
    from api.db.engine import make_engine, migrate, resolve_url
    from api.imports import load_sample

    s = settings or Settings()
    if home is not None:
        s = s.model_copy(update={"home": Path(home)})
    if url is not None:
        s = s.model_copy(update={"database_url": url})
    migrate(s)  # as the schema's owner; the notebook itself works as the application's role
    engine = make_engine(resolve_url(s))
    loaded = {}
    if sample is not None and _is_empty(engine):
        t0 = time.perf_counter()
        reports = load_sample(engine, sample, s)
        loaded = {layer: int(getattr(r, "inserted", 0)) for layer, r in reports.items()}
        loaded["seconds"] = round(time.perf_counter() - t0, 1)
    cov = CoverageService.from_settings(engine, s, warm_polygons=False)
    return Database(engine=engine, settings=s, coverage=cov, siting=SitingService.from_settings(cov, s), scope=scope,
                    loaded=loaded)


def offline_html(m) -> str:
    """A folium map as one self-contained HTML page: rendered as the app's pages are
    (:func:`api.pages.base.render_page`, every asset the vendored file) and then each vendored
    script and stylesheet inlined, so the page needs neither the app nor the internet."""
    import re

    from api.pages.base import STATIC_DIR, render_page

    page = render_page(m, "gridmap")

    def script(match: re.Match) -> str:
        path = STATIC_DIR / match.group(1)[len("/static/"):]
        return "<script>" + path.read_text(encoding="utf-8").replace("</script", "<\\/script") + "</script>"

    def style(match: re.Match) -> str:
        path = STATIC_DIR / match.group(1)[len("/static/"):]
        return "<style>" + path.read_text(encoding="utf-8") + "</style>"

    page = re.sub(r'<script[^>]*src="(/static/[^"]+)"[^>]*>\s*</script>', script, page)
    page = re.sub(r'<link[^>]*href="(/static/[^"]+\.css)"[^>]*/?>', style, page)
    return page


def show_map(m, height: int = 520):
    """Display a folium map in a notebook offline (:func:`offline_html` in an iframe)."""
    import html

    from IPython.display import HTML

    doc = html.escape(offline_html(m), quote=True)
    return HTML(f'<div><iframe srcdoc="{doc}" style="width:100%;height:{height}px;border:none"></iframe></div>')


def chinese_font() -> str | None:
    """Let matplotlib draw Chinese labels: the first installed CJK font (``fonts-wqy-microhei`` from
    ``scripts/setup.sh``) goes first in ``font.sans-serif``; returns its name, None when none is installed."""
    import matplotlib
    from matplotlib import font_manager

    names = {f.name for f in font_manager.fontManager.ttflist}
    for name in ("WenQuanYi Micro Hei", "Noto Sans CJK SC", "Source Han Sans SC", "SimHei", "Microsoft YaHei"):
        if name in names:
            matplotlib.rcParams["font.sans-serif"] = [name, *matplotlib.rcParams["font.sans-serif"]]
            matplotlib.rcParams["axes.unicode_minus"] = False
            return name
    return None
