"""The home page (``/`` for browsers): what gridmap holds, in counts, and a link to every page.

Built on the one page shell of :func:`api.pages.base.shell_page`; the figures come from
:func:`api.db.holdings.holdings` (scoped to the caller), the page holds no SQL.
"""

from __future__ import annotations

import html

from api import i18n
from api.db.holdings import Holdings

#: The pages the home page links, in order: (path, title key, description key).
PAGES: tuple[tuple[str, str, str], ...] = (
    ("/map", "home.page.map", "home.page.map.what"),
    ("/coverage/map", "home.page.coverage", "home.page.coverage.what"),
    ("/incidents/heatmap", "home.page.heatmap", "home.page.heatmap.what"),
    ("/incidents/hotspots/map", "home.page.hotspots", "home.page.hotspots.what"),
    ("/plans", "home.page.plans", "home.page.plans.what"),
    ("/docs", "home.page.docs", "home.page.docs.what"),
    ("#downloads", "home.page.downloads", "home.page.downloads.what"),
)

#: Figures shown, in order: (Holdings field, label key).
FIGURES: tuple[tuple[str, str], ...] = (
    ("towns", "layer.towns"), ("communities", "layer.communities"), ("grids", "layer.grids"),
    ("households", "field.households"), ("stations", "layer.stations"), ("incidents", "layer.incidents"),
)

#: Downloads: (label key, [(format label, url)]).
DOWNLOADS: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    ("home.dl.coverage", (("CSV", "/coverage?format=csv"), ("Excel", "/coverage?format=xlsx"))),
    ("home.dl.gaps", (("GeoJSON", "/coverage/gaps"), ("Excel", "/coverage/gaps?format=xlsx"))),
    ("home.dl.stats", (("CSV", "/incidents/stats?format=csv"), ("Excel", "/incidents/stats?format=xlsx"))),
    ("home.dl.hotspots", (("JSON", "/incidents/hotspots"), ("Excel", "/incidents/hotspots?format=xlsx"))),
)
LAYER_DOWNLOADS = ("areas", "grids", "dwellings", "stations", "streets", "incidents")


def _number(n: int) -> str:
    return f"{n:,}"


def home_body(h: Holdings, lang: str) -> str:
    """The home page's ``<main>`` content for holdings ``h`` in ``lang``."""
    t = lambda key, **kw: i18n.t(key, lang, **kw)  # noqa: E731
    e = html.escape
    figures = "".join(
        f'<li class="figure" data-figure="{name}"><span class="n">{_number(getattr(h, name))}</span>'
        f'<span class="what">{e(t(key))}</span></li>'
        for name, key in FIGURES
    )
    empty = (f'<p class="gridmap-empty">{e(t("home.empty"))} <code>gridmap demo</code></p>'
             if not (h.grids or h.dwellings or h.stations or h.incidents) else "")
    pages = "".join(
        f'<li><a href="{e(path)}">{e(t(title))}</a><span class="what">{e(t(what))}</span></li>'
        for path, title, what in PAGES
    )
    tables = "".join(
        f'<li><span class="label">{e(t(label))}</span>'
        + " ".join(f'<a href="{e(url)}" download>{e(fmt)}</a>' for fmt, url in links) + "</li>"
        for label, links in DOWNLOADS
    )
    layers = "".join(
        f'<li><span class="label">{e(t("layer." + layer))}</span>'
        + " ".join(f'<a href="/export/{layer}?format={fmt}" download>{e(label)}</a>'
                   for fmt, label in (("csv", "CSV"), ("xlsx", "Excel"), ("geojson", "GeoJSON"), ("gpkg", "GeoPackage")))
        + "</li>"
        for layer in LAYER_DOWNLOADS
    )
    return (
        f'<section class="intro"><p>{e(t("home.intro"))}</p></section>'
        f'<section><h2>{e(t("home.holds"))}</h2><ul class="figures">{figures}</ul>{empty}</section>'
        f'<section><h2>{e(t("home.pages"))}</h2><ul class="pages">{pages}</ul></section>'
        f'<section id="downloads"><h2>{e(t("home.page.downloads"))}</h2>'
        f'<h3>{e(t("home.dl.tables"))}</h3><ul class="downloads">{tables}</ul>'
        f'<h3>{e(t("home.dl.layers"))}</h3><ul class="downloads">{layers}</ul></section>'
    )
