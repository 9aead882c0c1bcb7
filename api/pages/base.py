"""Offline Folium: every map page's JS/CSS is served by the app, the basemap is a setting.

folium (and branca) point each page at CDNs.  Importing this module rewrites the class-level
``default_js``/``default_css`` of :class:`folium.Map` and of every other
``folium.elements.JSCSSMixin`` subclass (all plugins) to the files vendored under
``api/static/vendor`` by ``scripts/vendor_assets.sh``.  :func:`page_response` checks the rendered
page once more: a ``<script>``/``<link>`` that still points off the app, or at a vendored file that
does not exist, raises instead of shipping a page that breaks on an intranet.

Page modules use :func:`offline_map`, :class:`RemoteGeoJson` (a layer the browser fills from the
features API, page by page), :func:`add_legend`, :func:`add_title` and :func:`page_response`.
"""

from __future__ import annotations

import html
import importlib
import pkgutil
import re
from pathlib import Path

import folium
import folium.plugins
from branca.element import Element, Figure, MacroElement
from fastapi.responses import HTMLResponse
from folium.elements import JSCSSMixin
from folium.map import Layer
from folium.template import Template

from api import i18n
from api.settings import Settings

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
VENDOR_URL = "/static/vendor/"
MISSING_URL = VENDOR_URL + "_missing/"

#: The tail of each folium/branca CDN URL (package, version, file; hosts left out on purpose) ->
#: file under ``api/static/vendor`` (``None``: dropped, see vendor/README.md).
VENDORED: dict[str, str | None] = {
    "/leaflet@1.9.3/dist/leaflet.js": "leaflet/leaflet.js",
    "/leaflet@1.9.3/dist/leaflet.css": "leaflet/leaflet.css",
    "/jquery-3.7.1.min.js": "jquery/jquery.min.js",
    "/jquery/3.7.1/jquery.min.js": "jquery/jquery.min.js",
    "/bootstrap@5.2.2/dist/js/bootstrap.bundle.min.js": "bootstrap/js/bootstrap.bundle.min.js",
    "/bootstrap@5.2.2/dist/css/bootstrap.min.css": "bootstrap/css/bootstrap.min.css",
    "/@fortawesome/fontawesome-free@6.2.0/css/all.min.css": "fontawesome-free/css/all.min.css",
    "/Leaflet.awesome-markers/2.0.2/leaflet.awesome-markers.js": "leaflet.awesome-markers/leaflet.awesome-markers.js",
    "/Leaflet.awesome-markers/2.0.2/leaflet.awesome-markers.css":
        "leaflet.awesome-markers/leaflet.awesome-markers.css",
    "/bootstrap/3.0.0/css/bootstrap-glyphicons.css": None,
    "/folium/templates/leaflet.awesome.rotate.min.css": None,
    "/leaflet.markercluster/1.1.0/leaflet.markercluster.js": "leaflet.markercluster/leaflet.markercluster.js",
    "/leaflet.markercluster/1.1.0/MarkerCluster.css": "leaflet.markercluster/MarkerCluster.css",
    "/leaflet.markercluster/1.1.0/MarkerCluster.Default.css": "leaflet.markercluster/MarkerCluster.Default.css",
    "/leaflet.draw/1.0.2/leaflet.draw.js": "leaflet-draw/leaflet.draw.js",
    "/leaflet.draw/1.0.2/leaflet.draw.css": "leaflet-draw/leaflet.draw.css",
    "/folium/templates/leaflet_heat.min.js": "folium/leaflet_heat.min.js",
    "/folium/templates/pa7_hm.min.js": "folium/pa7_hm.min.js",
    "/folium/templates/pa7_leaflet_hm.min.js": "folium/pa7_leaflet_hm.min.js",
    "/iso8601-js-period@0.2.1/iso8601.min.js": "iso8601-js-period/iso8601.js",
    "/leaflet-timedimension@1.1.1/dist/leaflet.timedimension.min.js":
        "leaflet-timedimension/leaflet.timedimension.min.js",
    "/leaflet-timedimension@1.1.1/dist/leaflet.timedimension.control.css":
        "leaflet-timedimension/leaflet.timedimension.control.min.css",
    "/moment.js/2.18.1/moment.min.js": "moment/moment.min.js",
    "/jqueryui/1.10.2/jquery-ui.min.js": "jquery-ui/jquery-ui.min.js",
    "/highlight.js/8.4/styles/default.min.css": "highlight.js/styles/default.css",
    "/d3.v4.min.js": "d3/d3.min.js",
    "/d3/3.5.5/d3.min.js": "d3-v3/d3.min.js",
}

_EXTERNAL = re.compile(r"^(https?:)?//")


def local_url(url: str) -> str | None:
    """The app-served path for a CDN ``url`` (already-local paths are returned unchanged).

    ``None`` for an asset that was dropped on purpose; a URL nobody vendored maps to
    ``/static/vendor/_missing/...``, which 404s (and fails :func:`check_offline`) rather than
    reaching the internet.
    """
    if not _EXTERNAL.match(url):
        return url
    for tail, target in VENDORED.items():
        if url.endswith(tail):
            return None if target is None else VENDOR_URL + target
    return MISSING_URL + _EXTERNAL.sub("", url)


def _jscss_classes() -> list[type]:
    for mod in pkgutil.iter_modules(folium.plugins.__path__):
        importlib.import_module(f"folium.plugins.{mod.name}")
    seen: list[type] = []
    stack = [JSCSSMixin]
    while stack:
        for sub in stack.pop().__subclasses__():
            if sub not in seen:
                seen.append(sub)
                stack.append(sub)
    return seen


def make_offline() -> list[type]:
    """Point ``default_js``/``default_css`` of every ``JSCSSMixin`` subclass at app-served files.

    Idempotent and cheap; called at import and by :func:`offline_map` (so classes defined after
    this module was imported are covered too).  Returns the classes it visited.
    """
    classes = _jscss_classes()
    for cls in classes:
        for attr in ("default_js", "default_css"):
            pairs = getattr(cls, attr, None) or []
            rewritten = [(name, local_url(url)) for name, url in pairs]
            setattr(cls, attr, [(name, url) for name, url in rewritten if url is not None])
    return classes


make_offline()


class GridmapAssets(JSCSSMixin, MacroElement):
    """gridmap's own page JS/CSS (``api/static/gridmap``) and the page's translated messages."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
            gridmap.setMessages({{ this.messages|tojson }});
        {% endmacro %}
        """
    )
    default_js = [("gridmap_js", "/static/gridmap/map.js"), ("gridmap_tiles_js", "/static/gridmap/tiles.js"),
                  ("gridmap_shell_js", "/static/gridmap/shell.js")]
    default_css = [("gridmap_css", "/static/gridmap/map.css")]

    def __init__(self, lang: str | None = None, tz: str | None = None):
        super().__init__()
        self._name = "GridmapAssets"
        self.messages = {"loading": i18n.t("map.loading", lang), "failed": i18n.t("map.load_failed", lang),
                         "min": i18n.t("unit.min", lang), "yes": i18n.t("value.yes", lang),
                         "no": i18n.t("value.no", lang), "tz": tz}


class MetricScale(MacroElement):
    """Leaflet's scale bar in metres and kilometres only (folium's ``control_scale`` adds miles too)."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
            L.control.scale({metric: true, imperial: false, maxWidth: 160}).addTo({{ this._parent.get_name() }});
        {% endmacro %}
        """
    )

    def __init__(self):
        super().__init__()
        self._name = "MetricScale"


def offline_map(
    settings: Settings,
    *,
    location: tuple[float, float] | list[float] | None = None,
    zoom_start: int = 13,
    bounds: tuple[float, float, float, float] | None = None,
    lang: str | None = None,
    **kw,
) -> folium.Map:
    """A :class:`folium.Map` whose every asset is served by gridmap itself.

    Parameters
    ----------
    settings : Settings
        ``tile_url``/``tile_attribution`` give the basemap; with no ``tile_url`` (the default)
        there are no tiles, only a light background, so nothing is fetched from outside.
    location : (lat, lon), optional
        Initial centre in degrees, EPSG:4326, **latitude first** (Leaflet order).
    zoom_start : int
        Initial zoom when no ``bounds`` are given.
    bounds : (min_lon, min_lat, max_lon, max_lat), optional
        Degrees, EPSG:4326, **longitude first** as PostGIS ``ST_Extent`` and
        ``GeoDataFrame.total_bounds`` give it; the map is fitted to them.
    lang : {"zh", "en"}, optional
        Language of the page's own messages (loading, load failures).
    **kw
        Passed to :class:`folium.Map` (``max_zoom`` defaults to 19: marker clusters need one
        when there are no tiles).
    """
    make_offline()
    kw.setdefault("max_zoom", 19)
    metric_scale = kw.pop("control_scale", True)
    kw.setdefault("zoom_snap", 0.25)
    if location is None and bounds is not None:
        location = ((bounds[1] + bounds[3]) / 2, (bounds[0] + bounds[2]) / 2)
    m = folium.Map(location=location, zoom_start=zoom_start, tiles=None, **kw)
    if settings.tile_url:
        folium.TileLayer(
            tiles=settings.tile_url,
            attr=settings.tile_attribution or "basemap",
            name=i18n.t("map.basemap", lang),
            max_zoom=kw["max_zoom"],
            control=False,
        ).add_to(m)
    GridmapAssets(lang, settings.timezone).add_to(m)
    if metric_scale:
        MetricScale().add_to(m)
    if bounds is not None:
        m.fit_bounds([[bounds[1], bounds[0]], [bounds[3], bounds[2]]])
    return m


def _feature_spec(style_by, point, popup) -> dict:
    """The drawing options a GeoJSON layer and a vector-tile layer share (map.js and tiles.js read
    them alike): colour by a property, point markers, popup rows."""
    spec: dict = {}
    if style_by:
        spec["styleBy"] = {"property": style_by[0], "values": style_by[1], "default": style_by[2]}
    if point is not None:
        spec["point"] = point
    if popup:
        spec["popup"] = [list(p) for p in popup]
    return spec


class RemoteGeoJson(JSCSSMixin, Layer):
    """A GeoJSON layer the browser loads from the app's API (following ``next`` links), not embedded.

    Parameters
    ----------
    url : str
        App-relative URL of a GeoJSON FeatureCollection, e.g. ``/collections/grids/items?limit=10000``.
    name : str
        Layer name in the layer control.
    style : dict, optional
        Leaflet path options for every feature (``color``, ``weight``, ``fillColor``...).
    style_by : (property, {value: style}, default_style), optional
        Per-feature style chosen by one property's value.
    point : dict, optional
        Draw points as ``L.circleMarker`` with these options (``radius``...).
    popup : list of (property, label) or (property, label, format), optional
        Popup table rows; ``format`` is how ``map.js`` shows the value to people: ``"pct"``
        (0-100, one decimal and %), ``"ratio"`` (0-1 as %), ``"s2min"`` (seconds as minutes),
        ``"min"``, ``"date"`` (local date in ``GRIDMAP_TIMEZONE``), ``"int"`` or
        ``{"enum": {value: name}}``.
    tooltip : str, optional
        Property shown on hover.
    pane : (name, z-index), optional
        Leaflet pane to draw in: layers load in any order, panes fix what lies on top
        (Leaflet's overlay pane is 400, markers 600, popups 700).
    cluster : bool
        Put points in a marker cluster group (Leaflet.markercluster, vendored).
    label : (template, min_zoom), optional
        A permanent label on each feature from ``min_zoom`` on; ``template`` holds ``{property}``
        placeholders and ``\n`` line breaks.
    min_zoom : int, optional
        Draw the layer only from this zoom on, loading the features of the view (``bbox``) as the
        map moves instead of the whole layer at once (streets).
    """

    _template = Template(
        """
        {% macro script(this, kwargs) %}
            var {{ this.get_name() }} = gridmap.remoteLayer({{ this.spec|tojson }}, {{ this._parent.get_name() }});
        {% endmacro %}
        """
    )

    def __init__(self, url: str, name: str, *, style: dict | None = None,
                 style_by: tuple[str, dict, dict] | None = None, point: dict | None = None,
                 popup: list[tuple[str, str]] | None = None, tooltip: str | None = None,
                 pane: tuple[str, int] | None = None, cluster: bool = False,
                 cluster_options: dict | None = None, show: bool = True,
                 label: tuple[str, int] | None = None, min_zoom: int | None = None, control: bool = True):
        super().__init__(name=name, overlay=True, control=control, show=show)
        self._name = "RemoteGeoJson"
        spec: dict = {"url": url, "name": name, "style": style or {}, "cluster": cluster}
        if label:
            spec["label"] = {"template": label[0], "minZoom": label[1]}
        if min_zoom is not None:
            spec["viewport"] = {"minZoom": min_zoom}
        spec.update(_feature_spec(style_by, point, popup))
        if tooltip:
            spec["tooltip"] = tooltip
        if pane:
            spec["pane"], spec["paneZ"] = pane
        if cluster:
            spec["clusterOptions"] = cluster_options or {}
            self.default_js = list(folium.plugins.MarkerCluster.default_js)
            self.default_css = list(folium.plugins.MarkerCluster.default_css)
        self.spec = spec


class VectorTiles(JSCSSMixin, Layer):
    """A layer drawn from the app's vector tiles (OGC API Tiles, Mapbox vector tiles, ``api.ogc``) on
    canvas (``/static/gridmap/tiles.js``): large layers (a county's grids, streets, dwellings) reach
    the browser tile by tile, never as one GeoJSON.

    Parameters
    ----------
    collection : str
        Collection id (``grids``, ``streets``, ``dwellings``...).
    name : str
        Layer name in the layer control (and the key of ``gridmap.features``: features in the loaded
        tiles, each counted once by ``key``).
    properties : list of str, optional
        The properties the tiles carry (only what the style needs: smaller, faster tiles).
    style, style_by, point, pane
        As :class:`RemoteGeoJson`.
    popup : list, optional
        Popup rows (as :class:`RemoteGeoJson`); a click asks ``/collections/{collection}/items`` for
        the feature under the pointer, with all its properties.
    key : str, optional
        The property naming a feature (``code``, ``source_id``).
    min_zoom : int, optional
        Drawn from this zoom on.
    join : dict, optional
        Figures from another answer merged into each feature (``tiles.js``): ``url`` (app-relative,
        JSON), ``rows`` (the member holding the list of rows), ``key`` (the property shared by the
        rows and the tiles, e.g. ``code``) and ``derive`` (``{name: {"property": p, "floors":
        [[floor, value], ...], "default": v}}``: a property named by the first floor ``p`` reaches).
        Only the features with a row are counted and styled by ``style_by``; popups show the row too.
    """

    _template = Template(
        """
        {% macro script(this, kwargs) %}
            var {{ this.get_name() }} = gridmap.tileLayer({{ this.spec|tojson }}, {{ this._parent.get_name() }});
        {% endmacro %}
        """
    )

    def __init__(self, collection: str, name: str, *, properties: list[str] | None = None,
                 style: dict | None = None, style_by: tuple[str, dict, dict] | None = None,
                 point: dict | None = None, popup: list | None = None, key: str | None = None,
                 pane: tuple[str, int] | None = None, min_zoom: int | None = None, show: bool = True,
                 control: bool = True, join: dict | None = None):
        super().__init__(name=name, overlay=True, control=control, show=show)
        self._name = "VectorTiles"
        spec: dict = {"collection": collection, "name": name, "style": style or {}}
        if properties:
            spec["properties"] = list(properties)
        spec.update(_feature_spec(style_by, point, popup))
        if key:
            spec["key"] = key
        if pane:
            spec["pane"], spec["paneZ"] = pane
        if min_zoom is not None:
            spec["minZoom"] = min_zoom
        if join:
            spec["join"] = join
        self.spec = spec


def nav_html(lang: str | None) -> str:
    """The shell's navigation: a link home and the language switch (``a[data-lang]``, whose
    ``href`` ``/static/gridmap/shell.js`` rewrites to the current address with ``lang`` set)."""
    cur = i18n.normalise(lang) or i18n.DEFAULT_LANG
    links = []
    for code in i18n.LANGS:
        mark = ' aria-current="true" class="current"' if code == cur else ""
        links.append(f'<a data-lang="{code}" href="?lang={code}" hreflang="{code}"{mark}>'
                     f'{html.escape(i18n.t("lang.name", code))}</a>')
    switch = "".join(links)
    return (f'<a class="gridmap-home" href="/">{html.escape(i18n.t("nav.home", lang))}</a>'
            f'<span class="gridmap-lang" title="{html.escape(i18n.t("nav.language", lang), quote=True)}">{switch}</span>')


#: Streets by class (``geo.layers.ROAD_CLASSES``): colour and width in pixels; drawn from
#: :data:`STREETS_MIN_ZOOM` on, under the labels and stations, never catching clicks.
STREET_STYLES: dict[str, dict] = {
    "motorway": {"color": "#8c6d46", "weight": 4.5},
    "primary": {"color": "#9c8262", "weight": 4},
    "secondary": {"color": "#a89479", "weight": 3.2},
    "tertiary": {"color": "#b3a48f", "weight": 2.6},
    "residential": {"color": "#bdb3a5", "weight": 2},
    "service": {"color": "#c8c0b5", "weight": 1.4},
    "path": {"color": "#b9ad9c", "weight": 1.2, "dashArray": "4 3"},
    "footway": {"color": "#b9ad9c", "weight": 1, "dashArray": "2 3"},
}
STREETS_MIN_ZOOM = 14
#: Grid labels (code and households) from this zoom on.
LABELS_MIN_ZOOM = 15


def add_streets(m: folium.Map, lang: str | None = None) -> VectorTiles:
    """The streets layer of every map, by road class, drawn from the streets' vector tiles (only
    ``road_class`` in them) from zoom 14 on, so the map stays readable zoomed in with no basemap and
    a city's streets never travel as GeoJSON."""
    layer = VectorTiles(
        "streets", i18n.t("layer.streets", lang), properties=["road_class"],
        style={"opacity": 0.95, "lineCap": "round"},
        style_by=("road_class", STREET_STYLES, {"color": "#c8c0b5", "weight": 1.2}),
        pane=("gridmap-streets", 412), min_zoom=STREETS_MIN_ZOOM,
    )
    layer.add_to(m)
    return layer


def grid_label(lang: str | None = None) -> tuple[str, int]:
    """The label of a grid (``code``, ``households``) and the zoom it shows from, for ``label=``."""
    return i18n.t("grid.label", lang), LABELS_MIN_ZOOM


def add_grid_labels(m: folium.Map, lang: str | None = None) -> RemoteGeoJson:
    """Grid labels alone (code and households, from :data:`LABELS_MIN_ZOOM` on), for the pages whose
    grids come as tiles or embedded without them; not in the layer control.  Only the grids in view
    are loaded, and only from that zoom on (a county's grids with their households never travel)."""
    layer = RemoteGeoJson(
        "/collections/grids/items?limit=10000&properties=code,households", i18n.t("layer.grid_labels", lang),
        style={"stroke": False, "fill": False, "interactive": False}, pane=("gridmap-grid-labels", 404),
        label=grid_label(lang), control=False, min_zoom=LABELS_MIN_ZOOM,
    )
    layer.add_to(m)
    return layer


def add_title(m: folium.Map, text: str, lang: str | None = None,
              downloads: list[tuple[str, str]] | None = None) -> None:
    """A heading box over the map's top-left corner, with the link home and the language switch,
    and a line of download buttons (``(label, url)``: the page's tables as Excel or CSV)."""
    dl = ""
    if downloads:
        links = " ".join(f'<a class="gridmap-download" href="{html.escape(url, quote=True)}" download>'
                         f"{html.escape(label)}</a>" for label, url in downloads)
        dl = f'<div class="gridmap-downloads">{html.escape(i18n.t("nav.download", lang))}: {links}</div>'
    m.get_root().html.add_child(Element(
        f'<div class="gridmap-title"><nav class="gridmap-nav">{nav_html(lang)}</nav>'
        f'<h1>{html.escape(text)}</h1>{dl}</div>'))


def add_legend(m: folium.Map, title: str, items: list[tuple[str, str]]) -> None:
    """A fixed legend box: ``items`` are ``(css colour, label)`` pairs, drawn as swatches."""
    rows = "".join(
        f'<li><span class="swatch" style="background:{html.escape(color, quote=True)}"></span>'
        f"{html.escape(label)}</li>"
        for color, label in items
    )
    m.get_root().html.add_child(
        Element(f'<div class="gridmap-legend"><h4>{html.escape(title)}</h4><ul>{rows}</ul></div>')
    )


_LINK_RE = re.compile(r"""(<(?:script[^>]*\ssrc|link[^>]*\shref)\s*=\s*["'])([^"']+)(["'])""", re.I)
_ASSET_RE = re.compile(r"""<(?:script[^>]*\ssrc|link[^>]*\shref)\s*=\s*["']([^"']+)["']""", re.I)


def check_offline(page: str) -> list[str]:
    """Every script/stylesheet a page loads; raises if one is off-app or missing on disk.

    Raises
    ------
    RuntimeError
        Naming each ``http(s)://`` or protocol-relative asset, and each ``/static/...`` asset
        that is not a file under ``api/static``.
    """
    assets = _ASSET_RE.findall(page)
    bad = [a for a in assets if _EXTERNAL.match(a)]
    bad += [
        a for a in assets
        if a.startswith("/static/") and not (STATIC_DIR / a[len("/static/"):].split("?")[0]).is_file()
    ]
    if bad:
        raise RuntimeError(
            "page would load assets the app does not serve (vendor them with "
            "scripts/vendor_assets.sh and map them in api.pages.base.VENDORED): " + ", ".join(bad)
        )
    return assets


def render_page(m: folium.Map, title: str, lang: str | None = None) -> str:
    """The page's HTML, checked; any CDN link rendered outside the class lists (branca's colormap
    adds d3 by hand) is swapped for the vendored file first."""
    make_offline()
    root = m.get_root()
    assert isinstance(root, Figure)
    root.title = html.escape(title)
    page = root.render()

    def _local(match: re.Match) -> str:
        url = match.group(2)
        local = local_url(url) if _EXTERNAL.match(url) else None
        return match.group(0) if local is None else match.group(1) + local + match.group(3)

    page = _LINK_RE.sub(_local, page)
    page = page.replace("<html>", f'<html lang="{i18n.normalise(lang) or i18n.DEFAULT_LANG}">', 1)
    check_offline(page)
    return page


def page_response(m: folium.Map, title: str, lang: str | None = None) -> HTMLResponse:
    """Render ``m`` as a complete, offline-checked HTML page."""
    return HTMLResponse(render_page(m, title, lang))


def shell_page(title: str, body: str, lang: str | None = None, *, heading: str | None = None) -> str:
    """A complete page that is not a map (the home page, error pages) in the one shell: header with
    the link home and the language switch, ``<main>`` holding ``body`` (HTML, already escaped).
    Offline-checked like the map pages."""
    code = i18n.normalise(lang) or i18n.DEFAULT_LANG
    page = (
        f'<!DOCTYPE html><html lang="{code}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title>"
        '<link rel="stylesheet" href="/static/gridmap/page.css">'
        '<script src="/static/gridmap/shell.js" defer></script></head>'
        f'<body class="gridmap-page"><header class="gridmap-header"><nav class="gridmap-nav">{nav_html(code)}</nav>'
        f"</header><main><h1>{html.escape(heading or title)}</h1>{body}</main></body></html>"
    )
    check_offline(page)
    return page


def error_page(status: int, title: str, detail: str, lang: str | None = None, *, problems=None,
               back: str | None = None) -> HTMLResponse:
    """A page for a browser that asked for something that cannot be shown (an unknown area, a wrong
    filter): the message (and each problem's field) in the shell, a link back to the page without
    its parameters, with the HTTP ``status``."""
    rows = "".join(
        f"<li>{html.escape(i18n.t('error.field', lang, field=p.field))}: {html.escape(i18n.detail(p.reason, lang))}</li>"
        if p.field else f"<li>{html.escape(i18n.detail(p.reason, lang))}</li>"
        for p in (problems or [])
    )
    body = f'<p class="gridmap-error-detail">{html.escape(detail)}</p>'
    if rows:
        body += f'<ul class="gridmap-error-problems">{rows}</ul>'
    if back and back != "/":
        body += f'<p><a class="gridmap-back" href="{html.escape(back, quote=True)}">{html.escape(i18n.t("nav.back_page", lang))}</a></p>'
    body += f'<p><a href="/">{html.escape(i18n.t("nav.back_home", lang))}</a></p>'
    return HTMLResponse(shell_page(title, body, lang), status_code=status)
