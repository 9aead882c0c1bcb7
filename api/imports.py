"""The import service: one function validates and loads a frame, and every entry uses it.

:func:`import_frame` is the one path of a layer into the database: ``gridmap import`` and
``gridmap import osm`` (:mod:`api.cli.importing`), the write API (:mod:`api.routes.writes`), the
sample loader (:func:`load_sample`, ``gridmap demo``), the tests and the benchmarks.  It applies
the fixed values of ``--set`` (:func:`set_columns`), validates (:func:`geo.validate.validate_frame`,
called here and nowhere else on the import path), and writes with :func:`api.db.load.load_frame`
inside the caller's transaction; incidents go to the incident intake
(:func:`api.incidents.intake.ingest_frame`, which validates them itself).  The settings give the
default region, the time zone and the grid overlap tolerance.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterable, Mapping

import geopandas as gpd
from sqlalchemy import Connection, Engine

from api.db.load import REPORT_COLUMNS, LoadReport, load_frame
from api.settings import Settings
from geo.errors import InvalidInput, Problem
from geo.layers import LAYERS

__all__ = ["import_frame", "set_columns", "parse_assignments", "load_sample", "report_row", "SAMPLE_LAYERS"]

#: Layers of a sample GeoPackage in load order (incidents last, through the intake).
SAMPLE_LAYERS = ("areas", "grids", "dwellings", "stations", "streets", "incidents")


def parse_assignments(values: Iterable[str] | None) -> dict[str, str]:
    """``["col=value", ...]`` (the ``--set`` options) as ``{col: value}``.

    Raises
    ------
    geo.errors.InvalidInput
        An item without ``=`` or with an empty column name.
    """
    out: dict[str, str] = {}
    problems = []
    for item in values or ():
        col, eq, value = item.partition("=")
        if not eq or not col.strip():
            problems.append(Problem(f"{item!r} is not column=value", field="--set"))
            continue
        out[col.strip()] = value
    if problems:
        raise InvalidInput("Bad --set", problems)
    return out


def set_columns(layer: str, frame: gpd.GeoDataFrame, values: Mapping[str, str] | None) -> gpd.GeoDataFrame:
    """``frame`` with each column of ``values`` set to that one value on every row (``--set``).

    Applied before validation, so the values are checked and typed like the file's own.  An
    empty value sets the column empty.

    Raises
    ------
    geo.errors.InvalidInput
        A column that is not one of the layer's columns (the message lists them).
    """
    if not values:
        return frame
    names = [c.name for c in LAYERS[layer].columns]
    wrong = [c for c in values if c not in names]
    if wrong:
        raise InvalidInput(f"--set names columns that {layer} do not have", [
            Problem(f"{c!r} is not a column of {layer}; its columns are {', '.join(names)}", field="--set")
            for c in wrong])
    frame = frame.copy()
    for col, value in values.items():
        frame[col] = value if value != "" else None
    return frame


def import_frame(
    conn: Connection,
    layer: str,
    frame: gpd.GeoDataFrame,
    settings: Settings,
    *,
    region_code: str | None = None,
    set_values: Mapping[str, str] | None = None,
    fix: bool = False,
    replace: bool = False,
    correct: bool = False,
    allow_outside: bool = False,
    progress: Callable[[int], None] | None = None,
    before_write: Callable[[gpd.GeoDataFrame], gpd.GeoDataFrame] | None = None,
    actor: str = "import",
    all_or_nothing: bool = True,
):
    """Validate and load one layer's frame, inside the caller's transaction.

    Parameters
    ----------
    conn : sqlalchemy.Connection
        Inside a transaction (``engine.begin()``); nothing is committed here, and any error
        leaves the transaction to be rolled back (nothing written).
    layer : str
        ``areas``, ``grids``, ``dwellings``, ``stations``, ``streets`` or ``incidents``.
    frame : geopandas.GeoDataFrame
        As read (:func:`geo.io.read_layer`), EPSG:4326 lon/lat.
    settings : api.settings.Settings
        ``region_code`` (default region), ``timezone`` (incidents), ``grid_overlap_m2``.
    region_code : str, optional
        County code for rows that carry none; default ``settings.region_code``.
    set_values : mapping, optional
        Columns given one fixed value on every row before validation (:func:`set_columns`).
    fix : bool
        Repair invalid polygons (``make_valid``) instead of refusing them.
    replace, correct : bool
        Grids only: see :func:`api.db.load.load_frame`.
    allow_outside : bool
        Dwellings and stations: load even when not one row lies in a grid.
    progress : callable, optional
        Called with the number of features written per chunk.
    before_write : callable, optional
        Called with the validated frame before it is written (in the transaction); returns the
        frame to write.  The write API checks jurisdiction and conflicts there.
    actor, all_or_nothing
        Incidents only: the actor recorded on the events; False writes the good rows and lists
        the bad ones in the report's ``rejected``.

    Returns
    -------
    api.db.load.LoadReport, or api.incidents.intake.IngestReport for incidents

    Raises
    ------
    geo.errors.InvalidInput
        Any fault of the file (every one listed) or against the stored data.
    """
    region = region_code or settings.region_code
    frame = set_columns(layer, frame, set_values)
    if layer == "incidents":
        from api.incidents.intake import ingest_frame

        return ingest_frame(conn, frame, region_code=region, actor=actor, all_or_nothing=all_or_nothing,
                            timezone=settings.timezone)
    from geo.validate import validate_frame

    # a spreadsheet's rows are named as Excel numbers them (header = row 1): geo.io.read_layer says so
    clean = validate_frame(layer, frame, fix=fix, tz=settings.timezone, row_offset=int(frame.attrs.get("row_offset", 1)))
    if before_write is not None:
        clean = before_write(clean)
    return load_frame(conn, layer, clean, region_code=region, overlap_m2=settings.grid_overlap_m2,
                      progress=progress, replace=replace, correct=correct, allow_outside=allow_outside)


def load_sample(engine: Engine, gpkg_path: Path | str, settings: Settings) -> dict:
    """Load a sample GeoPackage (layers named as gridmap's) in ONE transaction.

    Layers present among :data:`SAMPLE_LAYERS` are read (:func:`geo.io.read_layer`) and imported
    in order with :func:`import_frame` (incidents in the region they carry when they carry one).
    Returns ``{layer: report}``.  Any fault rolls the whole load back.
    """
    import pyogrio

    from geo.io import read_layer

    present = {str(name) for name, _ in pyogrio.list_layers(str(gpkg_path))}
    reports: dict = {}
    with engine.begin() as conn:
        for layer in SAMPLE_LAYERS:
            if layer not in present:
                continue
            frame = read_layer(gpkg_path, layer_name=layer, file_layer=layer)
            region = None
            if layer == "incidents" and "region_code" in frame:
                regions = frame["region_code"].dropna().unique()
                region = str(regions[0]) if len(regions) == 1 else None
            reports[layer] = import_frame(conn, layer, frame, settings, region_code=region, actor="sample")
    return reports


def report_row(report) -> dict[str, int]:
    """One table row of an import's report: :meth:`LoadReport.row`, or for the incident intake's
    report the same columns (duplicates count as unchanged) plus ``outside grid`` and ``rejected``."""
    if isinstance(report, LoadReport):
        return report.row()
    row = dict.fromkeys(REPORT_COLUMNS, 0)
    row.update({"inserted": report.inserted, "unchanged": report.duplicates})
    row["outside grid"] = report.outside_grid
    row["rejected"] = len(report.rejected)
    return row
