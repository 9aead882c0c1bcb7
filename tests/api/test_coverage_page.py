"""/coverage/map in headless Chromium, network limited to 127.0.0.1: it renders every layer from
the coverage API, fetches nothing from outside, and its layers agree with the API."""

from __future__ import annotations

import pytest
from browser import chromium, live_server, open_page, screenshot

from api.db.load import load_frame
from geo.sample import make_district
from geo.validate import validate_frame

READY = "window.gridmap && gridmap.started > 0 && gridmap.pending === 0"


@pytest.fixture(scope="module")
def browser():
    with chromium() as b:
        yield b


@pytest.fixture
def sample(db):
    layers = make_district(12000, seed=1, incidents=0)
    with db.begin() as conn:
        for layer in ("areas", "grids", "streets", "stations", "dwellings"):
            load_frame(conn, layer, validate_frame(layer, layers[layer]))
    return layers


@pytest.mark.browser
def test_coverage_map_renders_offline(db, settings, browser, sample, client):
    api = client.get("/coverage?level=grid").json()
    gaps = client.get("/coverage/gaps").json()
    n_st = len(sample["stations"])
    with live_server(settings) as url:
        page, report = open_page(browser, url + "/coverage/map", ready=READY, timeout_ms=60_000)
        try:
            report.assert_clean()
            assert page.evaluate("gridmap.failed.length") == 0
            loaded = page.evaluate("gridmap.features")
            assert "8 分钟服务圈覆盖图" in page.title()
            assert loaded["网格覆盖率"] == len(api["rows"])
            assert loaded["覆盖盲区"] == len(gaps["features"]) > 0
            assert loaded["站点服务范围"] == n_st
            assert loaded["住宅 (是否覆盖)"] == len(sample["dwellings"])
            assert sum(v for k, v in loaded.items() if "(" in k and k != "住宅 (是否覆盖)") == n_st
            labels = page.locator(".leaflet-control-layers-overlays label").count()
            assert labels == 4 + sample["stations"]["kind"].nunique()
            assert page.locator(".gridmap-legend li").count() == sample["stations"]["kind"].nunique() + 3 + 5
            # uncovered dwellings drawn red, covered blue, as many as the API says
            red = page.locator('path.leaflet-interactive[fill="#e31a1c"]').count()
            unc = sum(1 for f in client.get("/coverage/dwellings?uncovered=true&limit=100000").json()["features"])
            assert red == unc > 0
            assert page.locator('path.leaflet-interactive[fill="#7b3294"]').count() == len(gaps["features"])
            screenshot(page, "coverage")
        finally:
            page.context.close()


@pytest.mark.browser
def test_coverage_map_english(db, settings, browser, sample):
    with live_server(settings) as url:
        page, report = open_page(browser, url + "/coverage/map?lang=en&minutes=5", ready=READY,
                                 locale="en-US", timeout_ms=60_000)
        try:
            report.assert_clean()
            assert page.title() == "5-minute service circle coverage"
            assert "Coverage gaps" in page.locator(".leaflet-control-layers-overlays").inner_text()
        finally:
            page.context.close()
