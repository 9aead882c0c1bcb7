"""``gridmap db``: the embedded PostGIS cluster and the schema."""

from __future__ import annotations

import json
import os

import typer

from api.cli.common import console, migrated_engine, user_errors

db = typer.Typer(help="The database: start/stop the embedded PostGIS, migrate, open psql.", no_args_is_help=True)


def _settings():
    from api.settings import get_settings

    return get_settings()


def _external() -> bool:
    return bool(_settings().database_url)


@db.command()
def start() -> None:
    """Start the embedded PostGIS cluster (creating it on first use) and apply the migrations."""
    from api.db.engine import embedded_for

    with user_errors():
        if _external():
            console.print("GRIDMAP_DATABASE_URL is set: using the external PostGIS, nothing to start.")
        else:
            pg = embedded_for(_settings())
            pg.start()
            console.print(f"embedded PostGIS running: {pg.status()['data']}")
        migrated_engine(say=True)


@db.command()
def stop() -> None:
    """Stop the embedded PostGIS cluster."""
    from api.db.engine import embedded_for

    with user_errors():
        if _external():
            console.print("GRIDMAP_DATABASE_URL is set: the external PostGIS is not gridmap's to stop.")
            return
        embedded_for(_settings()).stop()
        console.print("embedded PostGIS stopped")


@db.command()
def status() -> None:
    """Print where the database is and whether it runs (JSON)."""
    from api.db.engine import embedded_for

    with user_errors():
        if _external():
            console.print_json(json.dumps({"external": True}))
            return
        console.print_json(json.dumps(embedded_for(_settings()).status()))


@db.command()
def url() -> None:
    """Print the database URL (starting the embedded cluster if needed)."""
    from api.db.engine import resolve_url

    with user_errors():
        print(resolve_url(_settings()))


@db.command()
def migrate() -> None:
    """Apply the Alembic migrations (also done by `db start` and every command that needs the schema)."""
    with user_errors():
        migrated_engine(say=True)


@db.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def psql(ctx: typer.Context) -> None:
    """Open psql on the database; any further arguments go to psql (e.g. -c "SELECT 1")."""
    from api.db.engine import embedded_for, resolve_url

    with user_errors():
        s = _settings()
        if _external():
            args = ["psql", resolve_url(s).replace("postgresql+psycopg2://", "postgresql://")]
        else:
            pg = embedded_for(s)
            pg.start()
            args = pg.psql_args()
            if os.geteuid() == 0:
                args = ["runuser", "-u", "postgres", "--", *args]
        os.execvp(args[0], [*args, *ctx.args])


def register(app: typer.Typer) -> None:
    app.add_typer(db, name="db")


@db.command()
def backup(file: str = typer.Argument(..., help="Backup file to write (pg_dump custom format).")) -> None:
    """Write the whole database (schema and data) to FILE with pg_dump."""
    from pathlib import Path

    from api.db.backup import backup as dump
    from api.db.engine import owner_url

    with user_errors():
        size = dump(owner_url(_settings()), Path(file), _settings().pg_bin)
        console.print(f"backup written: {file} ({size:,} bytes)")


@db.command()
def restore(file: str = typer.Argument(..., help="Backup file made by `gridmap db backup`.")) -> None:
    """Replace the database with the backup FILE (pg_restore, one transaction: a failure changes nothing)."""
    from pathlib import Path

    from api.db.backup import restore as load
    from api.db.engine import owner_url

    with user_errors():
        load(owner_url(_settings()), Path(file), _settings().pg_bin)  # as the schema's owner
        migrated_engine()  # an older backup brought to the head, the application's role granted again
        console.print(f"restored from {file}")


@db.command()
def grants(role: str = typer.Option(..., "--role", help="The application's database role (login)."),
           owner: str = typer.Option("gridmap_owner", "--owner", help="The role that owns gridmap's schema."),
           database: str = typer.Option("gridmap", "--database", help="The database's name.")) -> None:
    """Print the SQL that sets up least-privilege roles on an external PostGIS (see the README)."""
    from api.db.roles import check_role_name, external_setup_sql, grants_sql

    try:
        check_role_name(role)
        check_role_name(owner)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--role/--owner") from None
    print(external_setup_sql(database, owner, role).rstrip())
    print(f"\n-- after every `gridmap db migrate` (which also runs it), as {owner}:")
    print(grants_sql(role).strip())
