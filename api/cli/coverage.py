"""``gridmap coverage``: the 8-minute service circle from the command line.

Prints the coverage per grid, community or town (rich table) with a status line while it
computes; with ``--out`` writes the per-area table, the gap polygons and every dwelling's time
(GeoPackage: three layers in one file; GeoJSON/CSV: ``FILE``, ``FILE_gaps``, ``FILE_dwellings``).
``--service-areas`` adds every counted station's own service area per break (layer
``service_areas``, or ``FILE_service_areas``; ``--rings`` for rings instead of disks).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import typer
from rich.table import Table

from api.cli.common import console, err_console, migrated_engine, user_errors
from api.errors import GridmapError
from api.jurisdiction import EVERYWHERE

OUT_FORMATS = {".gpkg": "GPKG", ".geojson": "GeoJSON", ".json": "GeoJSON", ".csv": "CSV"}
#: Degrees of the coordinates written: CSV WKT with 8 decimals, RFC 7946 GeoJSON with GDAL's 7.
WRITTEN_GRID = {".csv": 1e-8, ".geojson": 1e-7, ".json": 1e-7}


def _breaks(raw: str | None, minutes: float) -> tuple[float, ...]:
    if not raw:
        return (minutes,)
    try:
        vals = sorted({float(x) for x in raw.split(",") if x.strip()})
    except ValueError:
        raise typer.BadParameter("breaks must be minutes separated by commas, e.g. 5,8,15")
    if not 1 <= len(vals) <= 4 or vals[0] <= 0 or vals[-1] > 120:
        raise typer.BadParameter("give 1 to 4 positive breaks up to 120 minutes")
    return tuple(vals)


def dwellings_frame(run) -> gpd.GeoDataFrame:
    """Every dwelling with its time (s), nearest station id and name, covered flag and method."""
    r, d = run.reach, run.inputs.dwellings
    info = run.inputs.station_info()
    near = np.where(r.nearest >= 0, r.station_ids[np.maximum(r.nearest, 0)], None)
    return gpd.GeoDataFrame({
        "id": d["id"].to_numpy(), "source_id": d["source_id"].to_numpy(), "households": r.households,
        "grid_code": run.assignment["grid_code"].to_numpy(), "time_s": np.where(np.isfinite(r.time_s), r.time_s, np.nan),
        "covered": r.time_s <= run.params.budget_s + 1e-6, "nearest_station": near,
        "nearest_station_name": [info["name"].get(s) if s is not None else None for s in near],
        "method": r.method,
    }, geometry=d.geometry.values, crs=4326)


#: Stations drawn per step of the progress bar (each step forks the drawing workers once).
AREA_CHUNK = 256


def service_area_frame(run, breaks_s: tuple[float, ...], *, rings: bool = False, stations: np.ndarray | None = None,
                       advance=None) -> gpd.GeoDataFrame:
    """Each counted station's own service area per break, EPSG:4326, one row per station and break.

    Columns ``station, name, kind, break_s, shape, method, area_m2, households`` and geometry.
    Polygons the run already holds are reused (:func:`api.db.coverage.station_areas`), the others
    are drawn (in worker processes when many).  ``households``: the households of the network
    dwellings within the break of that station alone (exact bounded search,
    :func:`geo.reach.station_dwellings`; straight-line dwellings not counted), per ring with
    ``rings``.  ``advance(n)`` is called as stations are done (progress).
    """
    from api.db.coverage import dwelling_index, station_areas
    from geo.reach import EPS_S, station_dwellings

    r = run.reach
    idx = np.arange(len(r.station_ids)) if stations is None else np.unique(np.asarray(stations, dtype=np.int64))
    breaks = tuple(sorted(float(b) for b in breaks_s))
    parts, hh = [], []
    index = dwelling_index(run) if idx.size else None
    for lo in range(0, idx.size, AREA_CHUNK):
        js = idx[lo:lo + AREA_CHUNK]
        parts.append(station_areas(run, breaks, rings, js))
        for j in js:  # one search to the largest break, split per break
            dw, t = station_dwellings(run.net, r, index, int(j), breaks[-1])
            h = r.households[dw]
            cum = [int(h[t <= b + EPS_S].sum()) for b in breaks]
            hh.extend(np.diff(cum, prepend=0).tolist() if rings else cum)
        if advance is not None:
            advance(len(js))
    cols = ["station", "name", "kind", "break_s", "shape", "method", "area_m2", "households"]
    if not parts:
        empty = {c: pd.Series([], dtype=("int64" if c in ("station", "households") else
                                        "float64" if c in ("break_s", "area_m2") else object)) for c in cols}
        return gpd.GeoDataFrame(empty, geometry=gpd.GeoSeries([], crs=4326), crs=4326)
    f = pd.concat(parts, ignore_index=True)
    info = run.inputs.station_info()
    # station_areas keeps the stations' order with breaks ascending: the same order as ``hh``
    f["households"] = np.asarray(hh, dtype=np.int64)
    f["name"] = f["station"].map(info["name"])
    f["station"] = f["station"].map(lambda s: int(s) if str(s).isdigit() else s)
    return gpd.GeoDataFrame(f[cols], geometry=f.geometry.values, crs=4326)


def write_outputs(run, out: Path, table: gpd.GeoDataFrame, gaps: gpd.GeoDataFrame,
                  areas: gpd.GeoDataFrame | None = None) -> list[Path]:
    """Write the table, gaps, dwellings (and ``areas``, the station service areas, when given);
    returns the files written."""
    import pyogrio

    suffix = out.suffix.lower()
    if suffix not in OUT_FORMATS:
        raise typer.BadParameter(f"--out must end in one of {', '.join(OUT_FORMATS)}")
    dw = dwellings_frame(run)
    layers = {"coverage": table, "gaps": gaps.assign(grids=gaps["grids"].map(lambda g: ",".join(g))), "dwellings": dw}
    if areas is not None:
        layers["service_areas"] = areas
    written = []
    if suffix == ".gpkg":
        if out.exists():
            out.unlink()
        for name, frame in layers.items():
            pyogrio.write_dataframe(frame, out, layer=name, driver="GPKG", append=out.exists())
        return [out]
    for name, frame in layers.items():
        path = out if name == "coverage" else out.with_name(f"{out.stem}_{name}{out.suffix}")
        if path.exists():
            path.unlink()
        if name == "service_areas":  # snapped to the written precision, so the rounded rings stay valid
            frame = frame.set_geometry(shapely.set_precision(frame.geometry.values, WRITTEN_GRID[suffix]))
        if suffix == ".csv":
            plain = pd.DataFrame(frame.drop(columns="geometry"))
            if name == "dwellings":
                plain["lon"], plain["lat"] = frame.geometry.x.round(8), frame.geometry.y.round(8)
            else:
                plain["geometry"] = frame.geometry.to_wkt(rounding_precision=8)
            plain.to_csv(path, index=False, encoding="utf-8-sig")  # with a BOM, so Excel reads UTF-8
        else:
            pyogrio.write_dataframe(frame, path, driver="GeoJSON", layer_options={"RFC7946": "YES"})
        written.append(path)
    return written


def _fmt(v, nd: int = 1) -> str:
    if v is None or (isinstance(v, float) and v != v) or v is pd.NA:
        return "-"
    return f"{v:,.{nd}f}" if isinstance(v, float) else f"{v:,}" if isinstance(v, (int, np.integer)) else str(v)


def coverage(
    minutes: float = typer.Option(None, help="Time budget, minutes (default the setting, 8)."),
    mode: str = typer.Option("walk", help="walk, bike or drive."),
    area: str = typer.Option(None, help="Only rows in this town, community or grid code."),
    level: str = typer.Option("grid", help="grid, community or town."),
    breaks: str = typer.Option(None, help="Extra budgets in minutes, e.g. 5,8,15 (covered households per break)."),
    kinds: str = typer.Option(None, help="Station kinds that count, comma-separated (default all)."),
    at: str = typer.Option(None, help="Count stations open on this date (YYYY-MM-DD; default today)."),
    region: str = typer.Option(None, help="One county (6-digit code)."),
    out: Path = typer.Option(None, help="Write the table, gaps and dwellings: FILE.gpkg, .geojson or .csv."),
    service_areas: bool = typer.Option(False, "--service-areas",
                                       help="With --out: also each station's service area per break."),
    rings: bool = typer.Option(False, "--rings", help="With --service-areas: rings between breaks, not disks."),
) -> None:
    """Households within the service circle per area, gaps, and (with --out) every dwelling's time."""
    from api.db.coverage import CoverageParams, CoverageService, area_frame, area_totals, gaps_frame
    from api.settings import get_settings
    from geo.gaps import find_gaps

    if level not in ("grid", "community", "town"):
        raise typer.BadParameter("level must be grid, community or town")
    settings = get_settings()
    m = float(minutes if minutes is not None else settings.minutes)
    bks = _breaks(breaks, m)
    if service_areas and not out:
        raise typer.BadParameter("--service-areas writes a layer: give --out FILE", param_hint="--service-areas")
    if rings and not service_areas:
        raise typer.BadParameter("--rings shapes the service areas: add --service-areas", param_hint="--rings")
    if out and out.suffix.lower() not in OUT_FORMATS:
        raise typer.BadParameter(f"--out must end in one of {', '.join(OUT_FORMATS)}", param_hint="--out")
    with user_errors():
        engine = migrated_engine()
        svc = CoverageService.from_settings(engine, settings)
        svc.warm_polygons = False  # a one-shot command draws no station polygons
        try:
            p = CoverageParams(minutes=m, mode=mode, region=region,
                               kinds=tuple(sorted(k.strip() for k in kinds.split(",") if k.strip())) if kinds else None,
                               at=_date(at, "--at") if at else dt.date.today(),
                               limit_minutes=max(bks) if max(bks) > m else None)
            with console.status("coverage: starting") as status:
                run = svc.run(EVERYWHERE, p, progress=lambda msg: status.update(f"coverage: {msg}"))
                status.update("coverage: clustering gaps")
                gaps = find_gaps(run.reach, budget_s=p.budget_s, net=run.net,
                                 grid_codes=run.assignment["grid_code"].to_numpy(dtype=object))
        except (GridmapError, ValueError) as exc:
            fields = sorted({p.field for p in getattr(exc, "problems", []) if p.field in ("kinds",)})
            opt = "".join(f"--{f}: " for f in fields)  # the option at fault, when the error names one
            err_console.print(f"[bold red]error:[/] {opt}{getattr(exc, 'detail', exc)}")
            raise typer.Exit(2)
    frame = area_frame(run, level, bks, area)
    if area and len(frame) == 0:
        err_console.print(f"[bold red]error:[/] no {level} in or named {area!r}")
        raise typer.Exit(2)
    t = area_totals(run, area) if area else run.totals
    if t is None:
        err_console.print(f"[bold red]error:[/] no households in {area!r}")
        raise typer.Exit(2)
    title = (f"{m:g}-minute {mode} coverage per {level}"
             + (f" in {area}" if area else "") + f" ({t['stations']} stations)")
    table = Table(title=title)
    cols = [("code", "code"), ("name", "name"), ("households", "households"), ("covered", "covered_households"),
            ("%", "covered_pct"), ("mean min", "mean_time_s"), ("p90 min", "p90_time_s"),
            *[(f"≤{b:g} min", f"covered_{b:g}min") for b in bks if len(bks) > 1], ("stations", "stations"),
            ("straight-line", "straight_line_households")]
    cols = [(h, k) for h, k in cols if k in frame.columns]
    for head, _ in cols:
        table.add_column(head, justify="left" if head in ("code", "name") else "right",
                         no_wrap=head == "code", overflow="fold")
    for r in frame.to_dict("records"):
        vals = []
        for _, k in cols:
            v = r[k]
            if k in ("mean_time_s", "p90_time_s") and v is not None and v == v:
                v = float(v) / 60.0
            elif k == "p90_time_s" and r.get("p90_beyond_limit"):
                v = f">{run.params.limit_s / 60:g}"
            vals.append(_fmt(v))
        table.add_row(*vals)
    console.print(table)
    n_gaps = len(gaps.frame)
    where = ""
    if area:  # the area's own totals and the gaps touching its grids, not the whole district's
        a = run.assignment
        grids = set(a["grid_code"][(a[f"{t['area_level']}_code"] == area).to_numpy()].dropna())
        n_gaps = int(sum(bool(grids.intersection(g)) for g in gaps.frame["grids"]))
        where = f" in {t['area_level']} {area}" + (f" {t['area_name']}" if t.get("area_name") else "")
    console.print(f"total{where}: {t['covered_households']:,} of {t['households']:,} households covered "
                  f"({_fmt(t['covered_pct'])}%), mean {_fmt((t['mean_time_s'] or 0) / 60)} min; "
                  f"{n_gaps} gaps; computed in {run.seconds:.2f} s")
    fb = run.fallback()
    if fb["used"]:
        console.print(f"[yellow]{fb['households']:,} households use the {fb['note']}[/]")
    islands = run.net.islands()
    if len(islands):  # street fragments too small to snap to: nobody is routed over them
        big = islands.iloc[0]
        console.print(f"[yellow]{len(islands)} street islands skipped ({int(islands['nodes'].sum()):,} nodes, "
                      f"{islands['length_m'].sum() / 1000:,.1f} km of street); largest {int(big['nodes'])} nodes "
                      f"near {big['lon']:.5f}, {big['lat']:.5f}[/]")
    unsnapped = run.reach.unsnapped_stations()
    if len(unsnapped):
        console.print(f"[yellow]{len(unsnapped)} stations are too far from a street to be reached by it[/]")
    if out:
        sa = _draw_service_areas(run, bks, rings, area) if service_areas else None
        files = write_outputs(run, out, frame, gaps_frame(run, gaps), sa)
        console.print("wrote " + ", ".join(str(f) for f in files))


def _draw_service_areas(run, bks: tuple[float, ...], rings: bool, area: str | None) -> gpd.GeoDataFrame:
    """The service areas of the counted stations (inside ``area`` when given), with a progress bar."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from api.db.coverage import stations_in

    js = None
    if area:
        js = stations_in(run, area)
        js = np.zeros(0, dtype=np.int64) if js is None else js
    n = len(run.reach.station_ids) if js is None else len(js)
    with Progress(SpinnerColumn(), TextColumn("coverage: drawing service areas"), BarColumn(),
                  MofNCompleteColumn(), TimeElapsedColumn(), console=console, transient=True) as bar:
        task = bar.add_task("areas", total=n)
        sa = service_area_frame(run, tuple(b * 60.0 for b in bks), rings=rings,
                                stations=js, advance=lambda k: bar.advance(task, k))
    console.print(f"{n:,} station service areas ({len(sa):,} {'rings' if rings else 'disks'}) drawn")
    return sa


def register(app: typer.Typer) -> None:
    app.command(name="coverage")(coverage)


def _date(value: str, option: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)", param_hint=option) from None
