"""Incident map pages, offline: the heatmap (``/incidents/heatmap``) and hotspots
(``/incidents/hotspots/map``).

Heatmap: a kernel-density heat layer with a time slider (one frame a week or month,
``folium.plugins.HeatMapWithTime``), the whole window as a second heat layer, a per-grid
choropleth of incidents per 100 households with the grid's figures in popups, a legend, and a
small form for the category and time window.  Up to ``settings.heatmap_max_points`` incidents the
heat layers carry the points themselves; above it the server bins them into square metric cells
(``geo.density``) whose size is chosen so that at most :data:`POINT_BUDGET` weighted cell centres
are embedded, whatever the number of incidents: the page stays under 2 MB.  The page says which it
shows.
"""

from __future__ import annotations

import html
import json
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import folium
import folium.plugins
import numpy as np
import pandas as pd
from branca.element import Element
from folium.utilities import JsCode
from shapely.geometry import shape
from sqlalchemy import Connection, text

from api import i18n
from api.incidents.stats import TIMEZONE, _filters, _grid_scope, area_stats, hotspots, no_jit
from api.jurisdiction import Jurisdiction
from api.pages.base import add_legend, add_title, offline_map
from api.settings import Settings
from geo.density import bin_points, choose_cell_size
from geo.errors import InvalidInput

POINT_BUDGET = 30_000  # weighted points over all frames of the time-slider layer
STATIC_BUDGET = 6_000  # weighted points of the whole-window layer
SQL_MIN_CELL_M = 100.0  # finest cell the server bins incidents into
RATE_COLOURS = ("#ffffcc", "#fed976", "#fd8d3c", "#e31a1c", "#800026")
HOT_COLOURS = {3: "#b2182b", 2: "#ef8a62", 1: "#fddbc7", 0: "#f7f7f7", -1: "#d1e5f0", -2: "#67a9cf", -3: "#2166ac"}

i18n.add({
    "incidents.heatmap.title": {"zh": "事件热力图", "en": "Incident heatmap"},
    "incidents.hotspots.title": {"zh": "事件热点分析 (Getis-Ord Gi*)", "en": "Incident hotspots (Getis-Ord Gi*)"},
    "incidents.heat.layer": {"zh": "事件密度 (按时间)", "en": "Incident density (by time)"},
    "incidents.heat.window": {"zh": "事件密度 (整个时段)", "en": "Incident density (whole window)"},
    "incidents.rate.layer": {"zh": "每百户事件数 (网格)", "en": "Incidents per 100 households (grids)"},
    "incidents.rate.legend": {"zh": "每百户事件数", "en": "Incidents per 100 households"},
    "incidents.rate.none": {"zh": "无户数", "en": "no households"},
    "incidents.mode.raw": {"zh": "显示原始事件点: {n} 件", "en": "Showing the {n} incidents as points"},
    "incidents.mode.binned": {
        "zh": "{n} 件事件, 超过 {limit} 件: 显示 {cell} 米方格聚合密度",
        "en": "{n} incidents (over {limit}): showing density aggregated in {cell} m cells"},
    "incidents.mode.empty": {"zh": "此时段没有事件", "en": "No incidents in this window"},
    "incidents.form.category": {"zh": "类别", "en": "Category"},
    "incidents.form.all": {"zh": "全部", "en": "All"},
    "incidents.form.from": {"zh": "从", "en": "From"},
    "incidents.form.to": {"zh": "到", "en": "To"},
    "incidents.form.period": {"zh": "时间步", "en": "Step"},
    "incidents.form.week": {"zh": "周", "en": "week"},
    "incidents.form.month": {"zh": "月", "en": "month"},
    "incidents.form.apply": {"zh": "应用", "en": "Apply"},
    "incidents.f.code": {"zh": "网格", "en": "Grid"},
    "incidents.f.name": {"zh": "名称", "en": "Name"},
    "incidents.f.incidents": {"zh": "事件数", "en": "Incidents"},
    "incidents.f.households": {"zh": "户数", "en": "Households"},
    "incidents.f.rate": {"zh": "每百户", "en": "Per 100 households"},
    "incidents.f.closure": {"zh": "办结率", "en": "Closure rate"},
    "incidents.f.resolution": {"zh": "解决率", "en": "Resolution rate"},
    "incidents.f.median": {"zh": "办结中位时长 (小时)", "en": "Median hours to close"},
    "incidents.f.overdue": {"zh": "超期", "en": "Overdue"},
    "incidents.f.z": {"zh": "z 值", "en": "z-score"},
    "incidents.f.p": {"zh": "p 值", "en": "p-value"},
    "incidents.f.class": {"zh": "分类", "en": "Class"},
    "incidents.hot.layer": {"zh": "热点 / 冷点", "en": "Hot and cold spots"},
    "incidents.hot.legend": {"zh": "Gi* (FDR 校正)", "en": "Gi* (FDR corrected)"},
    "incidents.hot.note": {"zh": "{units} 个单元, {n} 件事件, 显著: {sig}",
                           "en": "{units} units, {n} incidents, significant: {sig}"},
    "incidents.hot.too_few": {"zh": "无法分析: {reason}", "en": "Cannot analyse: {reason}"},
})


#: Each feature's fill colour comes from its ``fill`` property, set in the browser: folium's
#: Python ``style_function`` builds a per-feature style table through a template (~0.1 s for
#: 1,600 grids).
def _fill_from_properties(style: dict) -> JsCode:
    return JsCode("function (feature, layer) { layer.setStyle(Object.assign(" + json.dumps(style)
                  + ", {fillColor: feature.properties.fill})); }")


def default_window(conn: Connection, scope: Jurisdiction, start: datetime | None, end: datetime | None,
                   period: str = "month"):
    """The window asked for, or the year up to the latest incident in scope, starting at the
    beginning of a week or month (in :data:`TIMEZONE`) so that the first frame is a whole one."""
    if start is not None and end is not None:
        return start, end
    where, params = _filters(scope, None, None, None, None)
    latest = conn.execute(text(f"SELECT max(incidents.reported_at) FROM incidents WHERE {where}"), params).scalar()
    end = end or ((latest + timedelta(seconds=1)) if latest else datetime.now(timezone.utc))
    if start is None:
        start = conn.execute(text(
            "SELECT date_trunc(:p, CAST(:e AS timestamptz) - interval '1 year' + CAST('1 ' || :p AS interval), :tz)"),
            {"p": period, "e": end, "tz": TIMEZONE}).scalar_one()
    return start, end


def _periods(conn: Connection, start: datetime, end: datetime, period: str) -> list[datetime]:
    return list(conn.execute(text(
        "SELECT t AT TIME ZONE :tz FROM generate_series(date_trunc(:p, CAST(:s AS timestamptz) AT TIME ZONE :tz), "
        "CAST(:e AS timestamptz) AT TIME ZONE :tz, CAST('1 ' || :p AS interval)) AS t"),
        {"p": period, "s": start, "e": end, "tz": TIMEZONE}).scalars())


def heat_frames(conn: Connection, settings: Settings, scope: Jurisdiction, *, start: datetime, end: datetime,
                category: list[str] | None, period: str) -> dict:
    """The heat layers' data: frames of ``[lat, lon, weight]`` (weights scaled to (0, 1]).

    Returns a dict with ``mode`` ("raw", "binned" or "empty"), ``n`` (incidents), ``cell_m``,
    ``labels`` (one a frame), ``frames`` and ``window`` (the whole-window layer's points).
    """
    no_jit(conn)
    where, params = _filters(scope, start, end, category, None)
    params.update(p=period, tz=TIMEZONE)
    periods = _periods(conn, start, end, period)
    local = [p.astimezone(ZoneInfo(TIMEZONE)) for p in periods]
    labels = [p.strftime("%Y-%m-%d") if period == "week" else p.strftime("%Y-%m") for p in local]
    # Only whether n exceeds the limit matters here: count at most limit + 1 rows (the binned
    # query below sums the exact n).
    params["lim"] = settings.heatmap_max_points + 1
    n = conn.execute(text(f"SELECT count(*) FROM (SELECT 1 FROM incidents WHERE {where} LIMIT :lim) s"),
                     params).scalar_one()
    out = {"n": n, "labels": labels, "frames": [[] for _ in periods], "window": [], "cell_m": None,
           "mode": "empty" if n == 0 else ("raw" if n <= settings.heatmap_max_points else "binned")}
    if n == 0:
        return out
    index = {p: i for i, p in enumerate(periods)}
    if out["mode"] == "raw":
        rows = conn.execute(text(f"""
            SELECT ST_X(incidents.geom) AS lon, ST_Y(incidents.geom) AS lat,
                   date_trunc(:p, incidents.reported_at, :tz) AS per, 1 AS w
            FROM incidents WHERE {where}"""), params).all()
    else:
        # Bin in SQL at a cell size that keeps (cells x frames) near the budget even if every cell
        # of the extent were occupied, so the transfer is bounded whatever the number of incidents;
        # geo.density then re-bins those centres in metres and enforces the budget exactly.
        x0, y0, x1, y1 = conn.execute(text(
            f"SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM "
            f"(SELECT ST_Extent(g.geom) AS e FROM current_grids g WHERE {_grid_scope(scope)}) s")).one()
        if x0 is None:
            x0, y0, x1, y1 = conn.execute(text(
                f"SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM "
                f"(SELECT ST_Extent(incidents.geom) AS e FROM incidents WHERE {where}) s"), params).one()
        mid = float(np.radians((y0 + y1) / 2))
        area_m2 = max((x1 - x0) * 111_320 * np.cos(mid) * (y1 - y0) * 110_574, 1.0)
        cell0 = max(SQL_MIN_CELL_M, float(np.sqrt(area_m2 * len(periods) / POINT_BUDGET)))
        params["dx"] = float(cell0 / (111_320 * np.cos(mid)))
        params["dy"] = cell0 / 110_574
        rows = conn.execute(text(f"""
            SELECT ((floor(ST_X(incidents.geom) / :dx) + 0.5) * :dx)::float8 AS lon,
                   ((floor(ST_Y(incidents.geom) / :dy) + 0.5) * :dy)::float8 AS lat,
                   date_trunc(:p, incidents.reported_at, :tz) AS per, count(*) AS w
            FROM incidents WHERE {where} GROUP BY 1, 2, 3"""), params).all()
    lon = np.array([r.lon for r in rows])
    lat = np.array([r.lat for r in rows])
    w = np.array([float(r.w) for r in rows])
    fr = np.array([index.get(r.per, 0) for r in rows], dtype=np.int64)
    if out["mode"] == "raw":
        frames = [[] for _ in periods]
        for a, b, f in zip(np.round(lat, 5), np.round(lon, 5), fr):
            frames[f].append([float(a), float(b)])
        out["frames"] = frames
        out["window"] = [[float(a), float(b)] for a, b in zip(np.round(lat, 5), np.round(lon, 5))]
        return out
    cell = choose_cell_size(lon, lat, budget=max(POINT_BUDGET, len(periods)), frame=fr, start_m=cell0,
                            factor=np.sqrt(2))
    out["n"] = int(w.sum())
    b = bin_points(lon, lat, w, cell_m=cell, frame=fr)
    top = b.weight.max()
    frames = [[] for _ in periods]
    for a, c, wt, f in zip(np.round(b.lat, 5), np.round(b.lon, 5), np.round(b.weight / top, 3), b.frame):
        frames[f].append([float(a), float(c), max(float(wt), 0.001)])
    cell_w = choose_cell_size(lon, lat, budget=STATIC_BUDGET, start_m=cell, factor=np.sqrt(2))
    bw = bin_points(lon, lat, w, cell_m=cell_w)
    out["window"] = [[float(a), float(c), max(float(x), 0.001)] for a, c, x in
                     zip(np.round(bw.lat, 5), np.round(bw.lon, 5), np.round(bw.weight / bw.weight.max(), 3))]
    out.update(frames=frames, cell_m=int(cell))
    return out


def _grid_shapes(conn: Connection, scope: Jurisdiction) -> dict[str, dict]:
    """Current grid polygons in scope as GeoJSON geometries, simplified (~2 m) with 5 decimals."""
    rows = conn.execute(text(f"""
        SELECT g.code, ST_AsGeoJSON(ST_SimplifyPreserveTopology(g.geom, 0.00002), 5) AS gj
        FROM current_grids g WHERE {_grid_scope(scope)}""")).all()
    return {r.code: json.loads(r.gj) for r in rows}


def _breaks(values: pd.Series, k: int = len(RATE_COLOURS)) -> list[float]:
    v = values.dropna()
    if v.empty:
        return []
    return sorted(set(np.round(np.quantile(v, np.linspace(0, 1, k + 1))[1:-1], 2).tolist()))


def _form(lang: str, categories: list[tuple[str, str]], chosen: list[str] | None, start, end, period,
          action: str) -> str:
    start, end = _local(start), _local(end)
    opts = [f'<option value="">{i18n.t("incidents.form.all", lang)}</option>'] + [
        f'<option value="{html.escape(c)}"{" selected" if chosen and c in chosen else ""}>{html.escape(n)}</option>'
        for c, n in categories]
    per = "".join(f'<option value="{p}"{" selected" if p == period else ""}>{i18n.t("incidents.form." + p, lang)}'
                  "</option>" for p in ("month", "week"))
    return (f'<form class="gridmap-incident-form" method="get" action="{action}" style="position:fixed;top:52px;'
            'left:54px;z-index:1000;background:rgba(255,255,255,.94);padding:6px 10px;border-radius:4px;'
            'box-shadow:0 1px 4px rgba(0,0,0,.3);font-size:13px">'
            f'<input type="hidden" name="lang" value="{lang}">'
            f'<label>{i18n.t("incidents.form.category", lang)} <select name="category">{"".join(opts)}</select></label> '
            f'<label>{i18n.t("incidents.form.from", lang)} <input type="date" name="from" value="{start:%Y-%m-%d}"></label> '
            f'<label>{i18n.t("incidents.form.to", lang)} <input type="date" name="to" value="{end:%Y-%m-%d}"></label> '
            f'<label>{i18n.t("incidents.form.period", lang)} <select name="period">{per}</select></label> '
            f'<button type="submit">{i18n.t("incidents.form.apply", lang)}</button></form>')


def _local(t: datetime) -> datetime:
    return t.astimezone(ZoneInfo(TIMEZONE)) if t.tzinfo else t


def _note(m: folium.Map, text_: str) -> None:
    m.get_root().html.add_child(Element(
        f'<div class="gridmap-incident-mode" style="position:fixed;top:96px;left:54px;z-index:1000;'
        f'background:rgba(255,255,255,.94);padding:4px 10px;border-radius:4px;font-size:13px">'
        f'{html.escape(text_)}</div>'))


def _categories(conn: Connection, lang: str) -> list[tuple[str, str]]:
    col = "name_zh" if lang == "zh" else "name_en"
    return [tuple(r) for r in conn.execute(text(f"SELECT code, {col} FROM incident_categories ORDER BY code"))]


def _bounds(shapes: dict[str, dict], frames: dict) -> tuple[float, float, float, float] | None:
    xs, ys = [], []
    for g in shapes.values():
        x0, y0, x1, y1 = shape(g).bounds
        xs += [x0, x1]
        ys += [y0, y1]
    if not xs and frames["window"]:
        w = np.array([p[:2] for p in frames["window"]])
        ys, xs = [w[:, 0].min(), w[:, 0].max()], [w[:, 1].min(), w[:, 1].max()]
    return (min(xs), min(ys), max(xs), max(ys)) if xs else None


def heatmap_map(conn: Connection, settings: Settings, scope: Jurisdiction, lang: str, *,
                start: datetime | None = None, end: datetime | None = None, category: list[str] | None = None,
                period: str = "month") -> tuple[folium.Map, dict]:
    """Build the heatmap page's map; returns ``(map, info)`` (``info``: mode, n, cell_m, frames)."""
    start, end = default_window(conn, scope, start, end, period)
    heat = heat_frames(conn, settings, scope, start=start, end=end, category=category, period=period)
    stats = area_stats(conn, scope, level="grid", start=start, end=end, category=category, period=None,
                       min_count=0, with_totals=False, percentiles=False).rows.set_index("code")
    shapes = _grid_shapes(conn, scope)
    m = offline_map(settings, bounds=_bounds(shapes, heat), lang=lang, zoom_start=12)
    add_title(m, i18n.t("incidents.heatmap.title", lang))
    breaks = _breaks(stats["rate_per_100_households"])
    feats = []
    by_code = stats.to_dict("index")
    for code, geom in shapes.items():
        s = by_code.get(code)
        rate = None if s is None or pd.isna(s["rate_per_100_households"]) else float(s["rate_per_100_households"])
        colour = "#dddddd" if rate is None else RATE_COLOURS[int(np.searchsorted(breaks, rate, side="right"))]

        def num(v, nd=2):
            return None if v is None or pd.isna(v) else round(float(v), nd)
        feats.append({"type": "Feature", "geometry": geom, "properties": {
            "code": code, "name": None if s is None else s["name"], "fill": colour,
            "incidents": 0 if s is None else int(s["incidents"]),
            "households": None if s is None or pd.isna(s["households"]) else int(s["households"]),
            "rate": None if rate is None else round(rate, 2),
            "closure": None if s is None else num(s["closure_rate"], 3),
            "resolution": None if s is None else num(s["resolution_rate"], 3),
            "overdue": 0 if s is None else int(s["overdue"])}})
    fields = ["code", "name", "incidents", "households", "rate", "closure", "resolution", "overdue"]
    keys = ["code", "name", "incidents", "households", "rate", "closure", "resolution", "overdue"]
    folium.GeoJson(
        {"type": "FeatureCollection", "features": feats}, name=i18n.t("incidents.rate.layer", lang),
        on_each_feature=_fill_from_properties({"color": "#555", "weight": 0.8, "fillOpacity": 0.3}),
        popup=folium.GeoJsonPopup(fields=fields, aliases=[i18n.t(f"incidents.f.{k}", lang) for k in keys]),
    ).add_to(m)
    if heat["n"]:
        folium.plugins.HeatMapWithTime(
            heat["frames"], index=heat["labels"], name=i18n.t("incidents.heat.layer", lang), radius=18,
            auto_play=False, max_opacity=0.8, use_local_extrema=False, position="bottomleft",
        ).add_to(m)
        folium.plugins.HeatMap(heat["window"], name=i18n.t("incidents.heat.window", lang), radius=14,
                               blur=12, show=False).add_to(m)
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
    _note(m, f"{note} · {_local(start):%Y-%m-%d} – {_local(end):%Y-%m-%d}")
    m.get_root().html.add_child(Element(_form(lang, _categories(conn, lang), category, start, end, period,
                                              "/incidents/heatmap")))
    return m, {"mode": heat["mode"], "n": heat["n"], "cell_m": heat["cell_m"], "frames": len(heat["frames"])}


def hotspots_map(conn: Connection, settings: Settings, scope: Jurisdiction, lang: str, *,
                 level: str = "grid", resolution: int = 8, start: datetime | None = None,
                 end: datetime | None = None, category: list[str] | None = None,
                 min_incidents: int = 30) -> folium.Map:
    """Hot and cold spots (Gi*, FDR-corrected) as a coloured layer with z, p and counts in popups."""
    start, end = default_window(conn, scope, start, end)
    shapes = _grid_shapes(conn, scope)
    feats, note = [], ""
    try:
        res, geoms = hotspots(conn, scope, level=level, resolution=resolution, start=start, end=end,
                              category=category, min_incidents=min_incidents)
        for unit, r in res.iterrows():
            feats.append({"type": "Feature", "geometry": json.loads(json.dumps(geoms[unit].__geo_interface__)),
                          "properties": {"code": str(unit), "incidents": int(r["count"]),
                                         "z": None if pd.isna(r.z) else round(float(r.z), 2),
                                         "p": None if pd.isna(r.p) else float(f"{r.p:.3g}"),
                                         "class": r.classification, "fill": HOT_COLOURS[int(r["bin"])]}})
        sig = int((res["bin"] != 0).sum())
        note = i18n.t("incidents.hot.note", lang, units=len(res), n=int(res["count"].sum()), sig=sig)
    except InvalidInput as exc:
        note = i18n.t("incidents.hot.too_few", lang, reason=str(exc))
    m = offline_map(settings, bounds=_bounds(shapes, {"window": []}), lang=lang, zoom_start=12)
    add_title(m, i18n.t("incidents.hotspots.title", lang))
    if feats:
        folium.GeoJson(
            {"type": "FeatureCollection", "features": feats}, name=i18n.t("incidents.hot.layer", lang),
            on_each_feature=_fill_from_properties({"color": "#666", "weight": 1, "fillOpacity": 0.7}),
            popup=folium.GeoJsonPopup(fields=["code", "incidents", "z", "p", "class"],
                                      aliases=[i18n.t(f"incidents.f.{k}", lang) for k in
                                               ("code", "incidents", "z", "p", "class")]),
        ).add_to(m)
        folium.LayerControl(collapsed=False).add_to(m)
    labels = {3: "hot 99%", 2: "hot 95%", 1: "hot 90%", 0: "not significant", -1: "cold 90%", -2: "cold 95%",
              -3: "cold 99%"}
    add_legend(m, i18n.t("incidents.hot.legend", lang), [(HOT_COLOURS[b], labels[b]) for b in labels])
    _note(m, f"{note} · {_local(start):%Y-%m-%d} – {_local(end):%Y-%m-%d}")
    return m
