"""``gridmap coverage``: the 8-minute service circle from the command line.

Prints the coverage per grid, community or town (rich table) with a status line while it
computes; with ``--out`` writes the per-area table, the gap polygons and every dwelling's time
(GeoPackage: three layers in one file; GeoJSON/CSV: ``FILE``, ``FILE_gaps``, ``FILE_dwellings``).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import typer
from rich.table import Table

from api.cli.common import console, err_console, migrated_engine, user_errors
from api.errors import GridmapError
from api.jurisdiction import EVERYWHERE

OUT_FORMATS = {".gpkg": "GPKG", ".geojson": "GeoJSON", ".json": "GeoJSON", ".csv": "CSV"}


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


def write_outputs(run, out: Path, table: gpd.GeoDataFrame, gaps: gpd.GeoDataFrame) -> list[Path]:
    """Write the table, gaps and dwellings; returns the files written."""
    import pyogrio

    suffix = out.suffix.lower()
    if suffix not in OUT_FORMATS:
        raise typer.BadParameter(f"--out must end in one of {', '.join(OUT_FORMATS)}")
    dw = dwellings_frame(run)
    layers = {"coverage": table, "gaps": gaps.assign(grids=gaps["grids"].map(lambda g: ",".join(g))), "dwellings": dw}
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
        files = write_outputs(run, out, frame, gaps_frame(run, gaps))
        console.print("wrote " + ", ".join(str(f) for f in files))


def register(app: typer.Typer) -> None:
    app.command(name="coverage")(coverage)


def _date(value: str, option: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)", param_hint=option) from None
