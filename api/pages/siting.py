"""The siting map (``/siting/map``): a proposal's new sites, their service areas and the coverage after.

Drawn from the answer's JSON (a done job's result, or a question answered for the page): grids
coloured by the share of households covered after the change, the new sites' service areas, the
stations that stay and those the proposal closes, and each new site with its figures and a button
that asks the coverage what-if (``POST /coverage/what-if``, ``action="add"``) to check it; the
summary box has a button asking the what-if of the whole proposal (every site and closure together,
the answer's ``what_if``), which should say the proposal's own newly covered households.  Offline:
every asset is vendored (:mod:`api.pages.base`), the data are in the page.
"""

from __future__ import annotations

import html
import json

import folium
from branca.element import Element
from sqlalchemy import Connection

from api import i18n
from api.db.export import layer_frame
from api.jurisdiction import Jurisdiction
from api.pages.base import add_legend, add_title, offline_map
from api.pages.coverage import BAND_COLOURS
from api.settings import Settings

SITE_COLOUR, AREA_COLOUR, STATION_COLOUR, CLOSED_COLOUR = "#e66101", "#fdb863", "#2b83ba", "#d7191c"


def _fmt(v, nd: int = 1) -> str:
    return "-" if v is None else f"{v:,.{nd}f}" if isinstance(v, float) else f"{v:,}"


def _band(pct) -> str:
    if pct is None:
        return "#cccccc"
    return BAND_COLOURS["4" if pct >= 100 else "3" if pct >= 95 else "2" if pct >= 80 else "1" if pct >= 50 else "0"]


def siting_map(conn: Connection, settings: Settings, scope: Jurisdiction, lang: str, answer: dict) -> folium.Map:
    """The page of ``answer`` (the JSON of :meth:`api.siting.Proposal.as_json`) for ``scope``."""
    t = lambda key, **kw: i18n.t(key, lang).format(**kw)  # noqa: E731
    grids = layer_frame(conn, "grids", scope)
    after = {r["code"]: r for r in answer["levels"]["grid"]}
    grids = grids[grids["code"].isin(after)]
    bounds = tuple(grids.total_bounds) if len(grids) else None
    m = offline_map(settings, bounds=bounds, location=None if bounds else (31.9, 120.28), lang=lang)
    tot = answer["totals"]
    add_title(m, t("siting.title"))
    m.get_root().html.add_child(Element(
        '<div class="gridmap-siting-summary" style="position:absolute;top:64px;left:60px;z-index:1000;'
        'background:#fff;border:1px solid #999;padding:6px 10px;font:13px sans-serif">'
        + html.escape(t("siting.summary", minutes=f"{answer['params']['minutes']:g}",
                        before=_fmt(tot["covered_before"]), after=_fmt(tot["covered_after"]),
                        pb=_fmt(tot["covered_pct_before"]), pa=_fmt(tot["covered_pct_after"]), sites=tot["sites"],
                        closed=tot["closed"]))
        + (f'<br><button type="button" id="gridmap-siting-check-all" onclick="gridmapSitingCheckAll(this)">'
           f'{html.escape(t("siting.check_all"))}</button><div id="gridmap-whatif-all"></div>'
           if answer.get("what_if") else "") + "</div>"))
    if len(grids):
        g = grids[["code", "name", "geometry"]].copy()
        for c in ("households", "covered_before", "covered_after", "covered_pct_after"):
            g[c] = [after[code][c] for code in g["code"]]
        folium.GeoJson(
            json.loads(g.to_json(drop_id=True)), name=t("siting.grids_after"),
            style_function=lambda f: {"color": "#555555", "weight": 1, "fillOpacity": 0.4,
                                      "fillColor": _band(f["properties"]["covered_pct_after"])},
            tooltip=folium.GeoJsonTooltip(["code", "name", "households", "covered_before", "covered_after",
                                           "covered_pct_after"]),
        ).add_to(m)
    if answer.get("service_areas", {}).get("features"):
        folium.GeoJson(answer["service_areas"], name=t("siting.areas"),
                       style_function=lambda f: {"color": SITE_COLOUR, "weight": 2, "fillColor": AREA_COLOUR,
                                                 "fillOpacity": 0.35}).add_to(m)
    closed = {int(c["station_id"]) for c in answer.get("closed", []) if isinstance(c["station_id"], int)}
    stations = layer_frame(conn, "stations", scope)
    kept = folium.FeatureGroup(name=t("siting.stations")).add_to(m)
    gone = folium.FeatureGroup(name=t("siting.closed")).add_to(m)
    for r in stations.itertuples():
        shut = int(r.id) in closed
        folium.CircleMarker([r.geometry.y, r.geometry.x], radius=6 if shut else 3, color="#ffffff", weight=1,
                            fill=True, fill_color=CLOSED_COLOUR if shut else STATION_COLOUR, fill_opacity=0.95,
                            tooltip=str(r.name)).add_to(gone if shut else kept)
    group = folium.FeatureGroup(name=t("siting.sites")).add_to(m)
    for i, s in enumerate(answer["sites"]):
        body = (f"<b>{html.escape(t('siting.site', order=s['order']))}</b> {html.escape(str(s['candidate_id']))}<br>"
                f"{html.escape(t('siting.gain'))}: {_fmt(s['gain'], 0)}<br>"
                f"{html.escape(t('siting.reach'))}: {_fmt(s['reach_households'], 0)}<br>"
                f"{html.escape(str(s.get('grid_code') or ''))}<br>"
                f'<button type="button" onclick="gridmapSitingCheck({i}, this)">'
                f'{html.escape(t("siting.check"))}</button>'
                f'<div class="gridmap-whatif" id="gridmap-whatif-{i}"></div>')
        folium.CircleMarker([s["lat"], s["lon"]], radius=8, color="#ffffff", weight=2, fill=True,
                            fill_color=SITE_COLOUR, fill_opacity=1.0, popup=folium.Popup(body, max_width=320),
                            tooltip=str(s["candidate_id"])).add_to(group)
    questions = json.dumps([s["what_if"] for s in answer["sites"]]).replace("</", "<\\/")
    checked = json.dumps(t("siting.checked", n="{n}")).replace("</", "<\\/")
    whole = json.dumps(answer.get("what_if")).replace("</", "<\\/")
    checked_all = json.dumps(t("siting.checked_all", n="{n}", m=f"{tot['newly_covered']:,}")).replace("</", "<\\/")
    m.get_root().html.add_child(Element(
        "<script>window.gridmapSiting = {questions: " + questions + ", checked: " + checked + ", whole: " + whole
        + ", checkedAll: " + checked_all + "};"
        "function gridmapSitingCheckAll(btn) {"
        " btn.disabled = true;"
        " fetch('/coverage/what-if', {method: 'POST', headers: {'Content-Type': 'application/json'},"
        "  body: JSON.stringify(window.gridmapSiting.whole)})"
        " .then(function (r) { return r.json(); })"
        " .then(function (d) { document.getElementById('gridmap-whatif-all').textContent ="
        "   d.delta === undefined ? (d.detail || 'error') :"
        "   window.gridmapSiting.checkedAll.replace('{n}', d.delta.toLocaleString()); })"
        " .finally(function () { btn.disabled = false; }); }"
        "function gridmapSitingCheck(i, btn) {"
        " btn.disabled = true;"
        " fetch('/coverage/what-if', {method: 'POST', headers: {'Content-Type': 'application/json'},"
        "  body: JSON.stringify(window.gridmapSiting.questions[i])})"
        " .then(function (r) { return r.json(); })"
        " .then(function (d) { var out = document.getElementById('gridmap-whatif-' + i); if (!out) return;"
        "  out.textContent = d.delta === undefined ? (d.detail || 'error') :"
        "   window.gridmapSiting.checked.replace('{n}', d.delta.toLocaleString()); })"
        " .finally(function () { btn.disabled = false; }); }</script>"))
    add_legend(m, t("siting.title"), [(SITE_COLOUR, t("siting.sites")), (AREA_COLOUR, t("siting.areas")),
                                      (STATION_COLOUR, t("siting.stations")), (CLOSED_COLOUR, t("siting.closed")),
                                      *[(c, i18n.t(f"coverage.band.{b}", lang)) for b, c in BAND_COLOURS.items()]])
    folium.LayerControl(collapsed=False).add_to(m)
    return m
