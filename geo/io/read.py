"""Reading any import file (GeoJSON, GeoPackage, Shapefile, CSV, XLSX) into a frame in EPSG:4326.

:func:`read_layer` is the one entry point: it reads the file with pyogrio (vector formats) or
pandas (CSV/XLSX with longitude/latitude or WKT columns), applies the user's column mapping,
brings the coordinates to EPSG:4326 and, when the data was digitised on a Chinese web map,
from GCJ-02/BD-09 to WGS84 (:mod:`geo.coords`).  It does not check the layer's columns or
values: :func:`geo.validate.validate_frame` does, on what this returns.

Nothing is guessed silently: a Shapefile whose text is not UTF-8 and that names no encoding,
a projected file without a CRS, an unknown CRS or coordinate system all raise
:class:`geo.errors.InvalidInput` saying what to pass.

Part of :mod:`geo.io`: the readers are :mod:`geo.io.vector` (GeoJSON/GPKG/Shapefile, encodings)
and :mod:`geo.io.tables` (CSV/XLSX coordinates), the column mapping is :mod:`geo.io.columns`.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely
from pyproj import CRS
from pyproj.exceptions import CRSError

from geo.coords import SYSTEMS, convert
from geo.errors import InvalidInput, Problem
from geo.layers import LAYERS
from geo.io.columns import HEADER_ALIASES, apply_column_map
from geo.io.text import bad_text_problems
from geo.io.tables import read_table, table_to_frame
from geo.io.vector import read_vector

__all__ = ["read_layer", "FORMATS"]

#: File suffix -> format name.
FORMATS: dict[str, str] = {
    ".geojson": "geojson", ".json": "geojson", ".gpkg": "gpkg", ".shp": "shp", ".zip": "shp",
    ".csv": "csv", ".txt": "csv", ".tsv": "csv", ".xlsx": "xlsx", ".xlsm": "xlsx", ".xls": "xlsx",
}


#: The row number of a table's first data row in every message: spreadsheets number the header
#: row 1, so the first data row is row 2, as Excel and WPS show it (a feature of a vector file is
#: feature 1).
FIRST_TABLE_ROW = 2


def _spreadsheet_rows(problems: list[Problem]) -> list[Problem]:
    """Problems numbered by data row (1 = first data row) renumbered as a spreadsheet numbers them."""
    return [replace(p, row=p.row + FIRST_TABLE_ROW - 1) if p.row is not None else p for p in problems]


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
    if coords not in SYSTEMS:
        raise InvalidInput(
            "Unknown coordinate system",
            [Problem(f"--coords {coords!r} is not one of {', '.join(SYSTEMS)} "
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
        lon, lat = convert(xy[:, 0], xy[:, 1], system, "wgs84")
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
    spec = LAYERS.get(layer_name)
    key = spec.key if spec is not None else None
    id_columns = tuple(c for c in ((column_map or {}).get(key), key, *HEADER_ALIASES.get(key, ())) if c)
    table = fmt in ("csv", "xlsx")
    if table:
        try:
            frame = table_to_frame(read_table(path, fmt, file_layer, encoding), path, lon, lat)
        except InvalidInput as exc:
            raise InvalidInput(exc.title, _spreadsheet_rows(exc.problems)) from None
    else:
        frame = read_vector(path, fmt, file_layer, encoding, id_columns=id_columns)
    read_warnings = list(frame.attrs.get("warnings", []))
    frame = frame.reset_index(drop=True)
    frame.columns = [str(c) for c in frame.columns]
    frame = apply_column_map(frame, layer_name, column_map, path)
    ids = frame[key].to_numpy(dtype=object) if key in frame.columns else None
    garbled = bad_text_problems(frame.drop(columns=frame.geometry.name), ids,
                                hint="; pass the file's real encoding with --encoding (gbk, gb18030, utf-8 ...)")
    if garbled:
        raise InvalidInput(f"{len(garbled)} garbled text value(s) in {path.name}; nothing was read",
                           _spreadsheet_rows(garbled) if table else garbled)
    frame, crs_note = _to_wgs84(frame, fmt, path, crs_obj)
    frame = _deobfuscate(frame, coords)
    frame.attrs["row_offset"] = FIRST_TABLE_ROW if table else 1
    frame.attrs["read"] = {
        "file": str(path), "format": fmt, "layer": layer_name, "crs": crs_note, "coords": coords,
        "features": len(frame), "warnings": read_warnings,
    }
    return frame

