"""Maps people can read, in headless Chromium: zoomed in, the overview shows the streets (by class,
loaded for the view) and grid labels (code and households, checked against the sample); zoomed out
the labels hide and the streets stay away; the scale bar is metric only; the coverage map opens on
grid coverage and gaps with service areas and dwellings off, and its legend uses each colour once."""

from __future__ import annotations

import re

import pytest
from tests.support.browser import MAP_READY, open_page, screenshot
from tests.support.db import truncate
from tests.support.sample import load_sample

MAP = "Object.values(window).find(v => v instanceof L.Map)"


@pytest.fixture(scope="module")
def sample(engine):
    """The 3,000-household sample, loaded once for the module (its tests only read)."""
    truncate(engine)
    return load_sample(engine, 3000, seed=6)


#: Pixels of the streets pane's canvas tiles painted in the residential colour (189, 179, 165).
RESIDENTIAL_PIXELS = """() => {
  let n = 0;
  document.querySelectorAll('.leaflet-gridmap-streets-pane canvas').forEach(c => {
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    for (let i = 0; i < d.length; i += 4) {
      if (d[i + 3] > 200 && Math.abs(d[i] - 189) < 4 && Math.abs(d[i + 1] - 179) < 4 && Math.abs(d[i + 2] - 165) < 4) n++;
    }
  });
  return n;
}"""


def _zoom(page, lat, lon, z):
    page.evaluate(f"([lat, lon, z]) => {MAP}.setView([lat, lon], z, {{animate: false}})", [lat, lon, z])
    page.wait_for_timeout(300)
    page.wait_for_function("gridmap.pending === 0", timeout=30_000)


@pytest.mark.browser
def test_zoomed_in_streets_and_labels(server, browser, sample):
    grids = sample["grids"]
    households = sample["dwellings"].groupby("grid_code")["households"].sum()
    target = grids.iloc[len(grids) // 2]
    c = target.geometry.representative_point()
    url = server
    page, report = open_page(browser, url + "/map", ready=MAP_READY)
    try:
        report.assert_clean()
        _zoom(page, c.y, c.x, 12)  # the whole district: no labels shown, no streets fetched
        assert page.evaluate("gridmap.features['道路']") == 0
        assert not page.locator(".gridmap-label").first.is_visible()
        scale = page.locator(".leaflet-control-scale-line").all_inner_texts()
        assert len(scale) == 1 and re.fullmatch(r"\d+ k?m", scale[0].strip()), scale
        asked = []
        page.on("request", lambda r: asked.append(r.url))
        _zoom(page, c.y, c.x, 16)
        n_streets = page.evaluate("gridmap.features['道路']")
        assert n_streets > 0
        # the streets come as vector tiles with their class only, never as GeoJSON pages
        streets = [u for u in asked if "/collections/streets/" in u]
        assert streets and all("/tiles/WebMercatorQuad/16/" in u and u.endswith("?properties=road_class")
                               for u in streets), streets
        # residential streets drawn in their colour (#bdb3a5) on the streets' canvas tiles
        assert page.evaluate(RESIDENTIAL_PIXELS) > 0
        labels = [t for t in page.locator(".gridmap-label").all_inner_texts() if t.strip()]
        assert page.locator(".gridmap-label").first.is_visible()
        text = {t.split("\n")[0].strip(): t for t in labels}
        assert target["code"] in text
        assert f"{int(households[target['code']]):,} 户" in text[target["code"]]
        scale = page.locator(".leaflet-control-scale-line").inner_text()
        assert re.fullmatch(r"\d+ m", scale.strip()), scale
        screenshot(page, "map-zoomed-test")
    finally:
        page.context.close()


@pytest.mark.browser
def test_coverage_map_defaults(server, browser, sample):
    url = server
    page, report = open_page(browser, url + "/coverage/map", ready=MAP_READY, timeout_ms=60_000)
    try:
        report.assert_clean()
        boxes = {page.locator(".leaflet-control-layers-overlays label").nth(i).inner_text().strip():
                 page.locator(".leaflet-control-layers-overlays label").nth(i).locator("input").is_checked()
                 for i in range(page.locator(".leaflet-control-layers-overlays label").count())}
        assert boxes["网格覆盖率"] and boxes["覆盖盲区"]
        assert not boxes["站点服务范围"] and not boxes["住宅 (是否覆盖)"]
        colours = page.evaluate(
            "Array.from(document.querySelectorAll('.gridmap-legend .swatch')).map(s => s.style.background)")
        assert len(colours) == len(set(colours)) > 5, colours
    finally:
        page.context.close()


@pytest.mark.browser
def test_map_opens_on_the_whole_extent(server, browser, sample):
    """A small window: the overview opens fitted on the district's areas (well below the streets' zoom),
    no layer's zoom range pulls the map in, and no street tile is asked for."""
    x0, y0, x1, y1 = sample["areas"].total_bounds
    page, report = open_page(browser, server + "/map", ready=MAP_READY, viewport=(160, 120))
    try:
        report.assert_clean()
        fit = page.evaluate(f"b => {MAP}.getBoundsZoom(L.latLngBounds(b))", [[y0, x0], [y1, x1]])
        zoom = page.evaluate(f"{MAP}.getZoom()")
        assert fit < 13.5 and abs(zoom - fit) <= 0.5, (zoom, fit)
        asked = page.evaluate("performance.getEntriesByType('resource').map(e => e.name)")
        assert not [u for u in asked if "/collections/streets/" in u]
    finally:
        page.context.close()
