"""``gridmap incidents``: statistics and hotspots from the command line.

Heavy modules (pandas, geopandas, the database layer) are imported inside the commands, so that
``--help`` answers at once.
"""

from __future__ import annotations

from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import typer
from rich.table import Table

from api.cli.common import console, err_console, migrated_engine, user_errors

TIME_HELP = "ISO date or time; without an offset it is local time in GRIDMAP_TIMEZONE (default Asia/Shanghai)."
OUT_HELP = ("Also write every unit (hot, cold and not significant) to this file: .csv (UTF-8 with a BOM, "
            "geometry as WKT), .geojson or .gpkg, by its suffix.")

incidents_app = typer.Typer(help="Incidents: statistics and hotspots.", no_args_is_help=True)


def _when(value: str | None, tz: str, option: str = "--from") -> datetime | None:
    from api.incidents.times import aware

    if not value:
        return None
    try:
        t = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date or time (YYYY-MM-DD or YYYY-MM-DDTHH:MM[+08:00])",
                                 param_hint=option) from None
    return aware(t, tz)  # no offset: GRIDMAP_TIMEZONE


def cli_filter(conn, scope, *, tz: str, from_: str | None = None, to: str | None = None,
               category: list[str] | None = None, area: str | None = None):
    """The :class:`~api.incidents.filters.IncidentFilter` of a command's ``--from``, ``--to``
    (read in ``tz`` when they carry no offset), ``--category`` and ``--area``, checked once
    (:class:`~api.errors.ValidationFailed` / :class:`~api.errors.NotFound`, shown by :func:`_refused`)."""
    from api.incidents.filters import IncidentFilter

    flt = IncidentFilter(start=_when(from_, tz), end=_when(to, tz, "--to"), categories=tuple(category or ()),
                         area=area)
    return flt.check(conn, scope)


@contextmanager
def _refused():
    """A refused filter or analysis (unknown category or area, reversed window, bad level, too few
    incidents): the message, exit 2.  These commands only read: nothing to say about writing."""
    from api.errors import GridmapError
    from geo.errors import InvalidInput

    try:
        yield
    except GridmapError as exc:
        err_console.print(f"[bold red]error:[/] {exc.detail}", soft_wrap=True)
        raise typer.Exit(2) from None
    except InvalidInput as exc:
        err_console.print(f"[bold red]error:[/] {exc}", soft_wrap=True)
        raise typer.Exit(2) from None


def _fmt(v, pct: bool = False, nd: int = 1) -> str:
    if v is None or v != v:
        return "-"
    if pct:
        return f"{100 * float(v):.1f}%"
    return f"{float(v):.{nd}f}" if isinstance(v, float) else str(v)


def _engine_and_settings():
    from api.settings import get_settings

    with user_errors():
        return migrated_engine(), get_settings()


@incidents_app.command()
def stats(
    level: str = typer.Option("town", help="grid, community or town."),
    from_: str = typer.Option(None, "--from", help="Start of the window on reported_at. " + TIME_HELP),
    to: str = typer.Option(None, "--to", help="End of the window (exclusive). " + TIME_HELP),
    category: list[str] = typer.Option(None, "--category", help="Category code (repeatable)."),
    area: str = typer.Option(None, help="Only this town, community, grid or region code."),
    min_count: int = typer.Option(10, help="Areas with fewer incidents get no rank."),
    csv: Path = typer.Option(None, "--csv", help="Also write the rows to this CSV file."),
) -> None:
    """Counts, rates per 100 households, closure vs resolution, hours to close, overdue, per area."""
    from api.incidents.stats import area_stats
    from api.jurisdiction import EVERYWHERE

    engine, settings = _engine_and_settings()
    with _refused(), engine.connect() as conn:
        flt = cli_filter(conn, EVERYWHERE, tz=settings.timezone, from_=from_, to=to, category=category, area=area)
        s = area_stats(conn, EVERYWHERE, flt, tz=settings.timezone, level=level, min_count=min_count, period=None)
    table = Table(title=f"Incidents per {level}", show_lines=False)
    cols = [("rank", "rank"), ("code", "code"), ("name", "name"), ("incidents", "incidents"),
            ("households", "households"), ("per 100 hh", "rate_per_100_households"), ("closure", "closure_rate"),
            ("resolution", "resolution_rate"), ("median h", "median_hours_to_close"),
            ("p90 h", "p90_hours_to_close"), ("overdue", "overdue")]
    from api import i18n

    lang = i18n.cli_lang()
    for head, _ in cols:
        table.add_column(i18n.text(head, lang), justify="left" if head in ("code", "name") else "right",
                         no_wrap=head == "code", overflow="fold")
    for r in s.rows.to_dict("records"):
        table.add_row(*[_fmt(r[k], pct=k in ("closure_rate", "resolution_rate"), nd=2 if "rate" in k else 1)
                        for _, k in cols])
    console.print(table)
    t = s.totals
    console.print(f"total {t['incidents']} incidents, closed {t['closed']} ({_fmt(t['closure_rate'], True)}), "
                  f"resolved {t['resolved']} ({_fmt(t['resolution_rate'], True)}), closed for another reason "
                  f"{t['closed_other']}, overdue {t['overdue']}, outside every grid {t['outside_grid']}")
    if csv:  # UTF-8 with a BOM, so that Excel on Chinese Windows reads the names right
        s.rows.to_csv(csv, index=False, encoding="utf-8-sig")
        console.print(f"wrote {csv}")


def write_hotspots(frame, path: Path) -> str:
    """Write :func:`api.incidents.stats.hotspot_frame` to ``path`` by its suffix (.csv with a BOM and
    WKT geometry, .geojson / .json, .gpkg); returns the format."""
    import pandas as pd
    import pyogrio

    from api.db.export import format_for

    fmt = format_for(path, None)
    if path.exists():
        path.unlink()
    if fmt == "csv":
        out = pd.DataFrame(frame.drop(columns="geometry"))
        out["geometry"] = frame.geometry.to_wkt(rounding_precision=7)
        out.to_csv(path, index=False, encoding="utf-8-sig")
    else:
        pyogrio.write_dataframe(frame, path, driver="GeoJSON" if fmt == "geojson" else "GPKG", layer="hotspots",
                                layer_options={"RFC7946": "YES", "WRITE_BBOX": "NO"} if fmt == "geojson" else None)
    return fmt


@incidents_app.command()
def hotspots(
    level: str = typer.Option("grid", help="grid or h3."),
    resolution: int = typer.Option(8, help="H3 resolution (level h3)."),
    from_: str = typer.Option(None, "--from", help=TIME_HELP), to: str = typer.Option(None, "--to", help=TIME_HELP),
    category: list[str] = typer.Option(None, "--category", help="Category code (repeatable)."),
    area: str = typer.Option(None, help="Only this town, community, grid or region code."),
    min_incidents: int = typer.Option(30, help="Minimum incidents for an analysis."),
    out: Path = typer.Option(None, "--out", help=OUT_HELP),
) -> None:
    """Getis-Ord Gi* hot and cold spots (FDR-corrected): the significant units, grid names beside codes."""
    from api.incidents.stats import hotspot_frame
    from api.incidents.stats import hotspots as compute
    from api.jurisdiction import EVERYWHERE

    if out is not None:  # refuse an unknown suffix before the analysis
        from api.db.export import format_for

        with _refused():
            format_for(out, None)
    engine, settings = _engine_and_settings()
    with _refused(), engine.connect() as conn:
        flt = cli_filter(conn, EVERYWHERE, tz=settings.timezone, from_=from_, to=to, category=category, area=area)
        res, geoms = compute(conn, EVERYWHERE, flt, level=level, resolution=resolution, min_incidents=min_incidents)
    frame = hotspot_frame(res, geoms)
    sig = frame[frame["bin"] != 0]
    table = Table(title=f"Hot and cold spots ({len(sig)} of {len(frame)} units significant)")
    cols = ["unit"] + (["name"] if level == "grid" else []) + ["incidents", "z", "p", "class"]
    from api import i18n

    for c in cols:
        table.add_column(i18n.text(c, i18n.cli_lang()))
    for r in sig.itertuples(index=False):
        cells = [r.unit] + ([r.name or "-"] if level == "grid" else []) + [str(r.incidents), f"{r.z:.2f}",
                                                                           f"{r.p:.2g}", r.classification]
        table.add_row(*cells)
    console.print(table)
    if out is not None:
        write_hotspots(frame, out)
        console.print(f"wrote {len(frame)} unit(s) to {out}")


PARTIAL_HELP = ("Incidents only: write the good rows and list each bad one by row (exit status 3 when some "
                "were rejected). Default: all or nothing, nothing written if any row is bad (exit 2).")
IMPORT_TIME_NOTE = ("Times without a UTC offset (e.g. 2025-03-01 08:30) are local times in GRIDMAP_TIMEZONE "
                    "(default Asia/Shanghai); give +08:00 or Z to be explicit.")


UPDATE_HELP = ("Incidents only: a row whose external_id is stored already and whose content differs is a "
               "correction: write its category, reported_at, location, description and reporter_kind, "
               "attribute it to a grid again and record one 'correct' event per changed case (what changed, "
               "before and after). Workflow state (status, closure, escalation) is never changed by an import.")


def import_frame(frame, *, region: str | None = None, partial: bool = False, update: bool = False,
                 file: Path | None = None) -> None:
    """Write an incident frame read by ``gridmap import incidents`` and print what happened.

    ``partial``: the good rows are written and each bad row is listed (exit status 3 if any);
    otherwise any bad row raises :class:`geo.errors.InvalidInput` and nothing is written.
    Duplicates whose content differs from the stored records are counted and named (fields), with
    the command that applies them; ``update``: they are applied
    (:func:`api.incidents.corrections.apply_corrections`), in the same transaction as the intake.
    """
    from api.imports import import_frame as import_layer
    from api.incidents.corrections import CORRECTABLE, apply_corrections, pending_corrections
    from api.settings import get_settings

    settings = get_settings()
    engine = migrated_engine()
    region = region or settings.region_code
    with engine.begin() as conn:
        report = import_layer(conn, "incidents", frame, settings, region_code=region, actor="import",
                              all_or_nothing=not partial)
        corr = (apply_corrections if update else pending_corrections)(
            conn, frame, report.duplicate_rows, tz=settings.timezone)
    console.print(f"[green]incidents[/]: {report.inserted} inserted, {report.duplicates} duplicate(s) "
                  f"skipped, {report.outside_grid} outside every grid (kept, flagged)")
    if update and corr.updated:
        console.print(f"[green]corrected[/]: {corr.updated} record(s) updated "
                      f"({', '.join(f for f in corr.fields if f in CORRECTABLE)}), {corr.regridded} moved to "
                      "another grid; one 'correct' event recorded per case")
    elif corr.correctable:
        fields = ", ".join(f for f in corr.fields if f in CORRECTABLE)
        console.print(f"[bold yellow]{len(corr.correctable)} record(s) differ from the stored ones[/] "
                      f"(fields {fields}); run `gridmap import incidents {file or 'FILE'} --update` to apply them",
                      soft_wrap=True)
    if corr.workflow_only:
        console.print(f"[yellow]note[/]: {', '.join(corr.workflow_only)} differ(s) too; workflow state is not "
                      "changed by an import (use the case's transitions)", soft_wrap=True)
    if report.rejected:
        rows = sorted({p.row for p in report.rejected})
        err_console.print(f"[bold yellow]{len(rows)} of {len(frame)} row(s) rejected[/] (--partial: the other "
                          "rows were written):")
        for p in report.rejected:
            err_console.print(f"  - {p}", soft_wrap=True)
        raise typer.Exit(3)


def register(app: typer.Typer) -> None:
    app.add_typer(incidents_app, name="incidents")
