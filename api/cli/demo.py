"""``gridmap demo``: embedded PostGIS, the sample district loaded once, API and maps served."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from api.cli.common import console, migrated_engine, user_errors

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "boundaries" / "sample_district.gpkg"


def load_sample_if_empty(engine, path: Path = SAMPLE) -> bool:
    """Load the sample district unless the database already holds areas; True if it loaded."""
    from rich.table import Table
    from sqlalchemy import text

    from api.imports import load_sample, report_row
    from api.settings import get_settings

    with engine.connect() as conn:
        if conn.execute(text("SELECT EXISTS (SELECT 1 FROM areas)")).scalar():
            return False
    t0 = time.perf_counter()
    reports = load_sample(engine, path, get_settings())
    rows = {layer: report_row(report) for layer, report in reports.items()}
    columns = list(dict.fromkeys(c for row in rows.values() for c in row))
    table = Table(title=f"sample district loaded in {time.perf_counter() - t0:.1f} s")
    table.add_column("layer")
    for c in columns:
        table.add_column(c, justify="right")
    for layer, row in rows.items():
        table.add_row(layer, *(f"{row[c]:,}" if c in row else "" for c in columns))
    console.print(table)
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
        demo_admin(engine)
    serve(host=host, port=port)


def demo_admin(engine, name: str = "admin") -> str | None:
    """Create the admin ``name`` with a random password when no user exists, and print its login
    once; returns the password (None when users existed already)."""
    from api.auth import accounts
    from api.db.users import any_users

    with engine.begin() as conn:
        if any_users(conn):
            return None
        password = accounts.new_password()
        accounts.add_user(conn, name, password, "admin", [])
    console.print(f"log in at /login as [bold]{name}[/] with password [bold]{password}[/] "
                  "(shown once; change it with gridmap user passwd)", highlight=False)
    return password


def register(app: typer.Typer) -> None:
    app.command()(demo)
