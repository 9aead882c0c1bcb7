"""``gridmap import``: load areas, grids, dwellings, stations, streets, incidents or OSM data.

Each import reads the file (:func:`geo.io.read_layer`), then validates and writes it in one
transaction through the import service (:func:`api.imports.import_frame`).  Any problem is printed
with its row and the command exits with status 2, the database unchanged.  Heavy modules
(geopandas, ``geo.*``, ``api.db.*``, the service) are imported inside the commands so that
``--help`` answers at once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from api.cli.common import console, migrated_engine, user_errors
from api.cli.incidents import IMPORT_TIME_NOTE, PARTIAL_HELP, UPDATE_HELP

imp = typer.Typer(
    help="Import layers from GeoJSON, GeoPackage, Shapefile, CSV or XLSX (and OpenStreetMap .osm.pbf).",
    no_args_is_help=True,
)

PROGRESS_FROM = 10_000  # show a progress bar from this many features

COORDS_HELP = (
    "Coordinate system the lon/lat were digitised in: wgs84 (GPS, Tianditu/CGCS2000; the DEFAULT, "
    "assumed when not given), gcj02 (AMap/Gaode, Tencent) or bd09 (Baidu). gridmap never guesses: "
    "data traced on a Chinese web map is 100-700 m off unless you say so."
)

REPLACE_HELP = (
    "The file holds ALL the grids of every community it names (a redraw): close (valid_to = now) "
    "the current grids of those communities that are missing from it, in the same transaction. "
    "Without it no grid is closed except by a boundary change. Dwellings and incidents whose grid "
    "changed are re-attributed either way."
)


CORRECT_HELP = (
    "Correct the current version of each grid in the file IN PLACE (same validity, new geometry), e.g. "
    "grids first imported with the wrong --coords or --crs, instead of starting new versions from now. "
    "Dwellings, and incidents in that version's validity, that the correction moves are re-attributed."
)

SET_HELP = ("column=value: give COLUMN this one value on every row, before validation (repeatable), "
            "e.g. --set community_code=320281001001 --set road_class=residential.")

ALLOW_OUTSIDE_HELP = ("Load the points even when not one of them lies in any grid (otherwise refused: "
                      "usually lat/lon swapped, a wrong --crs or a missing --coords).")

MAX_WARNINGS = 20  # gap warnings printed (the rest counted)


def _progress(total: int) -> tuple[Progress, Callable[[int], None]]:
    bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   console=console, transient=True, disable=total < PROGRESS_FROM)
    task = bar.add_task("writing", total=total)
    return bar, lambda n: bar.advance(task, n)


def _print_report(layer: str, report, *, replace: bool = False, correct: bool = False) -> None:
    if layer == "grids":
        if correct:
            parts = [f"{report.corrected} corrected in place", f"{report.updated - report.corrected} updated in place",
                     f"{report.unchanged} unchanged"]
        else:
            parts = [f"{report.added} added", f"{report.new_versions} changed (new version)",
                     f"{report.updated} updated in place", f"{report.unchanged} unchanged",
                     f"{report.closed} closed" + (" (missing from the file)" if replace else "")]
        console.print(f"[green]{layer}[/]: " + ", ".join(parts))
        console.print(f"re-attributed: {report.dwellings_reattributed} dwelling(s), "
                      f"{report.incidents_reattributed} incident(s)")
        if report.warnings:
            console.print(f"[bold yellow]warning[/]: {len(report.warnings)} gap(s) between grids (loaded anyway):")
            for w in report.warnings[:MAX_WARNINGS]:
                console.print(f"  - {w}", soft_wrap=True)
            if len(report.warnings) > MAX_WARNINGS:
                console.print(f"  ... and {len(report.warnings) - MAX_WARNINGS} more")
        return
    parts = [f"{report.inserted} inserted", f"{report.updated} updated"]
    if getattr(report, "unchanged", 0):
        parts.append(f"{report.unchanged} unchanged")
    console.print(f"[green]{layer}[/]: " + ", ".join(parts))


def run_import(layer: str, file: Path, *, file_layer: str | None = None, encoding: str | None = None,
               crs: str | None = None, coords: str = "wgs84", column_map: list[str] | None = None,
               lon: str | None = None, lat: str | None = None, region: str | None = None,
               fix: bool = False, replace: bool = False, partial: bool = False, correct: bool = False,
               set_values: list[str] | None = None, allow_outside: bool = False, update: bool = False) -> None:
    """Read, validate and load one file into ``layer`` (the body of ``gridmap import LAYER``).

    ``partial`` (incidents only): write the good rows, list the bad ones by row
    (:func:`api.cli.incidents.import_frame`).  ``update`` (incidents only): apply the corrections
    of rows whose ``external_id`` is stored already.

    ``replace`` (grids only): the file holds ALL the grids of every community it names; the
    current grids of those communities that it lacks are closed (``valid_to = now()``).
    ``correct`` (grids only): correct the current versions in place.  ``set_values``:
    ``column=value`` items applied to every row before validation.  ``allow_outside``
    (dwellings, stations): load even when no row lies in a grid.
    """
    from api.imports import import_frame, parse_assignments, set_columns
    from api.settings import get_settings
    from geo.io import parse_column_map, read_layer

    with user_errors():
        fixed = parse_assignments(set_values)
        frame = read_layer(file, layer_name=layer, file_layer=file_layer, encoding=encoding, crs=crs,
                           coords=coords, column_map=parse_column_map(column_map), lon=lon, lat=lat)
        info = frame.attrs.get("read", {})
        console.print(f"read {len(frame)} feature(s) from {file.name}; {info.get('crs', '')}")
        console.print(f"coordinates taken as [bold]{coords.upper()}[/]"
                      + (" (the default: pass --coords gcj02 or bd09 for data from AMap/Tencent or Baidu maps)"
                         if coords == "wgs84" else ", converted to WGS84"))
        if layer == "incidents":
            from api.cli.incidents import import_frame as import_incidents

            import_incidents(set_columns(layer, frame, fixed), region=region, partial=partial, update=update,
                             file=file)
            return
        fixes: list = []

        def show_fixes(clean):
            fixes.extend(clean.attrs.get("fixes", []))
            return clean

        engine = migrated_engine()
        bar, advance = _progress(len(frame))
        with bar, engine.begin() as conn:
            report = import_frame(conn, layer, frame, get_settings(), region_code=region, set_values=fixed, fix=fix,
                                  replace=replace, correct=correct, allow_outside=allow_outside, progress=advance,
                                  before_write=show_fixes)
        for f in fixes:
            console.print(f"[yellow]fixed[/] {f}")
        _print_report(layer, report, replace=replace, correct=correct)


def _layer_command(layer: str) -> Callable:
    def command(
        file: Path = typer.Argument(..., help="GeoJSON, GeoPackage, Shapefile (.shp/.zip), CSV or XLSX file."),
        layer_: str = typer.Option(None, "--layer", help="Layer of a GeoPackage (or sheet of a workbook)."),
        encoding: str = typer.Option(None, help="Text encoding of a Shapefile without .cpg or a CSV (e.g. gbk)."),
        crs: str = typer.Option(None, help="CRS of files that carry none, e.g. EPSG:4549 (overrides the file's)."),
        coords: str = typer.Option("wgs84", help=COORDS_HELP),
        map_: list[str] = typer.Option(None, "--map", help="target=source: use file column SOURCE as TARGET (repeatable)."),
        lon: str = typer.Option(None, help="Longitude column of a table (auto: lon/lng/longitude/x/经度)."),
        lat: str = typer.Option(None, help="Latitude column of a table (auto: lat/latitude/y/纬度)."),
        region: str = typer.Option(None, help="6-digit county code for rows without region_code (default GRIDMAP_REGION_CODE)."),
        fix: bool = typer.Option(False, "--fix", help="Repair invalid polygons with make_valid instead of refusing them."),
        replace: bool = typer.Option(False, "--replace", help=REPLACE_HELP, hidden=layer != "grids"),
        partial: bool = typer.Option(False, "--partial", help=PARTIAL_HELP, hidden=layer != "incidents"),
        correct: bool = typer.Option(False, "--correct", help=CORRECT_HELP, hidden=layer != "grids"),
        set_: list[str] = typer.Option(None, "--set", help=SET_HELP),
        allow_outside: bool = typer.Option(False, "--allow-outside", help=ALLOW_OUTSIDE_HELP,
                                           hidden=layer not in ("dwellings", "stations")),
        update: bool = typer.Option(False, "--update", help=UPDATE_HELP, hidden=layer != "incidents"),
    ) -> None:
        if (replace or correct) and layer != "grids":
            console.print(f"[red]{'--replace' if replace else '--correct'} applies to grids only[/]")
            raise typer.Exit(2)
        if replace and correct:
            console.print("[red]--replace and --correct exclude each other[/]")
            raise typer.Exit(2)
        if allow_outside and layer not in ("dwellings", "stations"):
            console.print("[red]--allow-outside applies to dwellings and stations only[/]")
            raise typer.Exit(2)
        if partial and layer != "incidents":
            console.print("[red]--partial applies to incidents only[/]")
            raise typer.Exit(2)
        if update and layer != "incidents":
            console.print("[red]--update applies to incidents only[/]")
            raise typer.Exit(2)
        run_import(layer, file, file_layer=layer_, encoding=encoding, crs=crs, coords=coords, column_map=map_,
                   lon=lon, lat=lat, region=region, fix=fix, replace=replace, partial=partial, correct=correct,
                   set_values=set_, allow_outside=allow_outside, update=update)

    command.__doc__ = (f"Import {layer} from FILE (all or nothing; every problem listed; exit 2 on bad input). "
                       "Coordinates: --coords wgs84|gcj02|bd09, wgs84 by default.")
    if layer == "incidents":
        command.__doc__ = command.__doc__.replace("(all or nothing;", "(all or nothing unless --partial;") \
            + " " + IMPORT_TIME_NOTE
    return command


for _layer in ("areas", "grids", "dwellings", "stations", "streets", "incidents"):
    imp.command(name=_layer)(_layer_command(_layer))


@imp.command(name="osm")
def import_osm(
    file: Path = typer.Argument(..., help="OpenStreetMap extract (.osm.pbf)."),
    region: str = typer.Option(None, help="6-digit county code (default GRIDMAP_REGION_CODE)."),
    m2_per_household: float = typer.Option(90.0, help="Net floor area per household, m2 (household estimate)."),
    default_levels: int = typer.Option(None, help="Levels of buildings without building:levels "
                                                  "(default by type: apartments 6, residential 3, dormitory 4, terrace 2)."),
    stations: bool = typer.Option(False, "--stations/--no-stations",
                                  help="Load service-point amenities as stations (kind osm_<amenity>); "
                                       "by default they are only listed as candidates."),
) -> None:
    """Import streets, residential buildings (as dwellings) and candidate stations from OpenStreetMap.

    Households per building: 1 for houses; else footprint m2 x levels x 0.8 / --m2-per-household,
    at least 1 (see geo/osm.py).  Data (c) OpenStreetMap contributors, ODbL.
    """
    from api.imports import import_frame
    from api.settings import get_settings
    from geo.osm import read_osm

    with user_errors():
        frames = read_osm(file, m2_per_household=m2_per_household, default_levels=default_levels)
        layers = ["streets", "dwellings"] + (["stations"] if stations else [])
        todo = {k: frames[k] for k in layers if len(frames[k])}
        skipped = frames["dwellings"].attrs.get("skipped_degenerate", 0)
        engine = migrated_engine()
        settings = get_settings()
        total = sum(len(f) for f in todo.values())
        bar, advance = _progress(total)
        reports = {}
        with bar, engine.begin() as conn:
            for k, f in todo.items():
                reports[k] = import_frame(conn, k, f, settings, region_code=region, fix=True, progress=advance,
                                          allow_outside=True)
        for k, r in reports.items():
            _print_report(k, r)
        if skipped:
            console.print(f"skipped {skipped} building(s) with no area")
        if len(frames["dwellings"]):
            console.print(f"estimated {int(frames['dwellings']['households'].sum())} households in "
                          f"{len(frames['dwellings'])} residential buildings")
        cand = frames["stations"]
        if not stations:
            console.print(f"{len(cand)} candidate station(s) (load them with --stations):")
            for _, row in cand.head(50).iterrows():
                console.print(f"  {row['kind']:<24} {row['name']}  ({row.geometry.x:.6f}, {row.geometry.y:.6f})")
        console.print("Data (c) OpenStreetMap contributors, ODbL 1.0.")


def register(app: typer.Typer) -> None:
    app.add_typer(imp, name="import")
