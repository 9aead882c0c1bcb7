"""``gridmap coverage``: the service circle from the command line.

Prints the coverage per grid, community or town (rich table) with a status line while it
computes; with ``--out`` writes the per-area table, the gap polygons and every dwelling's time
(GeoPackage: three layers in one file; GeoJSON/CSV: ``FILE``, ``FILE_gaps``, ``FILE_dwellings``).
``--service-areas`` adds every counted station's own service area per break (layer
``service_areas``, or ``FILE_service_areas``; ``--rings`` for rings instead of disks), with a
progress bar that moves as the stations are drawn.

Only translation happens here: the question is parsed as the routes parse it
(:mod:`api.coverage.params`, limits from :mod:`api.limits`) and the answers are
:mod:`api.coverage.answers`.  Heavy modules (geopandas, the service, ``geo``) are imported inside the
command, so that ``gridmap --help`` stays quick.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import typer
from rich.table import Table

from api.cli.common import console, err_console, migrated_engine, user_errors
from api.limits import MAX_MINUTES, breaks_help

OUT_FORMATS = {".gpkg": "GPKG", ".geojson": "GeoJSON", ".json": "GeoJSON", ".csv": "CSV"}
#: Degrees of the coordinates written: CSV WKT with 8 decimals, RFC 7946 GeoJSON with GDAL's 7.
WRITTEN_GRID = {".csv": 1e-8, ".geojson": 1e-7, ".json": 1e-7}
LEVELS = ("grid", "community", "town")


def write_outputs(run, out: Path, table, gaps, areas=None) -> list[Path]:
    """Write the table, gaps, dwellings (and ``areas``, the station service areas, when given);
    returns the files written."""
    import pandas as pd
    import pyogrio
    import shapely

    from api.coverage.answers import dwellings_frame

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
    import numpy as np
    import pandas as pd

    if v is None or (isinstance(v, float) and v != v) or v is pd.NA:
        return "-"
    return f"{v:,.{nd}f}" if isinstance(v, float) else f"{v:,}" if isinstance(v, (int, np.integer)) else str(v)


def coverage(
    minutes: float = typer.Option(None, help=f"Time budget, minutes (0 < minutes ≤ {MAX_MINUTES:g}; "
                                             "default the setting GRIDMAP_MINUTES, 8)."),
    mode: str = typer.Option("walk", help="walk, bike or drive."),
    area: str = typer.Option(None, help="Only rows in this town, community or grid code."),
    level: str = typer.Option("grid", help="grid, community or town."),
    breaks: str = typer.Option(None, help=f"Extra budgets in minutes, e.g. 5,8,15 ({breaks_help()}; covered "
                                          "households per break)."),
    kinds: str = typer.Option(None, help="Station kinds that count, comma-separated (default all)."),
    at: str = typer.Option(None, help="Count stations open on this date (YYYY-MM-DD; default today)."),
    region: str = typer.Option(None, help="One county (6-digit code)."),
    out: Path = typer.Option(None, help="Write the table, gaps and dwellings: FILE.gpkg, .geojson or .csv."),
    service_areas: bool = typer.Option(False, "--service-areas",
                                       help="With --out: also each station's service area per break."),
    rings: bool = typer.Option(False, "--rings", help="With --service-areas: rings between breaks, not disks."),
    all_regions: bool = typer.Option(False, "--all-regions",
                                     help="Every county as its own task on Dask (results stored per county)."),
    workers: int = typer.Option(2, min=1, help="With --all-regions: local Dask workers (processes)."),
    scheduler: str = typer.Option(None, help="With --all-regions: a Dask scheduler address (tcp://host:8786) "
                                             "instead of local workers."),
    threads: bool = typer.Option(False, "--threads", hidden=True,
                                 help="With --all-regions: local workers as threads of this process."),
) -> None:
    """Households within the service circle per area, gaps, and (with --out) every dwelling's time."""
    from api.coverage import CoverageParams, CoverageService, answers, area_frame, gaps_frame, parse_breaks, run_gaps
    from api.errors import GridmapError, NotFound
    from api.jurisdiction import EVERYWHERE
    from api.settings import get_settings

    if level not in LEVELS:
        raise typer.BadParameter(f"level must be {', '.join(LEVELS[:-1])} or {LEVELS[-1]}", param_hint="--level")
    if service_areas and not out:
        raise typer.BadParameter("--service-areas writes a layer: give --out FILE", param_hint="--service-areas")
    if rings and not service_areas:
        raise typer.BadParameter("--rings shapes the service areas: add --service-areas", param_hint="--rings")
    if out and out.suffix.lower() not in OUT_FORMATS:
        raise typer.BadParameter(f"--out must end in one of {', '.join(OUT_FORMATS)}", param_hint="--out")
    day = _date(at, "--at") if at else None
    settings = get_settings()
    if all_regions:
        if region or area or out:
            raise typer.BadParameter("--all-regions computes every county: drop --region, --area and --out",
                                     param_hint="--all-regions")
        return _all_regions(minutes, mode, kinds, day, workers, scheduler, threads)
    with user_errors():
        try:
            p = CoverageParams.asked(minutes=minutes, default_minutes=settings.minutes, mode=mode, kinds=kinds,
                                     at=day, region=region)
            bks = parse_breaks(breaks, p.minutes)
            p = p.searching_to(max(bks))
            svc = CoverageService.from_settings(migrated_engine(), settings, warm_polygons=False)  # one-shot
            p = svc.implied(EVERYWHERE, p, area)  # an area is computed on its county alone
            with console.status("coverage: starting") as status:
                run = svc.run(EVERYWHERE, p, progress=lambda msg: status.update(f"coverage: {msg}"))
                status.update("coverage: clustering gaps")
                gaps = run_gaps(run)
            frame = area_frame(run, level, bks, area)
            if area and len(frame) == 0:
                raise NotFound(f"no {level} in or named {area!r}")
            t = answers.totals(run, area)["totals"]
        except (GridmapError, ValueError) as exc:  # geo's InvalidInput is a ValueError
            fields = sorted({pr.field for pr in getattr(exc, "problems", []) if pr.field})
            opt = "".join(f"--{f}: " for f in fields)  # the option at fault, when the error names one
            err_console.print(f"[bold red]error:[/] {opt}{getattr(exc, 'detail', exc)}")
            raise typer.Exit(2)
    m = p.minutes
    title = (f"{m:g}-minute {mode} coverage per {level}"
             + (f" in {area}" if area else "") + f" ({t['stations']} stations)")
    from api import i18n

    table = Table(title=title)
    cols = [("code", "code"), ("name", "name"), ("households", "households"), ("covered", "covered_households"),
            ("%", "covered_pct"), ("mean min", "mean_time_s"), ("p90 min", "p90_time_s"),
            *[(f"≤{b:g} min", f"covered_{b:g}min") for b in bks if len(bks) > 1], ("stations", "stations"),
            ("straight-line", "straight_line_households")]
    cols = [(h, k) for h, k in cols if k in frame.columns]
    lang = i18n.cli_lang()
    for head, _ in cols:
        table.add_column(i18n.text(head, lang), justify="left" if head in ("code", "name") else "right",
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
        n_gaps = answers.area_gap_count(run, gaps, area, t["area_level"])
        where = f" in {t['area_level']} {area}" + (f" {t['area_name']}" if t.get("area_name") else "")
    console.print(f"total{where}: {t['covered_households']:,} of {t['households']:,} households covered "
                  f"({_fmt(t['covered_pct'])}%), mean {_fmt((t['mean_time_s'] or 0) / 60)} min; "
                  f"{n_gaps} gaps; computed in {run.seconds:.2f} s")
    fb = run.fallback()
    if fb["used"]:
        per = ", ".join(f"region {c}: {n:,}" for c, n in fb.get("regions", {}).items())
        console.print(f"[yellow]{fb['households']:,} households ({per}) use the {fb['note']}[/]")
    islands = run.islands()
    for code, isl in islands.groupby("region", dropna=False, sort=True) if len(islands) else ():
        # street fragments too small to snap to in their own county's network: nobody is routed over them
        big = isl.iloc[0]
        where = f"region {code}: " if isinstance(code, str) and len(run.regions) > 1 else ""
        console.print(f"[yellow]{where}{len(isl)} street islands skipped ({int(isl['nodes'].sum()):,} nodes, "
                      f"{isl['length_m'].sum() / 1000:,.1f} km of street) as smaller than the county's main network; "
                      f"largest {int(big['nodes'])} nodes near {big['lon']:.5f}, {big['lat']:.5f}[/]")
    unsnapped = run.reach.unsnapped_stations()
    if len(unsnapped):
        console.print(f"[yellow]{len(unsnapped)} stations are too far from a street to be reached by it[/]")
    if out:
        sa = _draw_service_areas(run, bks, rings, area) if service_areas else None
        files = write_outputs(run, out, frame, gaps_frame(run, gaps), sa)
        console.print("wrote " + ", ".join(str(f) for f in files))


def _all_regions(minutes, mode, kinds, day, workers: int, scheduler: str | None, threads: bool) -> None:
    """``--all-regions``: every county's coverage as a Dask task (:mod:`api.coverage.regions`), a
    progress bar that moves as counties finish, one row per county; exit 1 if any failed."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from api.coverage import CoverageParams
    from api.coverage.regions import region_codes, run_regions
    from api.errors import GridmapError
    from api.jurisdiction import EVERYWHERE
    from api.settings import get_settings

    settings = get_settings()
    with user_errors():
        try:
            p = CoverageParams.asked(minutes=minutes, default_minutes=settings.minutes, mode=mode, kinds=kinds,
                                     at=day)
        except GridmapError as exc:
            err_console.print(f"[bold red]error:[/] {exc.detail}")
            raise typer.Exit(2)
        engine = migrated_engine()
        codes = region_codes(engine, EVERYWHERE)
        if not codes:
            err_console.print("[bold red]error:[/] no county holds dwellings or stations")
            raise typer.Exit(2)
        url = engine.url.render_as_string(hide_password=False)
        where = f"scheduler {scheduler}" if scheduler else f"{workers} local {'threads' if threads else 'workers'}"
        with Progress(TextColumn(f"coverage of {len(codes)} counties on {where}"), BarColumn(),
                      MofNCompleteColumn(), TimeElapsedColumn(), console=console, transient=True) as bar:
            task = bar.add_task("regions", total=len(codes))
            results = run_regions(url, settings, p, codes, workers=workers, scheduler=scheduler,
                                  processes=not threads, progress=lambda r: bar.advance(task))
    table = Table(title=f"{p.minutes:g}-minute {mode} coverage per county")
    for head in ("region", "households", "covered", "%", "seconds", "run", "error"):
        table.add_column(head, justify="left" if head in ("region", "error") else "right")
    for r in results:
        table.add_row(r.region, _fmt(r.households), _fmt(r.covered_households), _fmt(r.covered_pct),
                      _fmt(r.seconds, 2), _fmt(r.run_id), r.error or "")
    console.print(table)
    failed = [r for r in results if r.error]
    console.print(f"{len(results) - len(failed)} of {len(results)} counties computed and stored"
                  + (f"; [red]{len(failed)} failed: {', '.join(r.region for r in failed)}[/]" if failed else ""))
    if failed:
        raise typer.Exit(1)


def _draw_service_areas(run, bks: tuple[float, ...], rings: bool, area: str | None):
    """The service areas of the counted stations (inside ``area`` when given), with a progress bar
    that advances as each step of stations is drawn (:func:`api.coverage.frames.service_area_frame`)."""
    import numpy as np
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from api.coverage import service_area_frame, stations_in

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
