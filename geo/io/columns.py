"""Column names of an import: the user's ``--map target=source`` and common Chinese headers.

:func:`apply_column_map` renames file columns to layer columns (``geo.layers``); a header such
as 户数 becomes ``households`` only when the layer column is absent and the user did not map it.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd

from geo.errors import InvalidInput, Problem
from geo.layers import LAYERS

__all__ = ["parse_column_map", "apply_column_map", "HEADER_ALIASES"]

#: Chinese table headers often found in office spreadsheets -> layer column.  Applied only when
#: the layer column itself is absent and the user's ``column_map`` does not name it.
HEADER_ALIASES: dict[str, tuple[str, ...]] = {
    "region_code": ("区县代码", "行政区划代码"),
    "code": ("编码", "代码", "编号", "网格编码", "网格编号"),
    "source_id": ("编号", "楼栋编号", "住宅编号", "站点编号", "道路编号", "编码"),
    "external_id": ("事件编号", "工单编号", "工单号"),
    "name": ("名称", "名字", "楼栋名称", "小区名称", "站点名称", "网格名称", "道路名称"),
    "level": ("级别", "层级"),
    "parent_code": ("上级编码", "上级代码"),
    "community_code": ("社区编码", "社区代码", "村社区编码"),
    "town_code": ("镇街编码", "街道编码", "乡镇编码"),
    "grid_code": ("网格编码", "所属网格"),
    "chief": ("网格长",),
    "worker": ("网格员", "专职网格员"),
    "phone": ("电话", "联系电话"),
    "households": ("户数",),
    "population": ("人口", "人数"),
    "levels": ("层数", "楼层数"),
    "building_type": ("建筑类型", "房屋类型"),
    "address": ("地址", "详细地址"),
    "kind": ("类型", "站点类型"),
    "road_class": ("道路等级",),
    "capacity": ("容量",),
    "opening_hours": ("开放时间",),
    "category": ("类别", "事件类别"),
    "description": ("描述", "事件描述"),
    "reported_at": ("上报时间", "报告时间"),
    "status": ("状态",),
    "closed_at": ("办结时间",),
    "opened_on": ("启用日期",),
    "closed_on": ("停用日期",),
}


def parse_column_map(pairs: list[str] | None) -> dict[str, str]:
    """``["target=source", ...]`` (the CLI's ``--map`` options) -> ``{target: source}``."""
    out: dict[str, str] = {}
    problems = []
    for p in pairs or []:
        target, sep, source = p.partition("=")
        if not sep or not target.strip() or not source.strip():
            problems.append(Problem(f"--map {p!r} is not target=source", field="--map"))
            continue
        out[target.strip()] = source.strip()
    if problems:
        raise InvalidInput("Bad column mapping", problems)
    return out


def apply_column_map(frame: gpd.GeoDataFrame, layer_name: str, column_map: dict[str, str] | None,
                     path: Path) -> gpd.GeoDataFrame:
    """Rename file columns to layer columns: the user's map first, then :data:`HEADER_ALIASES`.

    Parameters
    ----------
    frame : geopandas.GeoDataFrame
        The features as read (any CRS; geometry untouched).
    layer_name : str
        The gridmap layer (``geo.layers.LAYERS``) whose column names the aliases may fill.
    column_map : dict or None
        ``{target: source}`` from :func:`parse_column_map`; a mapped target replaces a column
        of the same name.
    path : Path
        The file (for messages).

    Returns
    -------
    geopandas.GeoDataFrame
        The renamed frame, geometry column named ``geometry``.

    Raises
    ------
    geo.errors.InvalidInput
        A mapped source column the file does not have (every one listed).
    """
    column_map = dict(column_map or {})
    present = [c for c in frame.columns if c != frame.geometry.name]
    missing = [src for src in column_map.values() if src not in present]
    if missing:
        raise InvalidInput(
            "Mapped columns not found",
            [Problem(f"--map names column {m!r}, which {path.name} does not have; its columns are: "
                     f"{', '.join(map(str, present))}", field=m) for m in missing],
        )
    layer = LAYERS.get(layer_name)
    if layer is not None:
        names = {c.name for c in layer.columns}
        for target, aliases in HEADER_ALIASES.items():
            if target not in names or target in column_map or target in present:
                continue
            for a in aliases:
                if a in present and a not in column_map.values():
                    column_map[target] = a
                    break
    rename = {src: target for target, src in column_map.items()}
    # a mapped target replaces any column of the same name it would collide with
    clash = [t for t in column_map if t in present and t not in rename]
    frame = frame.drop(columns=clash)
    frame = frame.rename(columns=rename)
    if frame.geometry.name != "geometry":
        frame = frame.rename_geometry("geometry")
    return frame
