"""Incident map pages, offline: the heatmap (``/incidents/heatmap``) and hotspots
(``/incidents/hotspots/map``).

Heatmap: a kernel-density heat layer with a time slider (one frame a week or month,
``folium.plugins.HeatMapWithTime``), the whole window as a second heat layer, a per-grid
choropleth of incidents per 100 households with the grid's figures in popups, a legend, and a
small form for the category and time window.  Up to ``settings.heatmap_max_points`` incidents the
heat layers carry the points themselves; above it the server bins them into square metric cells
(``geo.incidents.density``) whose size is chosen so that at most :data:`api.incidents.heat.POINT_BUDGET` weighted cell centres
are embedded, whatever the number of incidents: the page stays under 2 MB.  The page says which it
shows.
"""

from __future__ import annotations

import html
from urllib.parse import urlencode
from datetime import datetime
from zoneinfo import ZoneInfo

import folium
import numpy as np
import pandas as pd
from sqlalchemy import Connection

from api import i18n
from api.incidents.filters import IncidentFilter
from api.incidents.heat import heat_frames
from api.incidents.map_data import category_names, default_window, grid_extent, grid_shapes
from api.incidents.stats import area_stats, hotspots
from api.jurisdiction import Jurisdiction
from api.pages.base import add_grid_labels, add_legend, add_streets, add_title, offline_map, render_page
from api.pages.cache import PageCache
from api.pages.inline import HeatFrames, InlineGeoJson, PageData, RawHtml, WindowHeat, to_js_json
from api.settings import Settings
from geo.errors import InvalidInput

RATE_COLOURS = ("#ffffcc", "#fed976", "#fd8d3c", "#e31a1c", "#800026")
HOT_COLOURS = {3: "#b2182b", 2: "#ef8a62", 1: "#fddbc7", 0: "#f7f7f7", -1: "#d1e5f0", -2: "#67a9cf", -3: "#2166ac"}



def _breaks(values: pd.Series, k: int = len(RATE_COLOURS)) -> list[float]:
    v = values.dropna()
    if v.empty:
        return []
    return sorted(set(np.round(np.quantile(v, np.linspace(0, 1, k + 1))[1:-1], 2).tolist()))


def _form(lang: str, categories: list[tuple[str, str]], chosen: tuple[str, ...], start, end, period,
          action: str, tz: str) -> str:
    start, end = _local(start, tz), _local(end, tz)
    opts = [f'<option value="">{i18n.t("incidents.form.all", lang)}</option>'] + [
        f'<option value="{html.escape(c)}"{" selected" if chosen and c in chosen else ""}>{html.escape(n)}</option>'
        for c, n in categories]
    per = "".join(f'<option value="{p}"{" selected" if p == period else ""}>{i18n.t("incidents.form." + p, lang)}'
                  "</option>" for p in ("month", "week"))
    return (f'<form class="gridmap-incident-form" method="get" action="{action}" style="position:fixed;top:84px;'
            'left:54px;z-index:1000;background:rgba(255,255,255,.94);padding:6px 10px;border-radius:4px;'
            'box-shadow:0 1px 4px rgba(0,0,0,.3);font-size:13px">'
            f'<input type="hidden" name="lang" value="{lang}">'
            f'<label>{i18n.t("incidents.form.category", lang)} <select name="category">{"".join(opts)}</select></label> '
            f'<label>{i18n.t("incidents.form.from", lang)} <input type="date" name="from" value="{start:%Y-%m-%d}"></label> '
            f'<label>{i18n.t("incidents.form.to", lang)} <input type="date" name="to" value="{end:%Y-%m-%d}"></label> '
            f'<label>{i18n.t("incidents.form.period", lang)} <select name="period">{per}</select></label> '
            f'<button type="submit">{i18n.t("incidents.form.apply", lang)}</button></form>')


def _local(t: datetime, tz: str) -> datetime:
    return t.astimezone(ZoneInfo(tz)) if t.tzinfo else t


def _note(m: folium.Map, text_: str) -> None:
    m.get_root().html.add_child(RawHtml(
        f'<div class="gridmap-incident-mode" style="position:fixed;top:126px;left:54px;z-index:1000;'
        f'background:rgba(255,255,255,.94);padding:4px 10px;border-radius:4px;font-size:13px">'
        f'{html.escape(text_)}</div>'))


def _bounds(conn: Connection, scope: Jurisdiction, points: list) -> tuple[float, float, float, float] | None:
    """The grids' extent, else that of the heat points (``[lat, lon, ...]``), else None."""
    e = grid_extent(conn, scope)
    if e is None and points:
        w = np.array([p[:2] for p in points])
        e = (w[:, 1].min(), w[:, 0].min(), w[:, 1].max(), w[:, 0].max())
    return e


def _grid_features(conn: Connection, scope: Jurisdiction, stats: pd.DataFrame, breaks: list[float]) -> str:
    """The current grids in scope as a GeoJSON FeatureCollection (JSON text): geometry simplified
    (~2 m, 5 decimals) straight from PostGIS, the grid's figures and fill colour as properties."""
    rows = grid_shapes(conn, scope)
    codes = [code for code, _ in rows]
    s = stats.reindex(codes)

    def col(name, nd=None, kind=float):
        v = s[name].astype(float).to_numpy()
        out = np.round(v, nd) if nd is not None else v
        return [None if np.isnan(x) else kind(x) for x in out]

    rate = col("rate_per_100_households", 2)
    fill = np.where(np.isnan(s["rate_per_100_households"].astype(float).to_numpy()), "#dddddd",
                    np.array(RATE_COLOURS)[np.searchsorted(breaks, np.nan_to_num(
                        s["rate_per_100_households"].astype(float).to_numpy()), side="right")])
    props = zip(codes, s["name"].where(s["name"].notna(), None).tolist(), fill.tolist(),
                [x or 0 for x in col("incidents", kind=int)], col("households", kind=int), rate,
                col("closure_rate", 3), col("resolution_rate", 3), [x or 0 for x in col("overdue", kind=int)])
    keys = ("code", "name", "fill", "incidents", "households", "rate", "closure", "resolution", "overdue")
    feats = [f'{{"type":"Feature","geometry":{gj},"properties":{to_js_json(dict(zip(keys, p)))}}}'
             for (_, gj), p in zip(rows, props)]
    return '{"type":"FeatureCollection","features":[' + ",".join(feats) + "]}"


def heatmap_map(conn: Connection, settings: Settings, scope: Jurisdiction, lang: str,
                flt: IncidentFilter = IncidentFilter(), *, period: str = "month") -> tuple[folium.Map, dict]:
    """Build the heatmap page's map for ``flt`` (checked by the caller; a missing window end is
    the default one); returns ``(map, info)`` (``info``: mode, n, cell_m, frames).  Weeks, months
    and dates are in ``settings.timezone``.

    The data (grid choropleth, heat frames, whole-window heat) is embedded once as JSON in the
    page head (:class:`api.pages.inline.PageData`); the layers refer to it by name.
    """
    tz = settings.timezone
    flt = default_window(conn, scope, flt, tz=tz, period=period)
    start, end = flt.start, flt.end
    heat = heat_frames(conn, settings, scope, flt, period=period)
    stats = area_stats(conn, scope, flt, tz=tz, level="grid", period=None, min_count=0, with_totals=False,
                       percentiles=False).rows.set_index("code")
    breaks = _breaks(stats["rate_per_100_households"])
    m = offline_map(settings, bounds=_bounds(conn, scope, heat["window"]), lang=lang, zoom_start=12)
    window = {"from": start.isoformat(), "to": end.isoformat(),
              **({"category": ",".join(flt.categories)} if flt.categories else {}),
              **({"area": flt.area} if flt.area else {})}
    add_title(m, i18n.t("incidents.heatmap.title", lang), lang, downloads=[
        (i18n.t("home.dl.stats", lang) + " (Excel)",
         "/incidents/stats?" + urlencode({**window, "format": "xlsx", "min_count": 0, "lang": lang})),
        ("CSV", "/incidents/stats?" + urlencode({**window, "format": "csv", "min_count": 0}))])
    data = PageData("gridmapHeat_" + m.get_name(), {
        "grids": _grid_features(conn, scope, stats, breaks),
        "frames": to_js_json(heat["frames"]), "window": to_js_json(heat["window"])}).add_to_page(m)
    keys = ["code", "name", "incidents", "households", "rate", "closure", "resolution", "overdue"]
    fmts = {"incidents": "int", "households": "int", "closure": "ratio", "resolution": "ratio", "overdue": "int"}
    InlineGeoJson(f"{data.var}.grids", name=i18n.t("incidents.rate.layer", lang), fields=keys,
                  aliases=[i18n.t(f"incidents.f.{k}", lang) for k in keys], formats=[fmts.get(k) for k in keys],
                  style={"color": "#555", "weight": 0.8, "fillOpacity": 0.3}).add_to(m)
    add_streets(m, lang)
    add_grid_labels(m, lang)
    if heat["n"]:
        HeatFrames(f"{data.var}.frames", heat["labels"], name=i18n.t("incidents.heat.layer", lang), radius=18,
                   auto_play=False, max_opacity=0.8, use_local_extrema=False, position="bottomleft").add_to(m)
        WindowHeat(f"{data.var}.window", name=i18n.t("incidents.heat.window", lang), radius=14, blur=12,
                   show=False).add_to(m)
    folium.LayerControl(collapsed=False).add_to(m)
    lo = [0.0] + breaks
    items = [(c, f"≥ {lo[i]:g}") for i, c in enumerate(RATE_COLOURS[: len(lo)])] + \
        [("#dddddd", i18n.t("incidents.rate.none", lang))]
    add_legend(m, i18n.t("incidents.rate.legend", lang), items)
    if heat["mode"] == "raw":
        note = i18n.t("incidents.mode.raw", lang, n=heat["n"])
    elif heat["mode"] == "binned":
        note = i18n.t("incidents.mode.binned", lang, n=heat["n"], limit=settings.heatmap_max_points,
                      cell=heat["cell_m"])
    else:
        note = i18n.t("incidents.mode.empty", lang)
    _note(m, f"{note} · {_local(start, tz):%Y-%m-%d} – {_local(end, tz):%Y-%m-%d}")
    m.get_root().html.add_child(RawHtml(_form(lang, category_names(conn, lang), flt.categories, start, end, period,
                                              "/incidents/heatmap", tz)))
    return m, {"mode": heat["mode"], "n": heat["n"], "cell_m": heat["cell_m"], "frames": len(heat["frames"])}


#: A rendered heatmap page is reused for at most this many seconds, and only while the versions
#: of :data:`CACHE_LAYERS` stay put (the overdue counts in the popups move with the clock).
CACHE_SECONDS = 60.0
CACHE_LAYERS = ("areas", "dwellings", "grids", "incidents")
PAGES = PageCache(CACHE_LAYERS, size=16, max_age_s=CACHE_SECONDS)


def heatmap_html(conn: Connection, settings: Settings, scope: Jurisdiction, lang: str,
                 flt: IncidentFilter = IncidentFilter(), *, period: str = "month") -> tuple[str, dict]:
    """The heatmap page as HTML and its ``info`` (as :func:`heatmap_map`'s, plus ``cache``: "hit"
    or "miss").

    Pages are kept per process (16 at most, :data:`PAGES`), keyed by the request, the settings that
    shape the page and the ``data_versions`` (version and time of change) of :data:`CACHE_LAYERS`: any
    write to incidents, grids, dwellings or areas makes the next request build the page afresh.
    """
    key = (scope.codes, lang, flt, period, settings.timezone, settings.heatmap_max_points, settings.tile_url,
           settings.tile_attribution)

    def make() -> tuple[str, dict]:
        m, info = heatmap_map(conn, settings, scope, lang, flt, period=period)
        return render_page(m, i18n.t("incidents.heatmap.title", lang), lang), info

    (page, info), hit = PAGES.get(conn, key, make)
    return page, {**info, "cache": "hit" if hit else "miss"}


def _name(r: pd.Series) -> str | None:
    v = r.get("name")
    return None if v is None or pd.isna(v) else str(v)


def hotspots_map(conn: Connection, settings: Settings, scope: Jurisdiction, lang: str,
                 flt: IncidentFilter = IncidentFilter(), *, level: str = "grid", resolution: int = 8,
                 min_incidents: int = 30) -> folium.Map:
    """Hot and cold spots (Gi*, FDR-corrected) of ``flt``'s incidents (checked by the caller) as a
    coloured layer with z, p and counts in popups."""
    tz = settings.timezone
    flt = default_window(conn, scope, flt, tz=tz)
    start, end = flt.start, flt.end
    feats, note = [], ""
    try:
        res, geoms = hotspots(conn, scope, flt, level=level, resolution=resolution, min_incidents=min_incidents)
        for unit, r in res.iterrows():
            feats.append({"type": "Feature", "geometry": geoms[unit].__geo_interface__,
                          "properties": {"code": str(unit), "name": _name(r), "incidents": int(r["count"]),
                                         "z": None if pd.isna(r.z) else round(float(r.z), 2),
                                         "p": None if pd.isna(r.p) else float(f"{r.p:.3g}"),
                                         "class": i18n.t(f"incidents.hot.bin.{int(r['bin'])}", lang),
                                         "fill": HOT_COLOURS[int(r["bin"])]}})
        sig = int((res["bin"] != 0).sum())
        note = i18n.t("incidents.hot.note", lang, units=len(res), n=int(res["count"].sum()), sig=sig)
    except InvalidInput as exc:
        note = i18n.t("incidents.hot.too_few", lang, reason=i18n.detail(str(exc), lang))
    m = offline_map(settings, bounds=_bounds(conn, scope, []), lang=lang, zoom_start=12)
    window = {"from": start.isoformat(), "to": end.isoformat(), "level": level, "min_incidents": min_incidents,
              **({"resolution": resolution} if level == "h3" else {}),
              **({"category": ",".join(flt.categories)} if flt.categories else {}),
              **({"area": flt.area} if flt.area else {})}
    add_title(m, i18n.t("incidents.hotspots.title", lang), lang, downloads=[
        (i18n.t("home.dl.hotspots", lang) + " (Excel)",
         "/incidents/hotspots?" + urlencode({**window, "format": "xlsx", "lang": lang})),
        ("CSV", "/incidents/hotspots?" + urlencode({**window, "format": "csv"}))] if feats else None)
    if feats:
        data = PageData("gridmapHot_" + m.get_name(), {
            "units": to_js_json({"type": "FeatureCollection", "features": feats})}).add_to_page(m)
        keys = ["code"] + (["name"] if level == "grid" else []) + ["incidents", "z", "p", "class"]
        InlineGeoJson(f"{data.var}.units", name=i18n.t("incidents.hot.layer", lang), fields=keys,
                      aliases=[i18n.t(f"incidents.f.{k}", lang) for k in keys],
                      formats=[{"incidents": "int"}.get(k) for k in keys],
                      style={"color": "#666", "weight": 1, "fillOpacity": 0.7}).add_to(m)
    add_streets(m, lang)
    if level == "grid" or not feats:
        add_grid_labels(m, lang)
    folium.LayerControl(collapsed=False).add_to(m)
    add_legend(m, i18n.t("incidents.hot.legend", lang),
               [(HOT_COLOURS[b], i18n.t(f"incidents.hot.bin.{b}", lang)) for b in (3, 2, 1, 0, -1, -2, -3)])
    _note(m, f"{note} · {_local(start, tz):%Y-%m-%d} – {_local(end, tz):%Y-%m-%d}")
    return m
