"""``gridmap region``: the counties stored, and removing one (``list``, ``drop CODE --yes``).

Only translation: :mod:`api.db.regions` lists and drops.
"""

from __future__ import annotations

import typer

from api.cli.common import console, err_console, migrated_engine, owner_engine, user_errors

region_app = typer.Typer(help="Counties (region codes) stored: list them, drop one.", no_args_is_help=True)


@region_app.command("list")
def list_() -> None:
    """Every county stored: rows per table and its partitions."""
    from rich.table import Table

    from api.db.regions import PARTITIONED, PLAIN, list_regions

    with user_errors():
        with migrated_engine().connect() as conn:
            regions = list_regions(conn)
    if not regions:
        console.print("no county is stored")
        return
    table = Table(title=f"{len(regions)} counties")
    table.add_column("code", no_wrap=True)
    table.add_column("name")
    for t in (*PLAIN, *PARTITIONED):
        table.add_column(t, justify="right")
    table.add_column("partitions", justify="right")
    for r in regions:
        table.add_row(r.code, r.name or "-", *[f"{r.rows.get(t, 0):,}" for t in (*PLAIN, *PARTITIONED)],
                      str(len(r.partitions)))
    console.print(table)


@region_app.command("drop")
def drop(code: str = typer.Argument(..., help="The 6-digit county code."),
         yes: bool = typer.Option(False, "--yes", help="Confirm: drop without asking.")) -> None:
    """Remove one county: detach and drop its partitions and delete its areas and stations, in one
    transaction (asks for confirmation unless --yes)."""
    from api.db.regions import drop_region, list_regions

    if not (len(code) == 6 and code.isdigit()):
        raise typer.BadParameter("must be a 6-digit county code", param_hint="CODE")
    with user_errors():
        engine = owner_engine()  # detaching and dropping partitions is DDL: the schema's owner
        with engine.connect() as conn:
            held = next((r for r in list_regions(conn) if r.code == code), None)
        if held is None:
            err_console.print(f"[bold red]error:[/] no county {code!r} is stored")
            raise typer.Exit(1)
        total = sum(held.rows.values())
        if not yes and not typer.confirm(f"drop county {code} ({total:,} rows, {len(held.partitions)} partitions)?"):
            err_console.print("nothing dropped")
            raise typer.Exit(1)
        with engine.begin() as conn:
            drop_region(conn, code)
    console.print(f"dropped county {code}: {total:,} rows, {len(held.partitions)} partitions")


def register(app: typer.Typer) -> None:
    app.add_typer(region_app, name="region")
