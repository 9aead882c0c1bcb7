"""Reading tables (CSV, TSV, XLSX) into a frame of points or WKT geometries, for :func:`geo.io.read_layer`.

Coordinates come from longitude/latitude columns (recognised names :data:`LON_NAMES` /
:data:`LAT_NAMES`, case-insensitive, or named by the user) or from a WKT column
(:data:`WKT_NAMES`).  The frame returned carries no CRS: :mod:`geo.io` sets and converts it.
Every unparsable coordinate is reported with its 1-based data row.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.errors import InvalidInput, Problem

__all__ = ["read_table", "table_to_frame", "LON_NAMES", "LAT_NAMES", "WKT_NAMES"]

#: Column names recognised as longitude / latitude / WKT geometry in tables (case-insensitive).
LON_NAMES: tuple[str, ...] = ("lon", "lng", "long", "longitude", "x", "经度", "东经", "x坐标", "经度坐标")
LAT_NAMES: tuple[str, ...] = ("lat", "latitude", "y", "纬度", "北纬", "y坐标", "纬度坐标")
WKT_NAMES: tuple[str, ...] = ("geometry", "wkt", "geom", "the_geom", "几何", "坐标串")


def read_table(path: Path, fmt: str, file_layer: str | None, encoding: str | None) -> pd.DataFrame:
    """Read a CSV/TSV (UTF-8 by default, BOM allowed) or one sheet of a workbook, all cells as text.

    Parameters
    ----------
    path : Path
        The file.
    fmt : {"csv", "xlsx"}
        Its format (:data:`geo.io.FORMATS`).
    file_layer : str or None
        Sheet of a workbook (default the first).
    encoding : str or None
        Text encoding of a CSV (e.g. ``gbk``); not guessed.

    Returns
    -------
    pandas.DataFrame
        One row per data row, columns as in the header, values as strings (missing: NA).

    Raises
    ------
    geo.errors.InvalidInput
        Unreadable file, unknown sheet, text not in the encoding, unknown encoding.
    """
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


def table_to_frame(df: pd.DataFrame, path: Path, lon: str | None, lat: str | None) -> gpd.GeoDataFrame:
    """Build point geometries from longitude/latitude columns (degrees), else shapes from a WKT column.

    Parameters
    ----------
    df : pandas.DataFrame
        The table, as :func:`read_table` returns it.
    path : Path
        The file it came from (for messages).
    lon, lat : str or None
        Longitude / latitude column names; default the first of :data:`LON_NAMES` /
        :data:`LAT_NAMES` present (case-insensitive).

    Returns
    -------
    geopandas.GeoDataFrame
        The other columns plus ``geometry``, with NO CRS set (the caller sets it); an empty
        coordinate gives a missing geometry (validation reports it).

    Raises
    ------
    geo.errors.InvalidInput
        Only one of longitude/latitude found, no coordinates at all, or every cell that is not
        a number (or not WKT), with its 1-based data row.
    """
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
