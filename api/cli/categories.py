"""``gridmap categories``: list and add incident categories (the ``incident_categories`` table).

Station kinds are free text (``geo.layers.STATION_KINDS`` are only the defaults), so they need no
command.  Heavy modules are imported inside the commands, so that ``--help`` answers at once.
"""

from __future__ import annotations

import typer
from rich.table import Table

from api.cli.common import console, err_console, migrated_engine, user_errors

categories_app = typer.Typer(help="Incident categories: list them, add your own.", no_args_is_help=True)


@categories_app.command("list")
def list_() -> None:
    """Every incident category: code, Chinese and English name, SLA hours (report to due)."""
    from api.incidents.categories import list_categories

    with user_errors():
        engine = migrated_engine()
    with engine.connect() as conn:
        cats = list_categories(conn)
    table = Table(title=f"{len(cats)} incident categories")
    for c in ("code", "name_zh", "name_en", "sla_hours"):
        table.add_column(c, justify="right" if c == "sla_hours" else "left")
    for c in cats:
        table.add_row(c.code, c.name_zh, c.name_en, str(c.sla_hours))
    console.print(table)


@categories_app.command("add")
def add(
    code: str = typer.Argument(..., help="Category code: lower-case letters, digits and _ (e.g. noise)."),
    zh: str = typer.Option(..., "--zh", help="Chinese name (e.g. 噪音扰民)."),
    en: str = typer.Option(..., "--en", help="English name (e.g. Noise)."),
    sla_hours: int = typer.Option(72, "--sla-hours", help="Hours from report to due (at least 1)."),
) -> None:
    """Add an incident category; files and requests may use it at once."""
    from api.errors import GridmapError
    from api.incidents.categories import add_category

    with user_errors():
        engine = migrated_engine()
    try:
        with engine.begin() as conn:
            c = add_category(conn, code, name_zh=zh, name_en=en, sla_hours=sla_hours)
    except GridmapError as exc:
        err_console.print(f"[bold red]error:[/] {exc.detail}", soft_wrap=True)
        raise typer.Exit(2) from None
    console.print(f"[green]added[/] category {c.code} ({c.name_zh} / {c.name_en}, SLA {c.sla_hours} h)")


def register(app: typer.Typer) -> None:
    app.add_typer(categories_app, name="categories")
