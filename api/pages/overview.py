"""The overview map (``/map``): towns, communities, grids and stations by kind, offline.

The page carries no features itself: the grids come as vector tiles (:class:`~api.pages.base.VectorTiles`,
OGC API Tiles), the labels of the grids in view from zoom 15 on, and the smaller layers (towns,
communities, stations by kind) as :class:`~api.pages.base.RemoteGeoJson` that the browser fills from
``/collections/{id}/items``, so no layer bloats the HTML or waits for a whole county's GeoJSON.  The server only works out what the page needs to be laid out: the data's extent (to fit
the view) and the station kinds present (one layer, colour and legend entry each).
"""

from __future__ import annotations

from urllib.parse import urlencode

import folium
from sqlalchemy import Connection

from api import i18n
from api.db import features as fdb
from api.jurisdiction import Jurisdiction
from api.pages.base import (RemoteGeoJson, VectorTiles, add_grid_labels, add_legend, add_streets, add_title,
                            offline_map, render_page)
from api.pages.cache import PageCache
from api.settings import Settings
from geo.layers import STATION_KINDS

#: Colours of the domain's station kinds; user-defined kinds take the spare colours in turn.
#: Chosen apart from every other colour on the maps (coverage bands red-yellow-green, gaps purple,
#: dwellings grey/black, grids orange, streets brown-grey), so a colour never means two things.
KIND_COLOURS: dict[str, str] = {
    "service_centre": "#e7298a",
    "grid_station": "#1f5fbf",
    "neighbourhood_point": "#00a6a6",
}
SPARE_COLOURS = ("#b8860b", "#6b8e23", "#8b4513", "#4b0082", "#2f4f4f", "#c71585", "#556b2f")
KIND_RADIUS = {"service_centre": 9, "grid_station": 7, "neighbourhood_point": 5}

TOWN_STYLE = {"color": "#444444", "weight": 3, "fill": False, "dashArray": "8 6"}
COMMUNITY_STYLE = {"color": "#6a3d9a", "weight": 2.5, "fill": False}
GRID_STYLE = {"color": "#e6550d", "weight": 1.2, "fillColor": "#fdae6b", "fillOpacity": 0.25}

#: Above this many stations of one kind, that kind's layer is clustered.
CLUSTER_ABOVE = 200
PAGE = 10_000  # features per API request the page makes


def kind_colours(kinds: list[str]) -> dict[str, str]:
    """A distinct colour per station kind: the domain's kinds fixed, the others in turn."""
    out, spare = {}, iter(SPARE_COLOURS * (len(kinds) // len(SPARE_COLOURS) + 1))
    for k in kinds:
        out[k] = KIND_COLOURS.get(k) or next(spare)
    return out


def _items(collection: str, **filters: str) -> str:
    return f"/collections/{collection}/items?" + urlencode({**filters, "limit": PAGE})


#: The station properties the page shows (popup rows, tooltip), all it asks the features API for.
STATION_POPUP = ("name", "kind", "capacity", "opening_hours", "address")

#: What the page reads: the extent (areas, grids, stations, dwellings) and the stations' kinds.
PAGES = PageCache(("areas", "dwellings", "grids", "stations"))


def overview_html(conn: Connection, settings: Settings, scope: Jurisdiction, lang: str, *,
                  area: str | None = None) -> tuple[str, bool]:
    """The overview page as HTML (:func:`overview_map` rendered) and whether it came from
    :data:`PAGES`, kept until areas, grids, stations or dwellings change."""
    key = (scope, lang, area, settings.tile_url, settings.tile_attribution, settings.timezone)
    return PAGES.get(conn, key, lambda: render_page(overview_map(conn, settings, scope, lang, area=area),
                                                    i18n.t("map.title", lang), lang))


def overview_map(conn: Connection, settings: Settings, scope: Jurisdiction, lang: str, *,
                 area: str | None = None) -> folium.Map:
    """Build the overview map for ``scope`` in ``lang`` (``zh``/``en``), opened on ``area`` (a town,
    community or county code already resolved by the caller) when given."""
    bounds = None
    view = Jurisdiction(frozenset({area})) if area else scope
    for s in ((view, scope) if area else (scope,)):
        for cid in ("areas", "grids", "stations", "dwellings"):
            bounds = fdb.extent(conn, fdb.COLLECTIONS[cid], s)
            if bounds:
                break
        if bounds:
            break
    counts = fdb.kind_counts(conn, scope)
    kinds = {k: counts[k] for k in STATION_KINDS if k in counts}  # the domain's kinds first
    kinds.update({k: n for k, n in counts.items() if k not in kinds})
    colours = kind_colours(list(kinds))

    m = offline_map(settings, bounds=tuple(bounds) if bounds else None,
                    location=None if bounds else (31.9, 120.28), zoom_start=12, lang=lang)
    f = lambda key: i18n.t(f"field.{key}", lang)  # noqa: E731

    add_streets(m, lang)
    # a county's grids as vector tiles (only code and community in them: the households of one grid
    # are asked for when it is clicked, and drawn as labels for the view only from zoom 15 on)
    VectorTiles(
        "grids", i18n.t("layer.grids", lang), properties=["code", "community_code"], style=GRID_STYLE,
        key="code", pane=("gridmap-grids", 410),
        popup=[("name", f("name")), ("code", f("code")), ("community_name", f("community")),
               ("households", f("households"), "int"), ("chief", f("chief")), ("worker", f("worker")),
               ("valid_from", f("valid_from"), "date")],
    ).add_to(m)
    add_grid_labels(m, lang)
    RemoteGeoJson(
        _items("areas", level="community", properties="name,code,parent_code"), i18n.t("layer.communities", lang),
        style=COMMUNITY_STYLE,
        popup=[("name", f("name")), ("code", f("code")), ("parent_code", f("town_code"))],
        pane=("gridmap-communities", 420),
    ).add_to(m)
    RemoteGeoJson(
        _items("areas", level="town", properties="name,code"), i18n.t("layer.towns", lang), style=TOWN_STYLE,
        popup=[("name", f("name")), ("code", f("code"))], pane=("gridmap-towns", 425),
    ).add_to(m)
    for kind, n in kinds.items():
        colour = colours[kind]
        RemoteGeoJson(
            # only what the popup and tooltip show: a city's 4,662 stations were 3 MB of GeoJSON
            _items("stations", kind=kind, properties=",".join(STATION_POPUP)), f"{i18n.kind_label(kind, lang)} ({n})",
            style={"color": "#ffffff", "weight": 1.5, "fillColor": colour, "fillOpacity": 0.95},
            point={"radius": KIND_RADIUS.get(kind, 6)},
            popup=[("name", f("name")), ("kind", f("kind"), {"enum": {kind: i18n.kind_label(kind, lang)}}),
                   ("capacity", f("capacity"), "int"), ("opening_hours", f("opening_hours")),
                   ("address", f("address"))],
            tooltip="name", pane=("gridmap-stations", 430),
            cluster=n > CLUSTER_ABOVE,
            cluster_options={"disableClusteringAtZoom": 17, "maxClusterRadius": 50},
        ).add_to(m)
    folium.LayerControl(collapsed=False).add_to(m)

    add_title(m, i18n.t("map.title", lang), lang, downloads=[
        (i18n.t(f"layer.{layer}", lang), f"/export/{layer}?format=xlsx&lang={lang}")
        for layer in ("grids", "stations", "dwellings")])
    # Grids are drawn first and filled; the community and town outlines (unfilled, so clicks inside
    # reach the grid) over them; stations on top.
    legend = [(TOWN_STYLE["color"], i18n.t("layer.towns", lang)),
              (COMMUNITY_STYLE["color"], i18n.t("layer.communities", lang)),
              (GRID_STYLE["fillColor"], i18n.t("layer.grids", lang))]
    legend += [(colours[k], i18n.kind_label(k, lang)) for k in kinds]
    add_legend(m, i18n.t("map.legend", lang), legend)
    return m
