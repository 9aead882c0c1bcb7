"""``api.notebook``: open_database on a URL gives the services the CLI and the API use; maps render offline."""

from __future__ import annotations

import re

import folium

from api.coverage import CoverageService
from api.jurisdiction import EVERYWHERE
from api.notebook import offline_html, open_database
from api.siting import SitingParams, SitingService


def test_open_database_on_a_url(pg_url, engine, world):
    db = open_database(pg_url)
    assert db.loaded == {}  # the database holds data: nothing loaded
    p = db.propose(2, minutes=8)
    want = SitingService(CoverageService(engine, warm_polygons=False)).propose(EVERYWHERE, SitingParams(k=2))
    assert p.as_json()["totals"] == want.as_json()["totals"]
    assert len(db.layer("grids")) == len(world["grids"])
    assert db.coverage_run().totals["households"] == int(world["dwellings"]["households"].sum())


def test_offline_html_inlines_every_asset(pg_url, world):
    from api.pages.base import offline_map

    db = open_database(pg_url)
    m = offline_map(db.settings, bounds=tuple(world["grids"].total_bounds))
    folium.GeoJson(world["grids"].iloc[:3][["code", "geometry"]].to_json()).add_to(m)
    page = offline_html(m)
    assert not re.findall(r"<script[^>]*\ssrc=", page) and not re.findall(r"<link[^>]*stylesheet", page)
    assert "L.map(" in page and "Leaflet" in page
