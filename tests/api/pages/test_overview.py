"""/map in headless Chromium with the network limited to 127.0.0.1: it loads, draws, fetches nothing
from outside; and the offline machinery of api.pages.base holds for every folium plugin."""

from __future__ import annotations

import json
import re

import folium
import folium.plugins
import pytest
import shapely

from api import i18n
from api.pages import base

from tests.support.browser import MAP_READY, live_server, open_page, screenshot
from tests.support.features import seed



@pytest.mark.browser
def test_map_renders_offline(db, settings, browser):
    w = seed(db, nx=6, ny=4, n_dwellings=600, n_stations=60)
    with live_server(settings) as url:
        page, report = open_page(browser, url + "/map", ready=MAP_READY)
        try:
            report.assert_clean()
            assert page.evaluate("typeof L") == "object"
            assert page.evaluate("gridmap.failed.length") == 0
            loaded = page.evaluate("gridmap.features")
            n_grids = len(w.grid_cells)
            # the grids are vector tiles drawn on canvas (every grid counted once across tiles, below);
            # the stations are still SVG circles
            assert page.locator(".leaflet-gridmap-grids-pane canvas.gridmap-vector-tile").count() >= 1
            paths = page.locator("path.leaflet-interactive").count()
            assert paths >= len(w.station_kinds)
            assert page.locator(".leaflet-control-layers-overlays label").count() >= 3 + len(set(w.station_kinds))
            assert page.locator(".gridmap-legend li").count() == 3 + len(set(w.station_kinds))
            assert "网格总览图" in page.title()
            # clicking inside a grid (not on a station) opens its popup with its household count
            pts = shapely.points(w.points)
            for code, cell in w.grid_cells.items():
                c = cell.centroid
                xy = page.evaluate(
                    """([lat, lon]) => {
                        const map = Object.values(window).find(v => v instanceof L.Map);
                        const p = map.latLngToContainerPoint([lat, lon]);
                        const r = map.getContainer().getBoundingClientRect();
                        const x = r.left + p.x, y = r.top + p.y;
                        const el = document.elementFromPoint(x, y);
                        // tiles take no pointer events: free means no station, control or popup there
                        return el && map.getContainer().contains(el) && !el.closest('.leaflet-interactive')
                            && !el.closest('.leaflet-control') && !el.closest('.gridmap-title')
                            && !el.closest('.gridmap-legend') ? [x, y] : null;
                    }""", [c.y, c.x])
                if xy:
                    break
            assert xy, "no grid centre was free to click"
            page.mouse.click(*xy)
            page.wait_for_selector(".leaflet-popup-content")  # asked of the features API on the click
            popup = page.locator(".leaflet-popup-content").inner_text()
            households = int(w.households[shapely.intersects(cell, pts)].sum())
            assert code in popup and f"{households:,}" in popup and "户数" in popup
            page.wait_for_timeout(400)  # the popup's fade-in
            screenshot(page, "map")  # with one grid's popup open
        finally:
            page.context.close()
    assert sum(v for k, v in loaded.items() if k == "网格") == n_grids


@pytest.mark.browser
def test_map_in_english_and_empty_database(db, settings, browser):
    with live_server(settings) as url:
        page, report = open_page(browser, url + "/map?lang=en", ready=MAP_READY, locale="en-US")
        try:
            report.assert_clean()
            assert page.title() == "Grid overview map"
            assert page.locator(".leaflet-control-layers-overlays").inner_text().count("Grids") == 1
        finally:
            page.context.close()


def test_every_folium_plugin_points_at_app_assets():
    """No JSCSSMixin subclass keeps an http(s) URL; the plugins gridmap vendors have every file."""
    classes = base.make_offline()
    assert folium.Map in classes and folium.plugins.HeatMap in classes
    for cls in classes:
        for _, url in cls.default_js + cls.default_css:
            assert not re.match(r"^(https?:)?//", url), (cls.__name__, url)
    m = base.offline_map(base.Settings(_env_file=None), bounds=(120.2, 31.8, 120.4, 31.95))
    for plugin in (folium.plugins.MarkerCluster(), folium.plugins.HeatMap([[31.9, 120.3]]),
                   folium.plugins.HeatMapWithTime([[[31.9, 120.3]]]), folium.plugins.Draw(),
                   folium.plugins.TimestampedGeoJson({"type": "FeatureCollection", "features": []}),
                   folium.plugins.TimeSliderChoropleth(
                       {"type": "FeatureCollection", "features": []}, {"0": {"1700000000": {"color": "#f00"}}})):
        plugin.add_to(m)
    __import__("branca.colormap").colormap.LinearColormap(["red", "blue"], vmin=0, vmax=1).add_to(m)
    page = base.render_page(m, "t")
    assert not re.search(r"""(src|href)=["'](https?:)?//""", page)
    assets = base.check_offline(page)
    assert "/static/vendor/leaflet/leaflet.js" in assets and "/static/vendor/d3-v3/d3.min.js" in assets


def test_unvendored_plugin_fails_loudly():
    m = base.offline_map(base.Settings(_env_file=None))
    folium.plugins.MiniMap().add_to(m)
    with pytest.raises(RuntimeError, match="MiniMap"):
        base.render_page(m, "t")


def test_basemap_is_a_setting(settings):
    none = base.render_page(base.offline_map(settings), "t")
    assert "L.tileLayer" not in none
    tiled = settings.model_copy(update={"tile_url": "http://tiles.intranet/{z}/{x}/{y}.png",
                                        "tile_attribution": "内网底图"})
    page = base.render_page(base.offline_map(tiled), "t")
    assert "http://tiles.intranet/{z}/{x}/{y}.png" in page and json.dumps("内网底图")[1:-1] in page


def test_language_from_query_header_or_setting(client, db):
    title = lambda r: re.search(r"<title>(.*?)</title>", r.text).group(1)  # noqa: E731
    assert title(client.get("/map")) == i18n.t("map.title", "zh") == "网格总览图"  # settings.language
    assert title(client.get("/map", headers={"Accept-Language": "en-GB,en;q=0.9"})) == "Grid overview map"
    assert title(client.get("/map?lang=zh", headers={"Accept-Language": "en"})) == "网格总览图"
    assert title(client.get("/map", headers={"Accept-Language": "fr, en;q=0.5, zh;q=0.8"})) == "网格总览图"
    assert i18n.accept_language("fr-FR, de;q=0.5") is None
    assert i18n.kind_label("grid_station", "en") == "Grid pioneer station"
    assert i18n.kind_label("elderly_canteen", "zh") == "elderly_canteen"


def test_catalogue_complete_and_extensible():
    for key, texts in i18n.CATALOGUE.items():
        assert all(texts.get(lang) for lang in i18n.LANGS), key
    i18n.add({"test.hello": {"zh": "你好 {who}", "en": "Hello {who}"}})
    assert i18n.t("test.hello", "en", who="grid") == "Hello grid"
    with pytest.raises(ValueError):
        i18n.add({"test.half": {"zh": "只有中文"}})
    with pytest.raises(KeyError):
        i18n.t("no.such.key")


@pytest.mark.browser
def test_api_docs_offline(db, settings, browser):
    """/docs is Swagger UI from vendored assets (create_app drops FastAPI's CDN-loading /docs)."""
    from api.app import create_app

    app = create_app(settings)
    with live_server(settings, app=app) as url:
        page, report = open_page(browser, url + "/docs", ready="document.querySelectorAll('.opblock').length > 5")
        try:
            report.assert_clean()
            assert page.locator(".opblock-summary-path", has_text="/collections/{collectionId}/items").count() >= 1
        finally:
            page.context.close()


def test_page_is_kept_until_a_write_changes_what_it_shows(client, db):
    """The rendered overview is reused while areas, grids, stations and dwellings stay put (real
    PostGIS data versions); a station written through the API makes the next request draw it afresh."""
    from tests.support.features import CELL, X0, Y0

    seed(db, nx=4, ny=2, n_dwellings=100, n_stations=12)
    first = client.get("/map?lang=en")
    assert first.status_code == 200 and first.headers["x-gridmap-cache"] == "miss"
    again = client.get("/map?lang=en")
    assert again.headers["x-gridmap-cache"] == "hit" and again.text == first.text
    assert client.get("/map?lang=zh").headers["x-gridmap-cache"] == "miss"  # another language, another page
    assert "reading_room" not in first.text
    body = {"type": "Feature", "geometry": {"type": "Point", "coordinates": [X0 + CELL / 2, Y0 + CELL / 2]},
            "properties": {"source_id": "new-kind", "name": "阅览室", "kind": "reading_room"}}
    assert client.post("/stations", json=body).status_code == 201
    after = client.get("/map?lang=en")
    assert after.headers["x-gridmap-cache"] == "miss"
    assert "reading_room (1)" in after.text  # the new kind's layer, counted
    assert client.get("/map?lang=en").headers["x-gridmap-cache"] == "hit"
