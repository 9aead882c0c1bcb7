"""``gridmap db``: the embedded PostGIS cluster and the schema."""

from __future__ import annotations

import json
import os

import typer

from api.cli.common import console, migrated_engine, user_errors
from api.db.engine import embedded_for, resolve_url
from api.settings import get_settings

db = typer.Typer(help="The database: start/stop the embedded PostGIS, migrate, open psql.", no_args_is_help=True)


def _external() -> bool:
    return bool(get_settings().database_url)


@db.command()
def start() -> None:
    """Start the embedded PostGIS cluster (creating it on first use)."""
    with user_errors():
        if _external():
            console.print("GRIDMAP_DATABASE_URL is set: using the external PostGIS, nothing to start.")
            return
        embedded_for(get_settings()).start()
        console.print(f"embedded PostGIS running: {embedded_for(get_settings()).status()['data']}")


@db.command()
def stop() -> None:
    """Stop the embedded PostGIS cluster."""
    with user_errors():
        if _external():
            console.print("GRIDMAP_DATABASE_URL is set: the external PostGIS is not gridmap's to stop.")
            return
        embedded_for(get_settings()).stop()
        console.print("embedded PostGIS stopped")


@db.command()
def status() -> None:
    """Print where the database is and whether it runs (JSON)."""
    with user_errors():
        if _external():
            console.print_json(json.dumps({"external": True}))
            return
        console.print_json(json.dumps(embedded_for(get_settings()).status()))


@db.command()
def url() -> None:
    """Print the database URL (starting the embedded cluster if needed)."""
    with user_errors():
        print(resolve_url(get_settings()))


@db.command()
def migrate() -> None:
    """Apply the Alembic migrations (also done on every start)."""
    with user_errors():
        migrated_engine()
        console.print("schema up to date")


@db.command()
def psql() -> None:
    """Open psql on the database."""
    with user_errors():
        s = get_settings()
        if _external():
            args = ["psql", resolve_url(s).replace("postgresql+psycopg2://", "postgresql://")]
        else:
            pg = embedded_for(s)
            pg.start()
            args = pg.psql_args()
            if os.geteuid() == 0:
                args = ["runuser", "-u", "postgres", "--", *args]
        os.execvp(args[0], args)


def register(app: typer.Typer) -> None:
    app.add_typer(db, name="db")
