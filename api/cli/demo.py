"""``gridmap demo``: embedded PostGIS, the sample district loaded once, API and maps served."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from api.cli.common import console, migrated_engine, user_errors

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "boundaries" / "sample_district.gpkg"


def load_sample_if_empty(engine, path: Path = SAMPLE) -> bool:
    """Load the sample district unless the database already holds areas; True if it loaded."""
    from sqlalchemy import text

    from api.db.load import load_sample

    with engine.connect() as conn:
        if conn.execute(text("SELECT EXISTS (SELECT 1 FROM areas)")).scalar():
            return False
    t0 = time.perf_counter()
    reports = load_sample(engine, path)
    console.print(f"sample district loaded in {time.perf_counter() - t0:.1f} s:")
    for layer, report in reports.items():
        console.print(f"  {layer:<10} {report}")
    return True


def demo(
    host: str = typer.Option(None, help="Address to bind (default GRIDMAP_HOST, 127.0.0.1)."),
    port: int = typer.Option(None, help="Port (default GRIDMAP_PORT, 8000)."),
    sample: Path = typer.Option(SAMPLE, help="Sample GeoPackage to load into an empty database."),
) -> None:
    """Start the embedded PostGIS, load the sample district if the database is empty, and serve."""
    from api.cli.serve import serve

    with user_errors():
        engine = migrated_engine(say=True)
        if not load_sample_if_empty(engine, sample):
            console.print("database already holds data: sample not reloaded")
    serve(host=host, port=port)


def register(app: typer.Typer) -> None:
    app.command()(demo)
