"""Heatmap and hotspot pages and the hotspots JSON: raw vs aggregated mode, size bound, offline
rendering in headless Chromium (screenshots for the README)."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_app

from tests.support.city import N, WINDOW, make_city


def _external_urls(page: str) -> list[str]:
    return re.findall(r"""(?:src|href)\s*=\s*["']((?:https?:)?//[^"']+)""", page)


def test_heatmap_raw_then_aggregated(db, settings):
    make_city(db, 3000)
    with TestClient(create_app(settings)) as c:
        raw = c.get("/incidents/heatmap", params={"lang": "en", **WINDOW})
    assert raw.status_code == 200 and raw.headers["x-gridmap-heatmap-mode"] == "raw"
    assert "HeatMapWithTime" in raw.text or "TDHeatmap" in raw.text
    assert "Showing the 3000 incidents as points" in raw.text and not _external_urls(raw.text)
    small = settings.model_copy(update={"heatmap_max_points": 500})
    with TestClient(create_app(small)) as c:
        agg = c.get("/incidents/heatmap", params={"lang": "en", "period": "week", **WINDOW})
        cat = c.get("/incidents/heatmap", params={"lang": "en", "category": "parking", **WINDOW})
    assert agg.headers["x-gridmap-heatmap-mode"] == "binned" and "aggregated in" in agg.text
    assert "3000 incidents" in agg.text and len(agg.content) < 2_000_000
    assert "1000 incidents" in cat.text  # i % 3 == 0 are parking


def test_aggregated_page_size_does_not_grow_with_incidents(db, settings):
    from tests.support.db import truncate

    from api.jurisdiction import EVERYWHERE
    from api.incidents.filters import IncidentFilter
    from api.incidents.heat import POINT_BUDGET, STATIC_BUDGET, heat_frames
    from api.incidents.map_data import default_window

    small = settings.model_copy(update={"heatmap_max_points": 100})
    sizes = []
    for n in (20_000, 60_000):
        truncate(db)
        make_city(db, n, seed=n)
        with db.connect() as conn:
            flt = default_window(conn, EVERYWHERE, IncidentFilter(), tz=small.timezone)
            heat = heat_frames(conn, small, EVERYWHERE, flt, period="week")
        assert heat["mode"] == "binned" and heat["n"] == n
        assert sum(len(f) for f in heat["frames"]) <= POINT_BUDGET and len(heat["window"]) <= STATIC_BUDGET
        assert sum(p[2] for f in heat["frames"] for p in f) > 0
        with TestClient(create_app(small)) as c:
            r = c.get("/incidents/heatmap", params={"period": "week"})
        assert r.headers["x-gridmap-heatmap-mode"] == "binned"
        sizes.append(len(r.content))
    assert max(sizes) < 2_000_000  # the heat layers are bounded by the budgets asserted above


def test_hotspots_json_finds_the_cluster(db, client):
    make_city(db, 3000)
    r = client.get("/incidents/hotspots", params={"level": "grid"})
    assert r.status_code == 200, r.text
    units = {u["unit"]: u for u in r.json()["units"]}
    assert len(units) == N * N and sum(u["count"] for u in units.values()) == 3000
    assert units["G11"]["bin"] == 3 and units["G11"]["classification"] == "hot 99%"
    assert all(u["bin"] <= 0 for k, u in units.items() if k in ("G77", "G67", "G76"))
    h = client.get("/incidents/hotspots", params={"level": "h3", "resolution": 9}).json()
    assert max(u["bin"] for u in h["units"]) == 3 and sum(u["count"] for u in h["units"]) == 3000
    few = client.get("/incidents/hotspots", params={"from": "2030-01-01T00:00:00Z", "to": "2030-02-01T00:00:00Z"})
    assert few.status_code == 422 and "too few incidents" in few.json()["detail"]


@pytest.mark.browser
def test_pages_render_offline_in_chromium(db, settings, browser):
    from tests.support.browser import live_server, open_page, screenshot

    make_city(db, 6000)
    small = settings.model_copy(update={"heatmap_max_points": 2000})
    b = browser
    with live_server(small) as base:
        page, report = open_page(b, base + "/incidents/heatmap?lang=en", ready="document.querySelector('canvas')")
        report.assert_clean()
        assert page.locator("path.leaflet-interactive").count() == N * N  # the choropleth
        assert page.locator(".leaflet-control-timecontrol").count() > 0  # the time slider
        assert page.locator("canvas").count() >= 1  # the heat layer
        screenshot(page, "heatmap")
        page.locator("path.leaflet-interactive").first.dispatch_event("click")  # a grid's popup
        page.wait_for_selector(".leaflet-popup-content table")
        popup = page.locator(".leaflet-popup-content").inner_text()
        assert "Households" in popup and "Per 100 households" in popup and re.search(r"G\d\d", popup)
        page.context.close()
        page, report = open_page(b, base + "/incidents/hotspots/map?lang=en")
        report.assert_clean()
        assert page.locator("path.leaflet-interactive").count() == N * N
        screenshot(page, "hotspots")
        page.context.close()
