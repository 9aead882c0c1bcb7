"""The coverage map (``/coverage/map``): who is within the service circle, offline.

Layers, each filled by the browser from the coverage API (nothing is baked into the page):

* grid coverage choropleth: the grids' vector tiles coloured by ``/coverage`` (JSON rows joined on
  the grid code in the browser; households covered %, five bands :data:`api.coverage.BAND_FLOORS`);
* service areas per station coloured by kind (``/coverage/areas?by=station``);
* dwellings coloured covered / uncovered (``/coverage/dwellings``, an even sample above
  :data:`api.limits.PAGE_DWELLINGS`);
* gap polygons with their household counts (``/coverage/gaps``);
* the stations that count, by kind (``/coverage/stations``).

The server only lays the page out: the extent of the data and the station kinds present.
"""

from __future__ import annotations

import datetime as dt
import html
from urllib.parse import urlencode

import folium
from branca.element import Element
from sqlalchemy import Connection

from api import i18n
from api.coverage import BAND_FLOORS, CoverageParams, counted_kinds
from api.db import features as fdb
from api.jurisdiction import Jurisdiction
from api.limits import MAX_PAGE_STATIONS, PAGE_DWELLINGS
from api.pages.base import (RemoteGeoJson, VectorTiles, add_grid_labels, add_legend, add_streets, add_title,
                             offline_map)
from api.pages.overview import KIND_RADIUS, kind_colours
from api.settings import Settings
from geo.layers import STATION_KINDS

#: Grid coverage bands (``band`` property of ``/coverage?format=geojson``): <50%, 50-80, 80-95, 95-100, 100%.
#: Each colour on this page means one thing: bands red-yellow-green (grids), dwellings grey (covered)
#: or black (not covered), gaps purple, station kinds their own (:data:`api.pages.overview.KIND_COLOURS`).
BAND_COLOURS = {"0": "#d73027", "1": "#fc8d59", "2": "#fee08b", "3": "#d9ef8b", "4": "#1a9850"}
COVERED, UNCOVERED = "#9e9e9e", "#111111"
GAP_STYLE = {"color": "#40004b", "weight": 2, "fillColor": "#7b3294", "fillOpacity": 0.45, "dashArray": "5 4"}



def add_note(m: folium.Map, text: str) -> None:
    """A notice box under the page title (``gridmap-note``)."""
    m.get_root().html.add_child(Element(
        '<div class="gridmap-note" style="position:absolute;top:84px;left:60px;z-index:1000;max-width:28em;'
        'background:#fff8e1;border:1px solid #e0b000;padding:6px 10px;font:13px sans-serif">'
        f"{html.escape(text)}</div>"))


def _url(path: str, base: dict, **extra) -> str:
    q = {k: v for k, v in {**base, **extra}.items() if v is not None}
    return f"{path}?{urlencode(q)}"


def coverage_map(conn: Connection, settings: Settings, scope: Jurisdiction, lang: str, params: CoverageParams, *,
                 area: str | None = None) -> folium.Map:
    """Build the coverage page for ``scope``: layers point at the coverage API with the same
    ``params`` (minutes, mode, kinds, at, region); the station markers and legend count only the
    stations that count.  Station service areas are drawn for the whole scope up to
    :data:`api.limits.MAX_PAGE_STATIONS` counted stations (read from this module, so a test may
    lower it), else only with ``area`` (a town, community or grid code), and the page says so."""
    bounds = None
    for cid in ("grids", "areas", "dwellings", "stations"):
        bounds = fdb.extent(conn, fdb.COLLECTIONS[cid], scope)
        if bounds:
            break
    minutes, mode, kind_set = params.minutes, params.mode, params.kinds
    day = params.at or dt.date.today()
    kinds = ",".join(kind_set) if kind_set else None
    counts = counted_kinds(conn, scope, kinds=kind_set, at=day, area=area)
    present = [k for k in STATION_KINDS if k in counts] + [k for k in counts if k not in STATION_KINDS]
    colours = kind_colours(present)
    base = {"minutes": f"{minutes:g}", "mode": mode, "kinds": kinds, "at": day.isoformat(), "region": params.region}
    in_area = {"area": area} if area else {}
    too_many = not area and sum(counted_kinds(conn, scope, kinds=kind_set, at=day).values()) > MAX_PAGE_STATIONS
    mins = f"{minutes:g}"
    t = lambda key, **kw: i18n.t(key, lang).format(**kw)  # noqa: E731
    f = lambda key: i18n.t(f"field.{key}", lang)  # noqa: E731

    m = offline_map(settings, bounds=tuple(bounds) if bounds else None,
                    location=None if bounds else (31.9, 120.28), zoom_start=13, lang=lang)
    kind_names = {"enum": {k: i18n.kind_label(k, lang) for k in present}}
    methods = {"enum": {k: t(f"method.{k}") for k in ("network", "straight_line", "network+straight_line")}}
    add_streets(m, lang)
    # the grids' outlines come as vector tiles (code only), their coverage as one table without
    # geometry (/coverage, JSON) joined on the code in the browser: a county's polygons never travel
    VectorTiles(
        "grids", t("coverage.grids"), properties=["code"], key="code",
        style={"color": "#555555", "weight": 1, "fillOpacity": 0.45},
        style_by=("band", {b: {"fillColor": c} for b, c in BAND_COLOURS.items()}, {"fillColor": "#cccccc"}),
        join={"url": _url("/coverage", base, level="grid"), "rows": "rows", "key": "code",
              "derive": {"band": {"property": "covered_pct", "floors": [list(f) for f in BAND_FLOORS],
                                  "default": "0"}}},
        popup=[("name", f("name")), ("code", f("code")), ("households", f("households"), "int"),
               ("covered_households", t("coverage.f.covered_households"), "int"),
               ("covered_pct", t("coverage.f.covered_pct"), "pct"),
               ("mean_time_s", t("coverage.f.mean_time"), "s2min"),
               ("p90_time_s", t("coverage.f.p90_time"), "s2min"), ("stations", t("coverage.f.stations"), "int"),
               ("straight_line_households", t("coverage.f.straight_line"), "int")],
        pane=("gridmap-coverage-grids", 405),
    ).add_to(m)
    add_grid_labels(m, lang)
    if not too_many:  # off until asked: at district scale the outlines hide the grids' colours
        RemoteGeoJson(
            _url("/coverage/areas", base, by="station", **in_area), t("coverage.areas"),
            style={"weight": 1.2, "opacity": 0.9, "fillOpacity": 0.03},
            style_by=("kind", {k: {"color": c, "fillColor": c} for k, c in colours.items()}, {"color": "#7f7f7f"}),
            popup=[("name", t("coverage.f.station")), ("kind", f("kind"), kind_names),
                   ("minutes", t("coverage.f.minutes"), "min"), ("method", t("coverage.f.method"), methods)],
            pane=("gridmap-coverage-areas", 410), show=False,
        ).add_to(m)
    RemoteGeoJson(
        _url("/coverage/gaps", base), t("coverage.gaps"), style=GAP_STYLE,
        popup=[("rank", t("coverage.f.rank"), "int"), ("households", f("households"), "int"),
               ("dwellings", t("coverage.f.dwellings"), "int"), ("nearest_station_name", t("coverage.f.nearest")),
               ("nearest_time_min", t("coverage.f.nearest_min"), "min"), ("method", t("coverage.f.method"), methods)],
        tooltip="households", pane=("gridmap-coverage-gaps", 420),
    ).add_to(m)
    RemoteGeoJson(
        _url("/coverage/dwellings", base, limit=PAGE_DWELLINGS), t("coverage.dwellings"),
        style={"stroke": False, "fillOpacity": 0.85},
        # ``covered`` is a JSON boolean; the page's script looks its value up as a key ("true"/"false")
        style_by=("covered", {"true": {"fillColor": COVERED}, "false": {"fillColor": UNCOVERED}}, {}),
        point={"radius": 2.5},
        popup=[("source_id", f("code")), ("households", f("households"), "int"),
               ("time_s", t("coverage.f.time_nearest"), "s2min"), ("covered", t("coverage.f.covered")),
               ("grid_code", i18n.t("layer.grids", lang)), ("method", t("coverage.f.method"), methods)],
        pane=("gridmap-coverage-dwellings", 430), show=False,
    ).add_to(m)
    for kind in present:  # only the stations that count (kinds, open on the day, in the area)
        RemoteGeoJson(
            _url("/coverage/stations", base, kind=kind, **in_area),
            f"{i18n.kind_label(kind, lang)} ({counts[kind]})",
            style={"color": "#ffffff", "weight": 1.5, "fillColor": colours[kind], "fillOpacity": 0.95},
            point={"radius": KIND_RADIUS.get(kind, 6)},
            popup=[("name", f("name")), ("kind", f("kind"), kind_names), ("address", f("address"))],
            tooltip="name", pane=("gridmap-coverage-stations", 440),
        ).add_to(m)
    folium.LayerControl(collapsed=False).add_to(m)
    add_title(m, t("coverage.title", minutes=mins) + (f" · {area}" if area else ""), lang, downloads=[
        (t("home.dl.coverage") + " (Excel)", _url("/coverage", base, format="xlsx", level="grid", lang=lang, **in_area)),
        (t("home.dl.gaps") + " (Excel)", _url("/coverage/gaps", base, format="xlsx", lang=lang)),
        (t("coverage.areas") + " (Excel)", _url("/coverage/areas", base, by="station", format="xlsx", lang=lang,
                                                **in_area))] if not too_many or area else [
        (t("home.dl.coverage") + " (Excel)", _url("/coverage", base, format="xlsx", level="grid", lang=lang)),
        (t("home.dl.gaps") + " (Excel)", _url("/coverage/gaps", base, format="xlsx", lang=lang))])
    if too_many:  # at city scale every station's polygon is ~100 MB: one area at a time
        add_note(m, t("coverage.too_many", n=f"{MAX_PAGE_STATIONS:,}"))
    legend = [(colours[k], i18n.kind_label(k, lang)) for k in present]
    legend += [(COVERED, t("coverage.covered", minutes=mins)), (UNCOVERED, t("coverage.uncovered", minutes=mins)),
               (GAP_STYLE["fillColor"], t("coverage.gaps"))]
    legend += [(c, t(f"coverage.band.{b}")) for b, c in BAND_COLOURS.items()]
    add_legend(m, i18n.t("map.legend", lang), legend)
    return m
