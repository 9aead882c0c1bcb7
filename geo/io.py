"""Reading any import file (GeoJSON, GeoPackage, Shapefile, CSV, XLSX) into a frame in EPSG:4326.

:func:`read_layer` is the one entry point: it reads the file with pyogrio (vector formats) or
pandas (CSV/XLSX with longitude/latitude or WKT columns), applies the user's column mapping,
brings the coordinates to EPSG:4326 and, when the data was digitised on a Chinese web map,
from GCJ-02/BD-09 to WGS84 (:mod:`geo.coords`).  It does not check the layer's columns or
values: :func:`geo.validate.validate_frame` does, on what this returns.

Nothing is guessed silently: a Shapefile whose text is not UTF-8 and that names no encoding,
a projected file without a CRS, an unknown CRS or coordinate system all raise
:class:`geo.errors.InvalidInput` saying what to pass.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from pyproj import CRS
from pyproj.exceptions import CRSError

from geo import coords as _coords
from geo.errors import InvalidInput, Problem
from geo.layers import LAYERS

__all__ = ["read_layer", "parse_column_map", "FORMATS", "LON_NAMES", "LAT_NAMES", "WKT_NAMES"]

#: File suffix -> format name.
FORMATS: dict[str, str] = {
    ".geojson": "geojson", ".json": "geojson", ".gpkg": "gpkg", ".shp": "shp", ".zip": "shp",
    ".csv": "csv", ".txt": "csv", ".tsv": "csv", ".xlsx": "xlsx", ".xlsm": "xlsx", ".xls": "xlsx",
}

#: Column names recognised as longitude / latitude / WKT geometry in tables (case-insensitive).
LON_NAMES: tuple[str, ...] = ("lon", "lng", "long", "longitude", "x", "经度", "东经", "x坐标", "经度坐标")
LAT_NAMES: tuple[str, ...] = ("lat", "latitude", "y", "纬度", "北纬", "y坐标", "纬度坐标")
WKT_NAMES: tuple[str, ...] = ("geometry", "wkt", "geom", "the_geom", "几何", "坐标串")

#: Chinese table headers often found in office spreadsheets -> layer column.  Applied only when
#: the layer column itself is absent and the user's ``column_map`` does not name it.
HEADER_ALIASES: dict[str, tuple[str, ...]] = {
    "region_code": ("区县代码", "行政区划代码"),
    "code": ("编码", "代码", "编号"),
    "name": ("名称", "名字"),
    "level": ("级别", "层级"),
    "parent_code": ("上级编码", "上级代码"),
    "community_code": ("社区编码", "社区代码", "村社区编码"),
    "town_code": ("镇街编码", "街道编码", "乡镇编码"),
    "chief": ("网格长",),
    "worker": ("网格员",),
    "phone": ("电话", "联系电话"),
    "households": ("户数",),
    "population": ("人口", "人数"),
    "levels": ("层数", "楼层数"),
    "address": ("地址",),
    "kind": ("类型", "站点类型"),
    "capacity": ("容量",),
    "opening_hours": ("开放时间",),
    "category": ("类别", "事件类别"),
    "description": ("描述", "事件描述"),
    "reported_at": ("上报时间", "报告时间"),
}

_UTF8_TEST_BYTES = 256 * 1024 * 1024  # decode at most this much of a .dbf when checking UTF-8


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


def _parse_crs(crs: str | None) -> CRS | None:
    if crs is None or str(crs).strip() == "":
        return None
    text = str(crs).strip()
    if text.isdigit():
        text = f"EPSG:{text}"
    try:
        return CRS.from_user_input(text)
    except CRSError as exc:
        raise InvalidInput(
            "Unknown CRS",
            [Problem(f"{crs!r} is not a coordinate reference system PROJ knows ({exc}); "
                     "give an EPSG code such as EPSG:4490 or EPSG:4549", field="--crs")],
        ) from None


def _check_coords_name(coords: str) -> None:
    if coords not in _coords.SYSTEMS:
        raise InvalidInput(
            "Unknown coordinate system",
            [Problem(f"--coords {coords!r} is not one of {', '.join(_coords.SYSTEMS)} "
                     "(wgs84 for GPS/Tianditu/CGCS2000 data, gcj02 for AMap/Gaode/Tencent, bd09 for Baidu)",
                     field="--coords")],
        )


def _format_of(path: Path) -> str:
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise InvalidInput(
            "Unsupported file type",
            [Problem(f"{path.name}: expected one of {', '.join(sorted(FORMATS))}", field="FILE")],
        )
    return fmt


# --- Shapefile encoding -----------------------------------------------------------------------

def _dbf_source(path: Path) -> tuple[bytes | None, bool]:
    """(first bytes of the .dbf up to :data:`_UTF8_TEST_BYTES`, whether a .cpg is present)."""
    if path.suffix.lower() == ".zip":
        import zipfile

        try:
            with zipfile.ZipFile(path) as zf:
                names = zf.namelist()
                has_cpg = any(n.lower().endswith(".cpg") for n in names)
                dbf = next((n for n in names if n.lower().endswith(".dbf")), None)
                if dbf is None:
                    return None, has_cpg
                with zf.open(dbf) as fh:
                    return fh.read(_UTF8_TEST_BYTES), has_cpg
        except zipfile.BadZipFile:
            return None, False
    has_cpg = any(path.with_suffix(s).exists() for s in (".cpg", ".CPG"))
    for suffix in (".dbf", ".DBF"):
        dbf = path.with_suffix(suffix)
        if dbf.exists():
            with open(dbf, "rb") as fh:
                return fh.read(_UTF8_TEST_BYTES), has_cpg
    return None, has_cpg


def _shapefile_encoding(path: Path, encoding: str | None) -> str | None:
    """The encoding to read a Shapefile's text with, or raise when it would be a guess.

    With ``--encoding`` that is used; with a ``.cpg`` file or a code page in the .dbf header
    (language driver id) GDAL knows it.  Otherwise the text must decode as UTF-8 (plain ASCII
    does); when it does not, the file is most likely GBK and the user must say so.
    """
    if encoding:
        return encoding
    raw, has_cpg = _dbf_source(path)
    if raw is None or has_cpg or len(raw) < 32:
        return None
    if raw[29] != 0:
        return None  # the .dbf declares its code page (language driver id); GDAL honours it
    header_len = int.from_bytes(raw[8:10], "little")
    data = raw[header_len:]
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start > len(data) - 4 and len(raw) >= _UTF8_TEST_BYTES:  # cut inside a character at the limit
            return "utf-8"
        raise InvalidInput(
            "Shapefile text is not UTF-8 and no encoding was given",
            [Problem(f"{path.name} has no .cpg file and its attribute text is not UTF-8 (byte offset "
                     f"{exc.start} of the records); Chinese Shapefiles are usually GBK: pass "
                     "--encoding gbk (or the right encoding) so names are not garbled", field="--encoding")],
        ) from None
    return "utf-8"


# --- vector files -----------------------------------------------------------------------------

def _read_vector(path: Path, fmt: str, file_layer: str | None, encoding: str | None) -> gpd.GeoDataFrame:
    src = str(path)
    if fmt == "shp" and path.suffix.lower() == ".zip":
        src = f"/vsizip/{path}"
    layers = None
    try:
        layers = [str(name) for name, _ in pyogrio.list_layers(src)]
    except Exception as exc:  # noqa: BLE001 - any GDAL failure means the file can't be opened
        raise InvalidInput("Cannot open the file", [Problem(f"{path.name}: {exc}", field="FILE")]) from None
    if file_layer is not None and file_layer not in layers:
        raise InvalidInput(
            "No such layer in the file",
            [Problem(f"{path.name} has no layer {file_layer!r}; its layers are: {', '.join(layers)}",
                     field="--layer")],
        )
    if file_layer is None and len(layers) > 1:
        raise InvalidInput(
            "The file holds several layers",
            [Problem(f"{path.name} has layers {', '.join(layers)}: choose one with --layer", field="--layer")],
        )
    if fmt == "shp":
        encoding = _shapefile_encoding(path, encoding)
    kwargs = {"layer": file_layer} if file_layer else {}
    try:
        frame = pyogrio.read_dataframe(src, encoding=encoding, **kwargs)
    except UnicodeDecodeError as exc:
        raise InvalidInput(
            "The file's text is not in the expected encoding",
            [Problem(f"{path.name}: {exc}; pass --encoding (e.g. gbk)", field="--encoding")],
        ) from None
    except LookupError as exc:
        raise InvalidInput("Unknown encoding", [Problem(str(exc), field="--encoding")]) from None
    except Exception as exc:  # noqa: BLE001
        raise InvalidInput("Cannot read the file", [Problem(f"{path.name}: {exc}", field="FILE")]) from None
    if not isinstance(frame, gpd.GeoDataFrame):
        raise InvalidInput("The file has no geometry", [Problem(f"{path.name} has no geometry column", field="FILE")])
    return frame


# --- tables (CSV / XLSX) ----------------------------------------------------------------------

def _read_table(path: Path, fmt: str, file_layer: str | None, encoding: str | None) -> pd.DataFrame:
    if fmt == "xlsx":
        try:
            sheets = pd.read_excel(path, sheet_name=None, dtype=str)
        except Exception as exc:  # noqa: BLE001
            raise InvalidInput("Cannot read the spreadsheet", [Problem(f"{path.name}: {exc}", field="FILE")]) from None
        if file_layer is not None:
            if file_layer not in sheets:
                raise InvalidInput(
                    "No such sheet in the workbook",
                    [Problem(f"{path.name} has no sheet {file_layer!r}; its sheets are: {', '.join(sheets)}",
                             field="--layer")],
                )
            return sheets[file_layer]
        return next(iter(sheets.values())) if sheets else pd.DataFrame()
    sep = "\t" if path.suffix.lower() == ".tsv" else ","
    enc = encoding or "utf-8-sig"
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""], encoding=enc,
                           sep=sep)
    except UnicodeDecodeError as exc:
        raise InvalidInput(
            "CSV text is not UTF-8 and no encoding was given" if not encoding else "CSV text is not in the given encoding",
            [Problem(f"{path.name} does not decode as {enc} ({exc.reason} at byte {exc.start}); "
                     "files saved by Excel in China are usually GBK: pass --encoding gbk", field="--encoding")],
        ) from None
    except LookupError as exc:
        raise InvalidInput("Unknown encoding", [Problem(str(exc), field="--encoding")]) from None
    except Exception as exc:  # noqa: BLE001
        raise InvalidInput("Cannot read the CSV file", [Problem(f"{path.name}: {exc}", field="FILE")]) from None


def _find(columns: list[str], explicit: str | None, names: tuple[str, ...], what: str) -> str | None:
    if explicit is not None:
        if explicit not in columns:
            raise InvalidInput(
                f"No {what} column",
                [Problem(f"column {explicit!r} is not in the file; its columns are: {', '.join(columns)}",
                         field=f"--{what}")],
            )
        return explicit
    lowered = {str(c).strip().lower(): c for c in columns}
    for n in names:
        if n in lowered:
            return lowered[n]
    return None


def _table_to_frame(df: pd.DataFrame, path: Path, lon: str | None, lat: str | None) -> gpd.GeoDataFrame:
    columns = [str(c) for c in df.columns]
    df.columns = columns
    lon_col = _find(columns, lon, LON_NAMES, "lon")
    lat_col = _find(columns, lat, LAT_NAMES, "lat")
    if (lon_col is None) != (lat_col is None):
        missing = "latitude" if lat_col is None else "longitude"
        raise InvalidInput(
            f"No {missing} column",
            [Problem(f"{path.name} has a {'longitude' if lat_col is None else 'latitude'} column but no "
                     f"{missing} column; name it with --{'lat' if lat_col is None else 'lon'} "
                     f"(columns found: {', '.join(columns)})", field="--lat" if lat_col is None else "--lon")],
        )
    problems: list[Problem] = []
    if lon_col is not None:
        x = pd.to_numeric(df[lon_col], errors="coerce").to_numpy(dtype=float)
        y = pd.to_numeric(df[lat_col], errors="coerce").to_numpy(dtype=float)
        for col, raw, num in ((lon_col, df[lon_col], x), (lat_col, df[lat_col], y)):
            bad = np.flatnonzero(raw.notna().to_numpy() & np.isnan(num))
            problems += [Problem(f"{raw.iloc[i]!r} is not a number", row=int(i) + 1, field=col) for i in bad]
        ok = ~(np.isnan(x) | np.isnan(y))
        geoms = np.full(len(df), None, dtype=object)
        geoms[ok] = shapely.points(x[ok], y[ok])
        df = df.drop(columns=[lon_col, lat_col])
    else:
        wkt_col = _find(columns, None, WKT_NAMES, "wkt")
        if wkt_col is None:
            raise InvalidInput(
                "No coordinates in the table",
                [Problem(f"{path.name} needs longitude/latitude columns (e.g. lon/lat, lng/lat, x/y, 经度/纬度; "
                         "or name them with --lon/--lat) or a WKT column named geometry or wkt; "
                         f"columns found: {', '.join(columns)}", field="--lon")],
            )
        raw = df[wkt_col]
        geoms = shapely.from_wkt(raw.where(raw.notna(), None).to_numpy(dtype=object), on_invalid="ignore")
        bad = np.flatnonzero(raw.notna().to_numpy() & shapely.is_missing(geoms))
        problems += [Problem(f"{str(raw.iloc[i])[:60]!r} is not WKT geometry", row=int(i) + 1, field=wkt_col)
                     for i in bad]
        df = df.drop(columns=[wkt_col])
    if problems:
        raise InvalidInput(f"Bad coordinates in {path.name}", problems)
    return gpd.GeoDataFrame(df, geometry=gpd.GeoSeries(geoms, index=df.index), crs=None)


# --- columns ----------------------------------------------------------------------------------

def _apply_column_map(frame: gpd.GeoDataFrame, layer_name: str, column_map: dict[str, str] | None,
                      path: Path) -> gpd.GeoDataFrame:
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


# --- CRS and coordinates ----------------------------------------------------------------------

def _looks_geographic(frame: gpd.GeoDataFrame) -> bool:
    geoms = frame.geometry.to_numpy()
    present = ~shapely.is_missing(geoms) & ~shapely.is_empty(geoms)
    if not present.any():
        return True
    minx, miny, maxx, maxy = shapely.total_bounds(geoms[present])
    return -180 <= minx and maxx <= 180 and -180 <= miny and maxy <= 180


def _to_wgs84(frame: gpd.GeoDataFrame, fmt: str, path: Path, crs: CRS | None) -> tuple[gpd.GeoDataFrame, str]:
    if crs is not None:
        note = f"coordinates taken as {crs.to_string()} (--crs)"
        if frame.crs is not None and not CRS(frame.crs).equals(crs):
            note += f"; the file declared {CRS(frame.crs).to_string()}, overridden"
        frame = frame.set_crs(crs, allow_override=True)
    elif frame.crs is None:
        if not _looks_geographic(frame):
            raise InvalidInput(
                "Unknown coordinate reference system",
                [Problem(f"{path.name} has projected (metre-like) coordinates but no CRS (no .prj or CRS "
                         "metadata): pass --crs, e.g. --crs EPSG:4549 for CGCS2000 3-degree GK CM 120E",
                         field="--crs")],
            )
        frame = frame.set_crs(4326)
        note = "no CRS in the file: longitude/latitude (EPSG:4326) assumed"
    else:
        note = f"file CRS {CRS(frame.crs).to_string()}"
    if not CRS(frame.crs).equals(CRS.from_epsg(4326)):
        try:
            frame = frame.to_crs(4326)
        except Exception as exc:  # noqa: BLE001
            raise InvalidInput("Cannot reproject to EPSG:4326",
                               [Problem(f"{path.name}: {exc}", field="--crs")]) from None
    return frame, note


def _deobfuscate(frame: gpd.GeoDataFrame, system: str) -> gpd.GeoDataFrame:
    if system == "wgs84":
        return frame

    def fn(xy: np.ndarray) -> np.ndarray:
        lon, lat = _coords.convert(xy[:, 0], xy[:, 1], system, "wgs84")
        return np.column_stack([lon, lat])

    out = frame.copy()
    out["geometry"] = gpd.GeoSeries(shapely.transform(frame.geometry.to_numpy(), fn),
                                    index=frame.index, crs=frame.crs)
    return out


def read_layer(
    path,
    *,
    layer_name: str,
    file_layer: str | None = None,
    encoding: str | None = None,
    crs: str | None = None,
    coords: str = "wgs84",
    column_map: dict[str, str] | None = None,
    lon: str | None = None,
    lat: str | None = None,
) -> gpd.GeoDataFrame:
    """Read one layer's features from a file into a GeoDataFrame in EPSG:4326 (lon/lat).

    Parameters
    ----------
    path : str or Path
        GeoJSON (.geojson/.json), GeoPackage (.gpkg), Shapefile (.shp or a zipped .zip),
        CSV (.csv/.tsv/.txt) or Excel (.xlsx) file.
    layer_name : str
        The gridmap layer the features are for (``areas``, ``grids``...); used for messages and
        for recognising common Chinese headers (名称 -> name, 户数 -> households ...).
    file_layer : str, optional
        Layer inside a GeoPackage (or sheet of a workbook); required when there are several.
    encoding : str, optional
        Text encoding of a Shapefile or CSV.  Without it a Shapefile with no ``.cpg`` must be
        UTF-8 (else InvalidInput asks for ``--encoding gbk``); CSV is read as UTF-8.
    crs : str, optional
        CRS of the coordinates (``EPSG:4549``, ``4490``...), for files that do not carry one;
        when given it overrides the file's.  Tables default to EPSG:4326, as do files without a
        CRS whose coordinates are within longitude/latitude range; a projected file without a
        CRS is an error.
    coords : {"wgs84", "gcj02", "bd09"}
        The system the (longitude/latitude) coordinates were digitised in.  GCJ-02 (AMap,
        Tencent) and BD-09 (Baidu) are converted to WGS84 after reprojection to EPSG:4326.
    column_map : dict, optional
        ``{target: source}``: rename file column ``source`` to layer column ``target``.
    lon, lat : str, optional
        Longitude / latitude column names of a table, when not one of the recognised names
        (lon/lng/longitude/x/经度, lat/latitude/y/纬度).

    Returns
    -------
    geopandas.GeoDataFrame
        EPSG:4326, geometry column ``geometry``, every column of the file (mapped names), a
        fresh RangeIndex: position ``i`` is feature ``i + 1`` of the file (data row ``i + 1`` of
        a table).  ``frame.attrs["read"]`` records the file, format, CRS note and ``coords``.

    Raises
    ------
    geo.errors.InvalidInput
        Unreadable file, unknown layer/sheet, undecodable text without ``encoding``, unknown
        CRS or coordinate system, projected data without a CRS, missing mapped/lon/lat columns,
        unparsable coordinates.
    """
    path = Path(path)
    _check_coords_name(coords)
    crs_obj = _parse_crs(crs)
    if not path.exists():
        raise InvalidInput("File not found", [Problem(f"{path} does not exist", field="FILE")])
    fmt = _format_of(path)
    if fmt in ("csv", "xlsx"):
        frame = _table_to_frame(_read_table(path, fmt, file_layer, encoding), path, lon, lat)
    else:
        frame = _read_vector(path, fmt, file_layer, encoding)
    frame = frame.reset_index(drop=True)
    frame.columns = [str(c) for c in frame.columns]
    frame = _apply_column_map(frame, layer_name, column_map, path)
    frame, crs_note = _to_wgs84(frame, fmt, path, crs_obj)
    frame = _deobfuscate(frame, coords)
    frame.attrs["read"] = {
        "file": str(path), "format": fmt, "layer": layer_name, "crs": crs_note, "coords": coords,
        "features": len(frame),
    }
    return frame

