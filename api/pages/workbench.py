"""The planner's workbench (``/plans`` and ``/plans/{id}`` for ``Accept: text/html``).

The HTML is a shell: the vendored Leaflet, ``/static/gridmap/workbench.js`` and the page's strings
in the request's language.  Every datum (the plan, its units and grids, streets, stations, the
community boundary, the current grids, the history) is loaded by the script from the JSON API, so
the page stays small whatever the community's size.  :func:`wants_html` is the content negotiation
the plan routes use.
"""

from __future__ import annotations

import html
import json

from fastapi.responses import HTMLResponse

from api import i18n

__all__ = ["wants_html", "workbench_page", "plans_page", "STRINGS"]

#: Every string the workbench shows (the script reads them from the page, never hard-codes text).
STRINGS: dict[str, dict[str, str]] = {
    "wb.title": {"zh": "网格规划工作台", "en": "Grid planning workbench"},
    "wb.plans": {"zh": "规划方案", "en": "Plans"},
    "wb.new_plan": {"zh": "新建方案", "en": "New plan"},
    "wb.community": {"zh": "村（社区）", "en": "Community"},
    "wb.create": {"zh": "生成草案", "en": "Draw a draft"},
    "wb.creating": {"zh": "正在生成草案…", "en": "Drawing the draft…"},
    "wb.open": {"zh": "打开", "en": "Open"},
    "wb.plan_no": {"zh": "方案 {id}", "en": "Plan {id}"},
    "wb.status": {"zh": "状态", "en": "Status"},
    "wb.status.draft": {"zh": "草案", "en": "Draft"},
    "wb.status.published": {"zh": "已发布", "en": "Published"},
    "wb.status.discarded": {"zh": "已放弃", "en": "Discarded"},
    "wb.created": {"zh": "创建时间", "en": "Created"},
    "wb.no_plans": {"zh": "暂无方案", "en": "No plans yet"},
    "wb.loading": {"zh": "正在加载…", "en": "Loading…"},
    "wb.language": {"zh": "English", "en": "中文"},
    "wb.home": {"zh": "首页", "en": "Home"},
    "wb.grid": {"zh": "网格", "en": "Grid"},
    "wb.grids": {"zh": "网格列表", "en": "Grids"},
    "wb.households": {"zh": "户数", "en": "Households"},
    "wb.band": {"zh": "规模", "en": "Band"},
    "wb.band.under": {"zh": "偏少", "en": "Under"},
    "wb.band.in_band": {"zh": "适中", "en": "In band"},
    "wb.band.over": {"zh": "偏多", "en": "Over"},
    "wb.contiguous": {"zh": "连片", "en": "Contiguous"},
    "wb.yes": {"zh": "是", "en": "Yes"},
    "wb.no": {"zh": "否", "en": "No"},
    "wb.compactness": {"zh": "紧凑度", "en": "Compactness"},
    "wb.moved": {"zh": "调整户数", "en": "Households moved"},
    "wb.locked": {"zh": "已锁定", "en": "Locked"},
    "wb.lock": {"zh": "锁定", "en": "Lock"},
    "wb.unlock": {"zh": "解锁", "en": "Unlock"},
    "wb.tool": {"zh": "工具", "en": "Tool"},
    "wb.tool.click": {"zh": "点选", "en": "Click"},
    "wb.tool.box": {"zh": "框选", "en": "Box"},
    "wb.tool.brush": {"zh": "画笔", "en": "Brush"},
    "wb.brush_size": {"zh": "画笔大小", "en": "Brush size"},
    "wb.allow_split": {"zh": "允许拆分（仅提示）", "en": "Allow splits (warn only)"},
    "wb.undo": {"zh": "撤销", "en": "Undo"},
    "wb.redo": {"zh": "重做", "en": "Redo"},
    "wb.find_unassigned": {"zh": "查找未分配", "en": "Find unassigned"},
    "wb.find_detached": {"zh": "查找飞地", "en": "Find detached parts"},
    "wb.none_unassigned": {"zh": "没有未分配的单元", "en": "No unassigned units"},
    "wb.n_unassigned": {"zh": "{n} 个未分配的单元", "en": "{n} unassigned units"},
    "wb.none_detached": {"zh": "所有网格均连片", "en": "Every grid is in one piece"},
    "wb.n_detached": {"zh": "不连片的网格：{codes}", "en": "Grids in pieces: {codes}"},
    "wb.selected": {"zh": "当前网格：{code}", "en": "Painting into: {code}"},
    "wb.pick_grid": {"zh": "请先在列表中选择一个网格", "en": "Pick a grid in the list first"},
    "wb.refused": {"zh": "未执行：{reason}", "en": "Refused: {reason}"},
    "wb.refused.empties_grid": {"zh": "该调整会使网格 {grid} 没有任何单元", "en": "the move would empty grid {grid}"},
    "wb.refused.detached": {"zh": "单元 {unit} 与网格 {grid} 不相邻", "en": "unit {unit} does not touch grid {grid}"},
    "wb.refused.splits_grid": {"zh": "该调整会把网格 {grid} 拆成不连片的两部分（单元 {unit}）",
                         "en": "the move would split grid {grid} (unit {unit})"},
    "wb.refused.locked": {"zh": "网格 {grid} 已锁定", "en": "grid {grid} is locked"},
    "wb.refused.other": {"zh": "该调整不可行（网格 {grid}，单元 {unit}）",
                         "en": "the move is not possible (grid {grid}, unit {unit})"},
    "wb.warn_split": {"zh": "注意：网格 {codes} 已不连片", "en": "Warning: grid {codes} is now in pieces"},
    "wb.moved_n": {"zh": "已调整 {n} 个单元", "en": "Moved {n} units"},
    "wb.failed": {"zh": "操作失败：{detail}", "en": "Failed: {detail}"},
    "wb.layers": {"zh": "图层", "en": "Layers"},
    "wb.layer.current": {"zh": "现有网格", "en": "Current grids"},
    "wb.layer.streets": {"zh": "道路", "en": "Streets"},
    "wb.layer.stations": {"zh": "服务站点", "en": "Service stations"},
    "wb.layer.boundary": {"zh": "社区边界", "en": "Community boundary"},
    "wb.autobalance": {"zh": "自动均衡", "en": "Auto-balance"},
    "wb.autobalancing": {"zh": "正在自动均衡…", "en": "Balancing…"},
    "wb.proposal": {"zh": "均衡方案：{n} 个网格，{inband} 个规模适中（锁定网格保持不变）",
                    "en": "Proposal: {n} grids, {inband} in band (locked grids kept)"},
    "wb.draft_summary": {"zh": "当前草案：{n} 个网格，{inband} 个规模适中",
                         "en": "This draft: {n} grids, {inband} in band"},
    "wb.accept": {"zh": "采用", "en": "Accept"},
    "wb.discard": {"zh": "放弃", "en": "Discard"},
    "wb.compare": {"zh": "与现有网格比较", "en": "Compare with current grids"},
    "wb.changes": {"zh": "{hh} 户将调整网格", "en": "{hh} households change grid"},
    "wb.unit": {"zh": "单元", "en": "Unit"},
    "wb.from": {"zh": "原网格", "en": "From"},
    "wb.to": {"zh": "新网格", "en": "To"},
    "wb.publish": {"zh": "发布", "en": "Publish"},
    "wb.publish_confirm": {
        "zh": "发布后，{comm} 的 {closed} 个现有网格将停用，{n} 个新网格生效；{hh} 户将调整网格。确定发布吗？",
        "en": "Publishing closes {closed} current grids of {comm} and starts {n} new ones; "
              "{hh} households change grid. Publish?"},
    "wb.confirm": {"zh": "确定", "en": "Confirm"},
    "wb.cancel": {"zh": "取消", "en": "Cancel"},
    "wb.published": {"zh": "已发布", "en": "Published"},
    "wb.readonly": {"zh": "该方案{status}，不能再修改", "en": "This plan is {status}; it can no longer change"},
    "wb.history": {"zh": "历史", "en": "History"},
    "wb.history_at": {"zh": "{date} 的网格：{n} 个", "en": "Grids on {date}: {n}"},
    "wb.export": {"zh": "导出", "en": "Export"},
    "wb.print": {"zh": "打印视图", "en": "Print view"},
    "wb.close_print": {"zh": "关闭打印视图", "en": "Close print view"},
    "wb.print_title": {"zh": "网格规划方案 {id}（{comm}）", "en": "Grid plan {id} ({comm})"},
    "wb.totals": {"zh": "{n} 个网格，{hh} 户，{inband} 个规模适中",
                  "en": "{n} grids, {hh} households, {inband} in band"},
    "wb.format.gpkg": {"zh": "地理数据包", "en": "GeoPackage"},
    "wb.format.geojson": {"zh": "地理要素文件", "en": "GeoJSON"},
    "wb.format.xlsx": {"zh": "电子表格", "en": "Excel"},
}
i18n.add(STRINGS)


def wants_html(request) -> bool:
    """True when the request's ``Accept`` prefers ``text/html`` to JSON (a browser's navigation);
    ``fetch``'s ``*/*``, a missing header and ``application/json`` get JSON."""
    best_html = best_json = -1.0
    for part in (request.headers.get("accept") or "").split(","):
        media, _, params = part.strip().partition(";")
        q = 1.0
        for p in params.split(";"):
            name, _, value = p.strip().partition("=")
            if name == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        media = media.strip().lower()
        if media in ("text/html", "application/xhtml+xml"):
            best_html = max(best_html, q)
        elif media in ("application/json", "application/geo+json"):
            best_json = max(best_json, q)
    return best_html > 0 and best_html > best_json


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
