"""``gridmap sample``: write the deterministic sample district (or a scaled city) to one GeoPackage."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from api.cli.common import console, user_errors

DEFAULT_OUT = Path(__file__).resolve().parents[2] / "data" / "boundaries" / "sample_district.gpkg"


def sample(
    households: int = typer.Option(12_000, help="Total households (500000 gives a county-level city)."),
    seed: int = typer.Option(0, help="Random seed; same arguments, same data."),
    incident_years: float = typer.Option(1.0, help="Years of incidents ending 2026-10-31."),
    incidents: int = typer.Option(None, help="Exactly this many incidents instead of the yearly rate."),
    region: str = typer.Option("320281", help="6-digit county code (towns and communities extend it)."),
    regions: int = typer.Option(1, min=1, help="Generate this many districts side by side, one county each "
                                               "(codes REGION, REGION+1, ...; seeds SEED, SEED+1, ...), "
                                               "--households each."),
    out: Path = typer.Option(DEFAULT_OUT, help="GeoPackage to write, one layer per gridmap layer."),
) -> None:
    """Generate the fictional sample district (geo.sample) into a GeoPackage.

    Load it with `gridmap demo`, or layer by layer with `gridmap import LAYER FILE --layer LAYER`.
    """
    import pyogrio
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from geo.sample import make_district, make_regions

    t0 = time.perf_counter()
    with user_errors():
        if regions > 1:
            with console.status(f"generating {regions} districts of {households:,} households (seeds {seed}..)"):
                layers = make_regions(regions, households, seed, incident_years, incidents, region)
        else:
            with console.status(f"generating {households:,} households (seed {seed})"):
                layers = make_district(households, seed, incident_years, incidents, region)
    t_gen = time.perf_counter() - t0
    console.print(f"generated in {t_gen:.1f} s")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".partial-{out.name}")
    tmp.unlink(missing_ok=True)
    with Progress(TextColumn("{task.description:<10}"), BarColumn(), TextColumn("{task.completed}/{task.total} layers"),
                  TimeElapsedColumn(), console=console, transient=True) as bar:
        task = bar.add_task("writing", total=len(layers))
        for name, frame in layers.items():
            bar.update(task, description=name)
            pyogrio.write_dataframe(frame, tmp, layer=name, driver="GPKG")
            bar.advance(task)
    tmp.replace(out)
    for name, frame in layers.items():
        console.print(f"  {name:<10} {len(frame):>9,} features")
    console.print(f"wrote {out} in {time.perf_counter() - t0:.1f} s")


def register(app: typer.Typer) -> None:
    app.command()(sample)
