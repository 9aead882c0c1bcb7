"""The planner's workbench (``/plans`` and ``/plans/{id}`` for ``Accept: text/html``).

The HTML is a shell: the vendored Leaflet, ``/static/gridmap/workbench.js`` and the page's strings
in the request's language.  Every datum (the plan, its units and grids, streets, stations, the
community boundary, the current grids, the history) is loaded by the script from the JSON API, so
the page stays small whatever the community's size.  The plan routes answer it when
:func:`api.negotiation.prefers_html` says the request prefers HTML.
"""

from __future__ import annotations

import html
import json

from fastapi.responses import HTMLResponse

from api import i18n

__all__ = ["workbench_page", "plans_page", "STRINGS"]

#: Every string the workbench shows (the script reads them from the page, never hard-codes text).
STRINGS: tuple[str, ...] = (  # the page's strings (their text is in api/locale, like every other)
    "wb.title",
    "wb.plans",
    "wb.new_plan",
    "wb.community",
    "wb.create",
    "wb.creating",
    "wb.open",
    "wb.plan_no",
    "wb.status",
    "wb.status.draft",
    "wb.status.published",
    "wb.status.discarded",
    "wb.created",
    "wb.no_plans",
    "wb.loading",
    "wb.language",
    "wb.home",
    "wb.grid",
    "wb.grids",
    "wb.households",
    "wb.band",
    "wb.band.under",
    "wb.band.in_band",
    "wb.band.over",
    "wb.contiguous",
    "wb.yes",
    "wb.no",
    "wb.compactness",
    "wb.moved",
    "wb.locked",
    "wb.lock",
    "wb.unlock",
    "wb.tool",
    "wb.tool.click",
    "wb.tool.box",
    "wb.tool.brush",
    "wb.brush_size",
    "wb.allow_split",
    "wb.undo",
    "wb.redo",
    "wb.find_unassigned",
    "wb.find_detached",
    "wb.none_unassigned",
    "wb.n_unassigned",
    "wb.none_detached",
    "wb.n_detached",
    "wb.selected",
    "wb.pick_grid",
    "wb.refused",
    "wb.refused.empties_grid",
    "wb.refused.detached",
    "wb.refused.splits_grid",
    "wb.refused.locked",
    "wb.refused.other",
    "wb.warn_split",
    "wb.moved_n",
    "wb.failed",
    "wb.layers",
    "wb.layer.current",
    "wb.layer.streets",
    "wb.layer.stations",
    "wb.layer.boundary",
    "wb.autobalance",
    "wb.autobalancing",
    "wb.proposal",
    "wb.draft_summary",
    "wb.accept",
    "wb.discard",
    "wb.compare",
    "wb.changes",
    "wb.unit",
    "wb.from",
    "wb.to",
    "wb.publish",
    "wb.publish_confirm",
    "wb.confirm",
    "wb.cancel",
    "wb.published",
    "wb.readonly",
    "wb.history",
    "wb.history_at",
    "wb.export",
    "wb.print",
    "wb.close_print",
    "wb.print_title",
    "wb.totals",
    "wb.format.gpkg",
    "wb.format.geojson",
    "wb.format.xlsx",
    "wb.tool.line",
    "wb.autobalance_picked",
    "wb.pick",
    "wb.swipe",
    "wb.swipe_hint",
    "wb.line_hint",
    "wb.split_done",
    "wb.merged",
    "wb.refused.line_misses",
    "wb.refused.line_crosses_twice",
    "wb.layer.check",
    "wb.check.overlap",
    "wb.check.gap",
    "wb.check.outside",
    "wb.check.no_community",
    "wb.check.non_contiguous",
    "wb.check.under",
    "wb.check.over",
    "wb.check_n",
    "wb.check_none",
)


def _strings(lang: str) -> dict[str, str]:
    return {k: i18n.t(k, lang) for k in STRINGS}


def _shell(lang: str, view: str, plan_id: int | None) -> HTMLResponse:
    boot = {"lang": lang, "view": view, "plan": plan_id, "t": _strings(lang)}
    title = i18n.t("wb.title", lang)
    data = json.dumps(boot, ensure_ascii=False).replace("</", "<\\/")
    body = f"""<!DOCTYPE html>
<html lang="{'zh-CN' if lang == 'zh' else 'en'}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<link rel="icon" href="/favicon.ico">
<link rel="stylesheet" href="/static/vendor/leaflet/leaflet.css">
<link rel="stylesheet" href="/static/gridmap/workbench.css">
</head>
<body class="wb-{view}">
<div id="wb-app"></div>
<script id="wb-boot" type="application/json">{data}</script>
<script src="/static/vendor/leaflet/leaflet.js"></script>
<script src="/static/gridmap/tiles.js"></script>
<script src="/static/gridmap/workbench.js"></script>
</body>
</html>"""
    return HTMLResponse(body, headers={"Content-Language": "zh-CN" if lang == "zh" else "en", "Vary": "Accept"})


def plans_page(lang: str) -> HTMLResponse:
    """The list of plans with the form that draws a new draft."""
    return _shell(lang, "list", None)


def workbench_page(lang: str, plan_id: int) -> HTMLResponse:
    """The workbench of plan ``plan_id`` (the script loads the plan; a missing one shows the API's error)."""
    return _shell(lang, "plan", plan_id)
