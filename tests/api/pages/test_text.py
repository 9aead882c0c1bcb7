"""Every page, in Chinese and in English, in headless Chromium: no text on it that the catalogue
(api/locale/*.po) does not hold: what is left of each visible line once the catalogue's strings of
that language (templates as patterns), numbers, codes and a few neutral names are taken out must
hold no letter (Latin or CJK).  A hotspot popup is opened too (its class was English on the
Chinese page).  Screenshots of the home page and a zoomed-in map in both languages are saved."""

from __future__ import annotations

import re

import pytest
from tests.support.browser import open_page, screenshot
from tests.support.db import truncate

from api import i18n
from api.imports import import_frame
from api.settings import Settings
from geo.sample import make_district

READY = "window.gridmap && gridmap.pending === 0"
PAGES = ["/", "/map", "/coverage/map", "/incidents/heatmap", "/incidents/hotspots/map?min_incidents=5"]
#: names that are the same in every language (products, formats, the map library's credit, units)
NEUTRAL = ("gridmap", "Leaflet", "OpenAPI", "GeoPackage", "GeoJSON", "Excel", "CSV", "JSON", "Getis-Ord", "Gi*",
           "FDR", "km", "m")


@pytest.fixture(scope="module")
def sample(engine):
    """A 3,000-household district with incidents, loaded once for the module (its tests only read)."""
    truncate(engine)
    layers = make_district(3000, seed=2, incidents=600)
    with engine.begin() as conn:
        for layer in ("areas", "grids", "streets", "stations", "dwellings", "incidents"):
            import_frame(conn, layer, layers[layer], Settings())
    return layers


def _patterns(lang: str) -> list[re.Pattern]:
    texts = {v[lang] for v in i18n.CATALOGUE.values() if v.get(lang)}
    texts |= {i18n.t("lang.name", other) for other in i18n.LANGS}  # the switch names each language in itself
    out = []
    for text in texts:
        for part in text.split("\n"):
            pieces = re.split(r"\{\w+(?::[^}]*)?\}", part.strip())
            literal = "".join(pieces).strip()
            if literal:
                out.append((len(literal), re.compile(r"\S*".join(re.escape(p) for p in pieces))))
    return [rx for _, rx in sorted(out, key=lambda x: -x[0])]  # the longest literal text first


def stray(lines: list[str], lang: str) -> list[str]:
    """The lines whose text is not all catalogue (of ``lang``), numbers, codes or neutral names."""
    pats = _patterns(lang)
    bad = []
    for line in lines:
        rests = []
        # catalogue texts first (they may contain neutral names), or neutral names first (a short
        # catalogue text, a unit such as "k", must not cut a name): clean if either explains the line
        for order in ((pats, NEUTRAL), (NEUTRAL, pats)):
            rest = line
            for step in order:
                for x in step:
                    rest = x.sub(" ", rest) if isinstance(x, re.Pattern) else rest.replace(x, " ")
            rest = re.sub(r"[0-9A-Z][0-9A-Z_\-]*[0-9]\b|\b[0-9.,:%–\-+/]+\b", " ", rest)
            rests.append(rest)
        if all(re.search(r"[A-Za-z\u4e00-\u9fff]", r) for r in rests):
            bad.append(f"{line!r} -> {rests[0].strip()!r}")
    return bad


def popup_lines(page) -> set[str]:
    """Lines of popups open on the page (their values are data; they are checked row by row)."""
    return {ln.strip() for el in page.locator(".leaflet-popup-content").all() for ln in el.inner_text().splitlines()}


def _lines(page) -> list[str]:
    text = page.evaluate("document.body.innerText")
    return [ln.strip() for ln in text.splitlines() if ln.strip()]


@pytest.mark.browser
@pytest.mark.parametrize("lang,locale", [("zh", "zh-CN"), ("en", "en-US")])
def test_every_page_speaks_one_language(server, browser, sample, lang, locale):
    found = {}
    url = server
    for path in PAGES:
        page, report = open_page(browser, url + path, locale=locale, timeout_ms=60_000,
                                 ready=None if path == "/" else READY)
        try:
            report.assert_clean()
            assert page.evaluate("document.documentElement.lang") == lang
            lines = [ln for ln in _lines(page) if ln not in popup_lines(page)]
            if "hotspots" in path:  # a unit's popup: its class in words of the page's language
                page.locator(".leaflet-gridmap-labels-pane, path.leaflet-interactive").first.wait_for()
                page.evaluate("""() => { const map = Object.values(window).find(v => v instanceof L.Map);
                    map.eachLayer(l => { if (l.feature && l.getPopup && l.getPopup() && !window._opened) {
                        l.openPopup(); window._opened = true; } }); }""")
                page.wait_for_selector(".leaflet-popup-content table")
                popup = page.locator(".leaflet-popup-content").inner_text()
                # a popup row is label <tab> value: the labels are the page's, the values data (names)
                # except the class, which is the page's words too
                rows = [r.split("\t") for r in popup.splitlines() if r.strip()]
                lines += [r[0] for r in rows] + [r[1] for r in rows if r[0] == i18n.t("incidents.f.class", lang)]
                assert (i18n.t("incidents.f.class", lang)) in popup
            found[path] = stray(lines, lang)
            if path == "/":
                screenshot(page, f"home-{lang}")
        finally:
            page.context.close()
    assert not any(found.values()), found


def test_the_filter_catches_stray_text():
    """The check itself: the hotspot legend of before (English on the Chinese page) is caught."""
    assert stray(["hot 99%", "not significant"], "zh")
    assert stray(["网格总览图"], "en")
    assert not stray(["网格总览图", "8 分钟服务圈覆盖图", "200 m", "320281001001-01"], "zh")
    assert not stray(["Grid overview map", "Leaflet"], "en")
