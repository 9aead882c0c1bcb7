"""/coverage/map in headless Chromium, network limited to 127.0.0.1: it renders every layer from
the coverage API, fetches nothing from outside, and its layers agree with the API."""

from __future__ import annotations

import pytest

from api.pages.coverage import BAND_COLOURS
from tests.support.browser import MAP_READY, open_page, screenshot
from tests.support.db import truncate
from tests.support.sample import load_sample


#: The bands of grid coverage, as frames.py defines them (written out again: the test's own rule).
BAND_FLOORS = ((100, "4"), (95, "3"), (80, "2"), (50, "1"))
#: Per colour ("#rrggbb"), the pixels of the coverage grids' canvas tiles filled in it.
BAND_PIXELS = """(colours) => {
  const rgb = colours.map(c => [1, 3, 5].map(i => parseInt(c.slice(i, i + 2), 16)));
  const n = colours.map(() => 0);
  document.querySelectorAll('.leaflet-gridmap-coverage-grids-pane canvas').forEach(c => {
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    for (let i = 0; i < d.length; i += 4) {
      if (d[i + 3] < 90 || d[i + 3] > 140) continue;  // the fill (opacity 0.45), not the outline
      rgb.forEach((want, k) => {
        if (Math.abs(d[i] - want[0]) < 6 && Math.abs(d[i + 1] - want[1]) < 6 && Math.abs(d[i + 2] - want[2]) < 6) n[k]++;
      });
    }
  });
  return n;
}"""


@pytest.fixture(scope="module")
def sample(engine):
    """The 12,000-household sample, loaded once for the module (the tests only read it; the last one
    adds a closed station, which counts nowhere)."""
    truncate(engine)
    return load_sample(engine, 12000, seed=1)


@pytest.mark.browser
def test_coverage_map_renders_offline(server, browser, sample, reader):
    api = reader.get("/coverage?level=grid").json()
    gaps = reader.get("/coverage/gaps").json()
    n_st = len(sample["stations"])
    url = server
    page, report = open_page(browser, url + "/coverage/map", ready=MAP_READY, timeout_ms=60_000)
    try:
        report.assert_clean()
        assert page.evaluate("gridmap.failed.length") == 0
        loaded = page.evaluate("gridmap.features")
        assert "8 分钟服务圈覆盖图" in page.title()
        assert loaded["网格覆盖率"] == len(api["rows"])
        # the grids come as vector tiles (their code only) coloured by the JSON rows: no GeoJSON of them
        asked = page.evaluate("performance.getEntriesByType('resource').map(e => e.name)")
        assert any("/collections/grids/tiles/WebMercatorQuad/" in u and u.endswith("?properties=code") for u in asked)
        assert not any("/coverage?" in u and "format=geojson" in u for u in asked), asked
        # each band the API gives a grid is painted in its colour (bands worked out here from covered_pct)
        want = {next((b for floor, b in BAND_FLOORS if r["covered_pct"] >= floor), "0") for r in api["rows"]}
        painted = page.evaluate(BAND_PIXELS, [BAND_COLOURS[b] for b in sorted(want)])
        assert all(n > 0 for n in painted), dict(zip(sorted(want), painted))
        assert loaded["覆盖盲区"] == len(gaps["features"]) > 0
        assert loaded["站点服务范围"] == n_st
        assert loaded["住宅 (是否覆盖)"] == len(sample["dwellings"])
        assert sum(v for k, v in loaded.items() if "(" in k and k != "住宅 (是否覆盖)") == n_st
        labels = page.locator(".leaflet-control-layers-overlays label").count()
        assert labels == 5 + sample["stations"]["kind"].nunique()  # + streets
        assert page.locator(".gridmap-legend li").count() == sample["stations"]["kind"].nunique() + 3 + 5
        # dwellings are off by default (loaded, not drawn); asked for, the uncovered ones are black
        unc = sum(1 for f in reader.get("/coverage/dwellings?uncovered=true&limit=100000").json()["features"])
        assert page.locator('path.leaflet-interactive[fill="#111111"]').count() == 0
        page.locator(".leaflet-control-layers-overlays label", has_text="住宅 (是否覆盖)").locator("input").check()
        black = page.locator('path.leaflet-interactive[fill="#111111"]').count()
        assert black == unc > 0
        assert page.locator('path.leaflet-interactive[fill="#7b3294"]').count() == len(gaps["features"])
        screenshot(page, "coverage")
    finally:
        page.context.close()


@pytest.mark.browser
def test_coverage_map_english(server, browser, sample):
    url = server
    page, report = open_page(browser, url + "/coverage/map?lang=en&minutes=5", ready=MAP_READY,
                             locale="en-US", timeout_ms=60_000)
    try:
        report.assert_clean()
        assert page.title() == "5-minute service circle coverage"
        assert "Coverage gaps" in page.locator(".leaflet-control-layers-overlays").inner_text()
    finally:
        page.context.close()


@pytest.mark.browser
def test_coverage_map_markers_follow_the_filters(server, browser, sample, reader, monkeypatch):
    """Station markers and legend counts are the stations that count (kinds, at); the favicon is served;
    above MAX_PAGE_STATIONS the service areas are drawn per area only, and the page says so."""
    import api.pages.coverage as page_mod

    kinds = sample["stations"]["kind"].value_counts()
    kind = kinds.index[0]
    # a closed station of that kind: never counts today
    r = reader.post("/stations", json={"type": "Feature", "geometry": sample["stations"].geometry.iloc[0].__geo_interface__,
                                       "properties": {"source_id": "shut", "name": "已关闭", "kind": kind,
                                                      "closed_on": "2001-01-01"}})
    assert r.status_code == 201, r.text
    counted = reader.get(f"/coverage?kinds={kind}").json()["totals"]["stations_by_kind"]
    assert counted == {kind: int(kinds[kind])}  # independent: the sample's own stations of that kind
    fav = reader.get("/favicon.ico")
    assert fav.status_code == 200 and fav.headers["content-type"] == "image/x-icon" and fav.content[:4] == b"\0\0\1\0"
    url = server
    page, report = open_page(browser, url + f"/coverage/map?kinds={kind}", ready=MAP_READY, timeout_ms=60_000)
    try:
        report.assert_clean()
        loaded = page.evaluate("gridmap.features")
        label = next(k for k in loaded if k.endswith(f"({kinds[kind]})"))
        assert loaded[label] == kinds[kind]  # the closed one is not a marker
        assert sum(v for k, v in loaded.items() if k.endswith(")") and "(" in k and k != "住宅 (是否覆盖)") \
            == kinds[kind]  # no other kind drawn
        legend = page.locator(".gridmap-legend li").all_inner_texts()
        assert len(legend) == 1 + 3 + 5
        import httpx

        assert httpx.get(url + "/favicon.ico").status_code == 200  # what browsers ask every page for
    finally:
        page.context.close()
    # too many stations for the whole scope: no station areas, a note; with area= they come back
    monkeypatch.setattr(page_mod, "MAX_PAGE_STATIONS", 5)
    comm = sample["areas"][sample["areas"]["level"] == "community"]["code"].iloc[0]
    page, report = open_page(browser, url + "/coverage/map", ready=MAP_READY, timeout_ms=60_000)
    try:
        report.assert_clean()
        assert "站点服务范围" not in page.evaluate("gridmap.features")
        assert "?area=" in page.locator(".gridmap-note").inner_text()
    finally:
        page.context.close()
    page, report = open_page(browser, url + f"/coverage/map?area={comm}", ready=MAP_READY, timeout_ms=60_000)
    try:
        report.assert_clean()
        loaded = page.evaluate("gridmap.features")
        inside = reader.get(f"/coverage/areas?by=station&area={comm}").json()["features"]
        assert loaded["站点服务范围"] == len(inside) > 0
        markers = sum(v for k, v in loaded.items() if k.endswith(")") and "(" in k and k != "住宅 (是否覆盖)")
        assert markers == len(inside)
        assert page.locator(".gridmap-note").count() == 0
    finally:
        page.context.close()
