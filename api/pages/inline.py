"""Folium layers whose data is embedded once in the page, as JSON, and never run through Jinja
(any page may use them; the incident heatmap and hotspot pages do).

branca renders each element's ``script`` macro to a string and then wraps it in a new
``Element(template=...)``, i.e. compiles the rendered script, data included, as a Jinja template
once more: for the heatmap page's ~0.7 MB of grid GeoJSON and ~0.5 MB of heat frames that second
compilation alone took ~0.25 s, and ``folium.plugins.HeatMap`` validated every point in Python
(~0.15 s).  Here the data goes into one :class:`PageData` ``<script>`` in the page head (rendered
as is) and the layers' scripts refer to it by name, so their templates stay a few hundred bytes.
"""

from __future__ import annotations

import json

import folium.plugins
from branca.element import Element
from folium.map import Layer
from folium.template import Template


def to_js_json(obj) -> str:
    """Compact JSON safe inside ``<script>`` (``<`` escaped, so no ``</script>`` can occur)."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).replace("<", "\\u003c")


class PageData(Element):
    """``<script>var NAME = {...};</script>`` in the page head; ``parts`` maps keys to JSON text
    (already serialised, e.g. with :func:`to_js_json`).  Rendered without Jinja."""

    def __init__(self, var: str, parts: dict[str, str]):
        super().__init__()
        self._name = "PageData"
        self.var = var
        self.parts = parts

    def render(self, **kwargs) -> str:
        body = ",".join(f"{json.dumps(k)}:{v}" for k, v in self.parts.items())
        return f"<script>var {self.var} = {{{body}}};</script>"

    def add_to_page(self, m: folium.Map) -> "PageData":
        m.get_root().header.add_child(self, name=self.var)
        return self


class _JsRef(str):
    """A JavaScript expression printed as is by templates that use ``{{ this.data }}``."""


class InlineGeoJson(Layer):
    """A GeoJSON layer read from ``data_ref`` (a JS expression, e.g. ``gridmapHeat.grids``): fill
    colour from each feature's ``fill`` property, a popup table of ``fields`` under ``aliases``, each
    value shown as its ``formats`` entry says (``gridmap.formatValue`` in ``map.js``)."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
            var {{ this.get_name() }} = L.geoJson({{ this.data_ref }}, {
                style: function (f) {
                    return Object.assign({}, {{ this.style|tojson }}, {fillColor: f.properties.fill});
                },
                onEachFeature: function (f, layer) {
                    layer.bindPopup(function () {
                        var esc = function (v) {
                            return String(v).replace(/[&<>"']/g, function (c) {
                                return {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c];
                            });
                        };
                        var fields = {{ this.fields|tojson }}, aliases = {{ this.aliases|tojson }};
                        var formats = {{ this.formats|tojson }};
                        var show = function (v, fmt) {
                            return window.gridmap && gridmap.formatValue ? gridmap.formatValue(v, fmt) : esc(v);
                        };
                        var rows = fields.map(function (k, i) {
                            var v = f.properties[k];
                            return "<tr><th>" + esc(aliases[i]) + "</th><td>" +
                                (v === null || v === undefined ? "" : show(v, formats[i])) + "</td></tr>";
                        });
                        return '<table class="gridmap-popup">' + rows.join("") + "</table>";
                    });
                }
            });
        {% endmacro %}
        """
    )

    def __init__(self, data_ref: str, *, name: str, fields: list[str], aliases: list[str], style: dict,
                 show: bool = True, formats: list | None = None):
        super().__init__(name=name, overlay=True, control=True, show=show)
        self._name = "InlineGeoJson"
        self.data_ref = _JsRef(data_ref)
        self.fields, self.aliases, self.style = list(fields), list(aliases), dict(style)
        #: per field, how ``gridmap.formatValue`` (map.js) shows it: "ratio", "pct", "int", ... or None
        self.formats = list(formats) if formats is not None else [None] * len(self.fields)


class HeatFrames(folium.plugins.HeatMapWithTime):
    """folium's ``HeatMapWithTime`` reading its frames from ``data_ref`` (one list of
    ``[lat, lon(, weight)]`` a frame, as many frames as ``index`` labels)."""

    def __init__(self, data_ref: str, index: list[str], **kw):
        super().__init__([[] for _ in index], index=list(index), **kw)
        self.data = _JsRef(data_ref)  # the template prints {{ this.data }} verbatim
        self.speed_slider = "false"  # its readout ("1fps") is English that no catalogue holds


class WindowHeat(folium.plugins.HeatMap):
    """folium's ``HeatMap`` (Leaflet.heat) reading ``[[lat, lon(, weight)], ...]`` from ``data_ref``."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
            var {{ this.get_name() }} = L.heatLayer(
                {{ this.data_ref }},
                {{ this.options|tojavascript }}
            );
        {% endmacro %}
        """
    )

    def __init__(self, data_ref: str, **kw):
        super().__init__([], **kw)
        self.data_ref = _JsRef(data_ref)


class RawHtml(Element):
    """HTML added to the page body as is (branca's ``Element(html)`` would run it through Jinja)."""

    def __init__(self, html: str):
        super().__init__()
        self._name = "RawHtml"
        self.html = html

    def render(self, **kwargs) -> str:
        return self.html
