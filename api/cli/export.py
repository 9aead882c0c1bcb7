"""``gridmap export LAYER FILE``: write a stored layer to GeoPackage, GeoJSON (RFC 7946) or CSV."""

from __future__ import annotations

from pathlib import Path

import typer

from api.cli.common import console, err_console, migrated_engine, user_errors
from geo.layers import LAYERS


def export(
    layer: str = typer.Argument(..., help=f"One of {', '.join(LAYERS)}."),
    file: Path = typer.Argument(..., help="Output file (.gpkg, .geojson, .csv or .xlsx)."),
    fmt: str = typer.Option(None, "--format", help="gpkg | geojson | csv | xlsx (default: from FILE's suffix)."),
    area: str = typer.Option(None, help="Only this area: a 6-digit region code, or a town/community code."),
    history: bool = typer.Option(False, "--history", help="Grids: every boundary version, not only current ones."),
) -> None:
    """Export a layer (EPSG:4326; GeoJSON in RFC 7946 lon/lat order; CSV and Excel with times in GRIDMAP_TIMEZONE)."""
    from api.db.export import format_for, layer_frame, write_frame
    from api.errors import GridmapError, ValidationFailed
    from api.jurisdiction import EVERYWHERE
    from api import i18n
    from api.settings import get_settings

    lang = i18n.cli_lang()
    with user_errors():
        try:
            if layer not in LAYERS:
                raise typer.BadParameter(f"unknown layer {layer!r}; use one of {', '.join(LAYERS)}")
            kind = format_for(file, fmt)
            if not file.parent.is_dir():  # before starting the database: nothing to do
                raise ValidationFailed(f"the folder {str(file.parent)!r} does not exist; create it first or write "
                                       "the file elsewhere")
            settings = get_settings()
            engine = migrated_engine()
            with engine.connect() as conn:
                frame = layer_frame(conn, layer, EVERYWHERE, area=area, history=history)
            write_frame(frame, file, kind, layer, tz=settings.timezone, lang=settings.language)
        except GridmapError as exc:
            err_console.print(f"[bold red]{i18n.text('error:', lang)}[/] {i18n.text(exc.detail, lang)}")
            raise typer.Exit(2)
    console.print(i18n.text("wrote {n} {layer} feature(s) to {file} ({kind})", lang).format(
        n=len(frame), layer=layer, file=file, kind=kind))


def register(app: typer.Typer) -> None:
    app.command(name="export")(export)
