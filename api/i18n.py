"""User-facing strings in Chinese (the default) and English, in one catalogue.

Pages and messages call :func:`t` with a key and the language of the request, which
:func:`request_lang` picks: ``?lang=en`` first, then the ``Accept-Language`` header, then
``settings.language``.  Other modules add their own strings once, at import, with :func:`add`::

    from api import i18n
    i18n.add({"heatmap.title": {"zh": "事件热力图", "en": "Incident heatmap"}})
"""

from __future__ import annotations

import re
from typing import Literal

from geo.layers import INCIDENT_CATEGORIES

Lang = Literal["zh", "en"]
LANGS: tuple[str, ...] = ("zh", "en")
DEFAULT_LANG: Lang = "zh"

CATALOGUE: dict[str, dict[str, str]] = {
    # the overview map page
    "map.title": {"zh": "网格总览图", "en": "Grid overview map"},
    "map.basemap": {"zh": "底图", "en": "Basemap"},
    "map.legend": {"zh": "图例", "en": "Legend"},
    "map.loading": {"zh": "正在加载…", "en": "Loading…"},
    "map.load_failed": {"zh": "图层加载失败：{layer}", "en": "Could not load layer: {layer}"},
    "map.empty": {"zh": "暂无数据", "en": "No data yet"},
    # layers
    "layer.towns": {"zh": "镇（街道）", "en": "Towns / subdistricts"},
    "layer.communities": {"zh": "村（社区）", "en": "Villages / communities"},
    "layer.grids": {"zh": "网格", "en": "Grids"},
    "layer.stations": {"zh": "服务站点", "en": "Service stations"},
    "layer.dwellings": {"zh": "住宅", "en": "Dwellings"},
    "layer.streets": {"zh": "道路", "en": "Streets"},
    "layer.incidents": {"zh": "事件", "en": "Incidents"},
    "layer.areas": {"zh": "行政区域", "en": "Areas"},
    "layer.grid_labels": {"zh": "网格标注", "en": "Grid labels"},
    # station kinds (user-defined kinds are shown as they are written)
    "kind.service_centre": {"zh": "党群服务中心", "en": "Party-mass service centre"},
    "kind.grid_station": {"zh": "网格先锋站", "en": "Grid pioneer station"},
    "kind.neighbourhood_point": {"zh": "微网格邻里点", "en": "Neighbourhood point"},
    # feature properties (popups)
    "field.code": {"zh": "编码", "en": "Code"},
    "field.name": {"zh": "名称", "en": "Name"},
    "field.level": {"zh": "级别", "en": "Level"},
    "field.parent_code": {"zh": "上级编码", "en": "Parent code"},
    "field.community": {"zh": "所属社区", "en": "Community"},
    "field.community_code": {"zh": "社区编码", "en": "Community code"},
    "field.town_code": {"zh": "镇街编码", "en": "Town code"},
    "field.households": {"zh": "户数", "en": "Households"},
    "field.chief": {"zh": "网格长", "en": "Grid chief"},
    "field.worker": {"zh": "专职网格员", "en": "Grid worker"},
    "field.phone": {"zh": "联系电话", "en": "Phone"},
    "field.kind": {"zh": "类型", "en": "Kind"},
    "field.capacity": {"zh": "容量", "en": "Capacity"},
    "field.opening_hours": {"zh": "开放时间", "en": "Opening hours"},
    "field.address": {"zh": "地址", "en": "Address"},
    "field.valid_from": {"zh": "生效时间", "en": "Valid from"},
    # values and units on the maps
    "unit.min": {"zh": "分钟", "en": "min"},
    "value.yes": {"zh": "是", "en": "yes"},
    "value.no": {"zh": "否", "en": "no"},
    "grid.label": {"zh": "{code}\n{households} 户", "en": "{code}\n{households} households"},
    "method.network": {"zh": "沿路网计算", "en": "along the street network"},
    "method.straight_line": {"zh": "直线距离估算", "en": "straight-line estimate"},
    "method.network+straight_line": {"zh": "路网 + 直线估算", "en": "network and straight-line estimate"},
    # the page shell and the home page
    "lang.name": {"zh": "中文", "en": "English"},
    "nav.home": {"zh": "首页", "en": "Home"},
    "nav.language": {"zh": "语言", "en": "Language"},
    "nav.back_home": {"zh": "返回首页", "en": "Back to the home page"},
    "home.title": {"zh": "gridmap 网格治理地图", "en": "gridmap: community grid maps"},
    "home.intro": {"zh": "社区网格、户数、8 分钟党群服务圈与事件的地图和统计，全部离线可用。",
                   "en": "Maps and figures of community grids, households, the 8-minute service circle and "
                         "incidents; everything works offline."},
    "home.holds": {"zh": "现有数据", "en": "What gridmap holds"},
    "home.empty": {"zh": "还没有数据。导入数据，或运行示例：", "en": "No data yet. Import your data, or load the sample:"},
    "home.pages": {"zh": "页面", "en": "Pages"},
    "home.page.map": {"zh": "网格总览图", "en": "Overview map"},
    "home.page.map.what": {"zh": "镇街、村社区、网格和服务站点的分布", "en": "Towns, communities, grids and service stations"},
    "home.page.coverage": {"zh": "服务圈覆盖图", "en": "Coverage map"},
    "home.page.coverage.what": {"zh": "各网格 8 分钟内可达服务站点的户数比例和覆盖盲区",
                                "en": "Share of each grid's households within 8 minutes of a station, and the gaps"},
    "home.page.heatmap": {"zh": "事件热力图", "en": "Incident heatmap"},
    "home.page.heatmap.what": {"zh": "事件随时间的密度和各网格每百户事件数",
                               "en": "Incident density over time and incidents per 100 households per grid"},
    "home.page.hotspots": {"zh": "事件热点", "en": "Incident hotspots"},
    "home.page.hotspots.what": {"zh": "事件显著偏多（热点）或偏少（冷点）的网格",
                                "en": "Grids with significantly more (hot) or fewer (cold) incidents"},
    "home.page.docs": {"zh": "接口文档", "en": "API documentation"},
    "home.page.docs.what": {"zh": "所有数据接口（OpenAPI），可在浏览器中试用",
                            "en": "Every data endpoint (OpenAPI), to try in the browser"},
    "home.page.downloads": {"zh": "下载", "en": "Downloads"},
    "home.page.downloads.what": {"zh": "图层和统计表（Excel、CSV、GeoJSON、GeoPackage）",
                                 "en": "Layers and tables (Excel, CSV, GeoJSON, GeoPackage)"},
    "home.dl.tables": {"zh": "统计表", "en": "Tables"},
    "home.dl.layers": {"zh": "图层", "en": "Layers"},
    "home.dl.coverage": {"zh": "网格覆盖率", "en": "Grid coverage"},
    "home.dl.gaps": {"zh": "覆盖盲区", "en": "Coverage gaps"},
    "home.dl.stats": {"zh": "事件统计（按网格）", "en": "Incident statistics (per grid)"},
    "home.dl.hotspots": {"zh": "事件热点", "en": "Incident hotspots"},
    "nav.back_page": {"zh": "去掉参数重新打开此页", "en": "Open this page without the parameters"},
    "error.field": {"zh": "参数 {field}", "en": "Parameter {field}"},
    # problem+json titles, by slug (api/errors.py)
    "error.title.internal-error": {"zh": "内部错误", "en": "Internal error"},
    "error.title.forbidden": {"zh": "超出您的辖区", "en": "Outside your jurisdiction"},
    "error.title.not-found": {"zh": "未找到", "en": "Not found"},
    "error.title.conflict": {"zh": "冲突", "en": "Conflict"},
    "error.title.payload-too-large": {"zh": "数据量超出限制", "en": "Payload too large"},
    "error.title.unsupported-media-type": {"zh": "不支持的格式", "en": "Unsupported media type"},
    "error.title.validation-failed": {"zh": "输入有误", "en": "Validation failed"},
    "error.title.database-unavailable": {"zh": "数据库不可用", "en": "Database unavailable"},
    "error.title.http-404": {"zh": "未找到", "en": "Not Found"},
    "error.title.http-405": {"zh": "不允许的请求方法", "en": "Method Not Allowed"},
    # problem+json details: the English text is the pattern ({name} matches any text), the Chinese its
    # translation (api.i18n.detail)
    "detail.no_area": {"zh": "您的辖区内没有代码为 {code} 的镇街、村社区、网格或区县",
                       "en": "no town, community, grid or county {code} in your jurisdiction"},
    "detail.no_area_tcg": {"zh": "您的辖区内没有代码为 {code} 的镇街、村社区或网格",
                           "en": "no town, community or grid {code} in your jurisdiction"},
    "detail.no_area_plain": {"zh": "您的辖区内没有区域 {code}", "en": "no area {code} in your jurisdiction"},
    "detail.reversed": {"zh": "时间段颠倒：开始时间 {start} 晚于结束时间 {end}",
                        "en": "the window is reversed: from {start} is after to {end}"},
    "detail.reversed_why": {"zh": "开始时间 {start} 晚于结束时间 {end}", "en": "from {start} is after to {end}"},
    "detail.unknown_category": {"zh": "未知的事件类别 {codes}；已有类别：{known}（用 `{cmd}` 添加）",
                                "en": "unknown category {codes}; known categories: {known} (add one with `{cmd}`)"},
    "detail.shape": {"zh": "请求的参数格式不符合要求。", "en": "The request does not match the expected shape."},
    "detail.internal": {"zh": "gridmap 遇到意外错误；此请求没有改动任何数据（写入在一个事务中完成）。详情见服务器日志。",
                        "en": "gridmap hit an unexpected error; nothing was changed by this request "
                              "(writes run in one transaction). The server log has the details."},
    "detail.not_found": {"zh": "未找到", "en": "Not Found"},
    "detail.datetime": {"zh": "应为日期或日期时间（例如 2026-01-31 或 2026-01-31T08:00）",
                        "en": "Input should be a valid datetime or date, {why}"},
    "detail.number": {"zh": "应为数字", "en": "Input should be a valid number, {why}"},
    "detail.no_kind": {"zh": "您的辖区内没有类型为 {kinds} 的站点；现有类型：{present}",
                       "en": "no station of kind {kinds} in your jurisdiction; the kinds present are {present}"},
    # collections (OGC API Features titles)
    "collection.areas": {"zh": "行政区域（镇街、村社区）", "en": "Areas (towns, communities)"},
    "collection.grids": {"zh": "网格（当前版本，可按时间查询历史）", "en": "Grids (current; history by datetime)"},
    "collection.dwellings": {"zh": "住宅与户数", "en": "Dwellings and households"},
    "collection.stations": {"zh": "服务站点", "en": "Service stations"},
    "collection.streets": {"zh": "道路网络", "en": "Street network"},
    "collection.incidents": {"zh": "事件", "en": "Incidents"},
}
for _code, (_zh, _en, _sla) in INCIDENT_CATEGORIES.items():
    CATALOGUE[f"category.{_code}"] = {"zh": _zh, "en": _en}


def add(entries: dict[str, dict[str, str]]) -> None:
    """Add strings to the catalogue; each entry needs every language in :data:`LANGS`.

    Raises
    ------
    ValueError
        If an entry lacks a language, or redefines an existing key with different text.
    """
    for key, texts in entries.items():
        missing = [lang for lang in LANGS if not texts.get(lang)]
        if missing:
            raise ValueError(f"i18n key {key!r} has no text for {', '.join(missing)}")
        if key in CATALOGUE and CATALOGUE[key] != texts:
            raise ValueError(f"i18n key {key!r} is already defined differently")
        CATALOGUE[key] = dict(texts)


def normalise(lang: str | None) -> Lang | None:
    """``'en-GB'`` -> ``'en'``, ``'zh-Hans-CN'`` -> ``'zh'``; ``None`` for languages gridmap lacks."""
    if not lang:
        return None
    base = lang.strip().lower().replace("_", "-").split("-")[0]
    return base if base in LANGS else None  # type: ignore[return-value]


def t(key: str, lang: str | None = None, **fmt: object) -> str:
    """The text for ``key`` in ``lang`` (default Chinese), formatted with ``fmt``.

    Raises ``KeyError`` for a key nobody defined, so a typo fails in tests, not on a page.
    """
    texts = CATALOGUE[key]
    text = texts.get(normalise(lang) or DEFAULT_LANG) or texts[DEFAULT_LANG]
    return text.format(**fmt) if fmt else text


def error_title(slug: str, title: str, lang: str | None = None) -> str:
    """The title of an error (``slug`` as in :mod:`api.errors`) in ``lang``; ``title`` when the
    catalogue has none."""
    key = f"error.title.{slug}"
    return t(key, lang) if key in CATALOGUE else title


_DETAIL_PATTERNS: list[tuple[re.Pattern, str]] | None = None


def _detail_patterns() -> list[tuple[re.Pattern, str]]:
    global _DETAIL_PATTERNS
    if _DETAIL_PATTERNS is None or len(_DETAIL_PATTERNS) != sum(k.startswith("detail.") for k in CATALOGUE):
        out = []
        for key, texts in CATALOGUE.items():
            if key.startswith("detail."):
                parts = re.split(r"\{(\w+)\}", texts["en"])
                rx = "".join(re.escape(p) if i % 2 == 0 else f"(?P<{p}>.+?)" for i, p in enumerate(parts))
                out.append((re.compile(rx + r"\Z", re.S), key))
        _DETAIL_PATTERNS = out
    return _DETAIL_PATTERNS


def detail(text: str, lang: str | None = None) -> str:
    """A message written in English by the code (an error's detail, a problem's reason) in ``lang``:
    the first ``detail.*`` entry whose English text, read as a pattern, matches the whole message
    gives the translation, its ``{name}`` parts carried over; a message no entry matches stays as
    written."""
    lang = normalise(lang) or DEFAULT_LANG
    if lang == "en" or not text:
        return text
    for rx, key in _detail_patterns():
        m = rx.match(text)
        if m:
            return CATALOGUE[key][lang].format(**m.groupdict())
    return text


def kind_label(kind: str, lang: str | None = None) -> str:
    """Display name of a station kind; a user-defined kind is shown as written."""
    key = f"kind.{kind}"
    return t(key, lang) if key in CATALOGUE else kind


def accept_language(header: str | None) -> Lang | None:
    """The best language gridmap has from an ``Accept-Language`` header (RFC 9110 q-values)."""
    if not header:
        return None
    ranked: list[tuple[float, int, str]] = []
    for i, part in enumerate(header.split(",")):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        for p in params.split(";"):
            name, _, value = p.strip().partition("=")
            if name == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        lang = normalise(tag)
        if lang and q > 0:
            ranked.append((-q, i, lang))
    return min(ranked)[2] if ranked else None


def request_lang(request, default: str | None = None) -> Lang:
    """The language for a request: ``?lang=``, then ``Accept-Language``, then ``default``.

    ``request`` is a Starlette request; ``default`` is usually ``settings.language``.
    """
    return (
        normalise(request.query_params.get("lang"))
        or accept_language(request.headers.get("accept-language"))
        or normalise(default)
        or DEFAULT_LANG
    )
