"""``gridmap sample``: write the deterministic sample district (or a scaled city) to a GeoPackage."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from api.cli.common import console

DEFAULT_OUT = Path(__file__).resolve().parents[2] / "data" / "boundaries" / "sample_district.gpkg"


def sample(
    households: int = typer.Option(12_000, help="Total households (500000 gives a county-level city)."),
    seed: int = typer.Option(0, help="Random seed; same arguments, same data."),
    incident_years: float = typer.Option(1.0, help="Years of incidents ending 2026-10-31."),
    incidents: int = typer.Option(None, help="Exact number of incidents instead of --incident-years."),
    region: str = typer.Option("320281", help="6-digit county code."),
    out: Path = typer.Option(DEFAULT_OUT, help="GeoPackage to write (one layer per gridmap layer)."),
) -> None:
    """Generate the sample district; load it with `gridmap demo` or `gridmap import LAYER FILE --layer LAYER`."""
    import pyogrio

    from geo.sample import make_district

    t0 = time.perf_counter()
    with console.status("generating"):
        layers = make_district(households, seed, incident_years, incidents, region)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.exists():
        out.unlink()
    for name, frame in layers.items():
        pyogrio.write_dataframe(frame, out, layer=name, driver="GPKG")
        console.print(f"  {name:<10} {len(frame):>9,} features")
    console.print(f"wrote {out} in {time.perf_counter() - t0:.1f} s")


def register(app: typer.Typer) -> None:
    app.command()(sample)
