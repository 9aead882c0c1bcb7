"""Tables for people: every export's .xlsx and CSV, written once here.

Both take a plain :class:`pandas.DataFrame` (a GeoDataFrame's geometry becomes ``lon``/``lat``:
the point itself, or a point inside a line or polygon) and:

* write **times in the configured zone** (``GRIDMAP_TIMEZONE``): tz-aware columns and ISO 8601
  text with an offset are converted; CSV writes ISO 8601 with the zone's offset, .xlsx writes Excel
  date-times (Excel holds no zone: the header names it);
* keep **codes as text** (``code``, ``*_code``, ``source_id``, ``external_id``, ``unit``...): never
  numbers Excel would shorten to ``3.20281E+11``;
* CSV starts with a UTF-8 BOM (Excel on Chinese Windows otherwise reads GBK) and keeps the column
  names (they import back as they are);
* .xlsx has headers in the reader's language (:func:`header`), numbers rounded for reading
  (percent columns one decimal, rates as Excel percentages), a frozen bold header row, and
  reads back with openpyxl (tests do).
"""

from __future__ import annotations

import datetime as dt
import io
import re
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from api import i18n

__all__ = ["XLSX_MEDIA", "CSV_MEDIA", "header", "people_frame", "xlsx_bytes", "csv_text", "table_response"]

XLSX_MEDIA = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV_MEDIA = "text/csv; charset=utf-8"
_CODE = re.compile(r"^(code|unit|source_id|external_id|grid|grids|gap_id|.*_code)$")
_TIME_TEXT = re.compile(r"^\d{4}-\d\d-\d\d[T ]\d\d:\d\d(:\d\d(\.\d+)?)?([+-]\d\d(:?\d\d)?|Z)$")
#: Excel's cell limit is 32,767 characters; longer text is cut (with an ellipsis)
MAX_CELL = 32_000


def header(column: str, lang: str | None = None, tz: str | None = None) -> str:
    """The header of ``column`` in ``lang``: ``column.<name>`` of the catalogue, the derived ones
    (``covered_<N>s``, ``stations_<kind>``), else the name as it is."""
    key = f"column.{column}"
    if key in i18n.CATALOGUE:
        text = i18n.t(key, lang)
    elif (m := re.fullmatch(r"covered_(\d+(?:\.\d+)?)s", column)):
        text = i18n.t("column.covered_within", lang, minutes=f"{float(m.group(1)) / 60:g}")
    elif column.startswith("stations_"):
        text = i18n.t("column.stations_of_kind", lang, kind=i18n.kind_label(column[len("stations_"):], lang))
    else:
        text = column
    return text


def _local(series: pd.Series, zone: ZoneInfo) -> pd.Series | None:
    """``series`` as naive local date-times in ``zone`` when it holds times (tz-aware, or ISO text
    with an offset); ``None`` when it does not."""
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        return series.dt.tz_convert(zone).dt.tz_localize(None)
    if series.dtype == object or pd.api.types.is_string_dtype(series.dtype):
        sample = series.dropna()
        sample = sample[~sample.astype(str).isin(["-infinity", "infinity"])]
        if not len(sample) or not all(isinstance(v, str) and _TIME_TEXT.match(v) for v in sample.iloc[:20]):
            if len(sample) and all(isinstance(v, dt.datetime) and v.tzinfo for v in sample.iloc[:20]):
                return pd.to_datetime(series, utc=True).dt.tz_convert(zone).dt.tz_localize(None)
            return None
        parsed = pd.to_datetime(series.where(~series.astype(str).isin(["-infinity", "infinity"])),
                                utc=True, errors="coerce", format="ISO8601")
        return parsed.dt.tz_convert(zone).dt.tz_localize(None)
    return None


def people_frame(frame: pd.DataFrame, tz: str) -> tuple[pd.DataFrame, list[str]]:
    """``frame`` ready to write: geometry as ``lon``/``lat`` (6 decimals), times naive local in
    ``tz``, codes as text, lists joined with ``;``.  Returns it and the names of its time columns."""
    import geopandas as gpd

    geom = None
    if isinstance(frame, gpd.GeoDataFrame) and frame.active_geometry_name in frame.columns:
        g = frame.geometry
        df = pd.DataFrame(frame.drop(columns=frame.active_geometry_name)).copy()
        if len(g):
            pts = gpd.GeoSeries(np.where(g.geom_type == "Point", g.values, g.representative_point().values),
                                index=g.index)
            geom = (pts.x.round(6), pts.y.round(6))
    else:
        df = pd.DataFrame(frame).copy()
    zone = ZoneInfo(tz)
    times = []
    for c in list(df.columns):
        local = _local(df[c], zone)
        if local is not None:
            orig = df[c].astype(object)
            special = orig.astype(str).isin(["-infinity", "infinity"])  # grid validity since / for ever
            df[c] = local.astype(object).where(local.notna(), None).where(~special, orig)
            times.append(c)
        elif _CODE.match(str(c)):
            df[c] = df[c].map(lambda v: None if v is None or (isinstance(v, float) and np.isnan(v))
                              else ";".join(map(str, v)) if isinstance(v, (list, tuple)) else str(v))
        elif df[c].dtype == object and len(df[c].dropna()) and isinstance(df[c].dropna().iloc[0], (list, tuple)):
            df[c] = df[c].map(lambda v: ";".join(map(str, v)) if isinstance(v, (list, tuple)) else v)
    if geom is not None:
        df["lon"], df["lat"] = geom
    return df, times


def _decimals(column: str) -> int:
    """Decimals kept for reading: coordinates 6 (~0.1 m), rates 3 (shown as 0.0%), percentages 1, else 2."""
    if column in ("lon", "lat"):
        return 6
    if column.endswith("_rate"):
        return 3
    return 1 if column.endswith("_pct") else 2


def _number_format(column: str) -> str | None:
    if column.endswith("_rate"):
        return "0.0%"
    if column.endswith("_pct"):
        return "0.0"
    return None


def xlsx_bytes(frame: pd.DataFrame, *, lang: str | None, tz: str, sheet: str = "gridmap") -> bytes:
    """The .xlsx of ``frame`` (see the module): one sheet named ``sheet``, headers in ``lang``,
    times in ``tz`` (named in their headers), numbers rounded for reading."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    df, times = people_frame(frame, tz)
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(title=sheet[:31])
    ws.freeze_panes = "A2"
    cols = list(df.columns)
    heads = [header(c, lang) + (f" ({tz})" if c in times else "") for c in cols]
    for i, h in enumerate(heads):
        width = min(max(len(h) * (2 if re.search(r"[^\x00-\x7f]", h) else 1) + 2, 10), 40)
        ws.column_dimensions[_letter(i + 1)].width = width
    bold = Font(bold=True)
    row = []
    for h in heads:
        cell = WriteOnlyCell(ws, value=h)
        cell.font = bold
        row.append(cell)
    ws.append(row)
    kinds = []
    for c in cols:
        s = df[c]
        if c in times:
            kinds.append(("time", "yyyy-mm-dd hh:mm:ss"))
        elif _CODE.match(str(c)):
            kinds.append(("text", "@"))
        elif pd.api.types.is_bool_dtype(s.dtype):
            kinds.append(("bool", None))
        elif pd.api.types.is_integer_dtype(s.dtype):
            kinds.append(("int", None))
        elif pd.api.types.is_float_dtype(s.dtype):
            kinds.append(("float", _number_format(str(c))))
        else:
            kinds.append(("any", None))
    values = [df[c].astype(object).where(df[c].notna(), None).tolist() for c in cols]
    for r in range(len(df)):
        out = []
        for (kind, fmt), col, v in zip(kinds, cols, (vals[r] for vals in values)):
            if v is None:
                out.append(None)
                continue
            if kind == "float":
                v = round(float(v), _decimals(str(col)))
            elif kind == "int":
                v = int(v)
            elif kind == "time":
                v = v.to_pydatetime() if isinstance(v, pd.Timestamp) else str(v)
            elif kind == "text":
                v = str(v)
            elif isinstance(v, str) and len(v) > MAX_CELL:
                v = v[:MAX_CELL] + "…"
            elif isinstance(v, (dt.date, dt.datetime, bool, int, float, str)):
                pass
            else:
                v = str(v)
            if fmt:
                cell = WriteOnlyCell(ws, value=v)
                cell.number_format = fmt
                out.append(cell)
            else:
                out.append(v)
        ws.append(out)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _letter(n: int) -> str:
    s = ""
    while n:
        n, r = divmod(n - 1, 26)
        s = chr(65 + r) + s
    return s


def csv_text(frame: pd.DataFrame, *, tz: str) -> str:
    """The CSV of ``frame``: UTF-8 BOM, column names as they are, times ISO 8601 with ``tz``'s offset."""
    df, times = people_frame(frame, tz)
    zone = ZoneInfo(tz)
    for c in times:
        df[c] = df[c].map(lambda v: v.tz_localize(zone).isoformat() if isinstance(v, pd.Timestamp)
                          else None if v is None else str(v))
    return "\ufeff" + df.to_csv(index=False)


def table_response(frame: pd.DataFrame, fmt: str, filename: str, *, lang: str | None, tz: str,
                   headers: dict[str, str] | None = None):
    """A download of ``frame`` as ``fmt`` (``"xlsx"`` or ``"csv"``) named ``filename`` + suffix."""
    from urllib.parse import quote

    from fastapi.responses import Response

    if fmt == "xlsx":
        body, media, suffix = xlsx_bytes(frame, lang=lang, tz=tz, sheet=filename), XLSX_MEDIA, ".xlsx"
    else:
        body, media, suffix = csv_text(frame, tz=tz), CSV_MEDIA, ".csv"
    name = filename + suffix
    disp = f"attachment; filename=\"{name.encode('ascii', 'replace').decode()}\"; filename*=UTF-8''{quote(name)}"
    return Response(body, media_type=media, headers={"Content-Disposition": disp, **(headers or {})})
