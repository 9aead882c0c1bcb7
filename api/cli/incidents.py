"""``gridmap incidents``: statistics and hotspots from the command line."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import typer
from rich.table import Table

from api.cli.common import console, err_console, migrated_engine, user_errors
from api.errors import GridmapError
from api.incidents.times import aware
from api.jurisdiction import EVERYWHERE

TIME_HELP = "ISO date or time; without an offset it is local time in GRIDMAP_TIMEZONE (default Asia/Shanghai)."

incidents_app = typer.Typer(help="Incidents: statistics and hotspots.", no_args_is_help=True)


def _when(value: str | None, option: str = "--from") -> datetime | None:
    if not value:
        return None
    try:
        t = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date or time (YYYY-MM-DD or YYYY-MM-DDTHH:MM[+08:00])",
                                 param_hint=option) from None
    return aware(t)  # no offset: GRIDMAP_TIMEZONE (default Asia/Shanghai)


@contextmanager
def _refused():
    """A refused filter (unknown category or area, reversed window, bad level): message, exit 2."""
    try:
        yield
    except GridmapError as exc:
        err_console.print(f"[bold red]error:[/] {exc.detail}")
        raise typer.Exit(2) from None


def _fmt(v, pct: bool = False, nd: int = 1) -> str:
    if v is None or v != v:
        return "-"
    if pct:
        return f"{100 * float(v):.1f}%"
    return f"{float(v):.{nd}f}" if isinstance(v, float) else str(v)


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

    with user_errors():
        engine = migrated_engine()
        with _refused():
            with engine.connect() as conn:
                s = area_stats(conn, EVERYWHERE, level=level, start=_when(from_), end=_when(to, "--to"),
                               category=category or None, area=area, min_count=min_count, period=None)
    table = Table(title=f"Incidents per {level}", show_lines=False)
    cols = [("rank", "rank"), ("code", "code"), ("name", "name"), ("incidents", "incidents"),
            ("households", "households"), ("per 100 hh", "rate_per_100_households"), ("closure", "closure_rate"),
            ("resolution", "resolution_rate"), ("median h", "median_hours_to_close"),
            ("p90 h", "p90_hours_to_close"), ("overdue", "overdue")]
    for head, _ in cols:
        table.add_column(head, justify="left" if head in ("code", "name") else "right",
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


@incidents_app.command()
def hotspots(
    level: str = typer.Option("grid", help="grid or h3."),
    resolution: int = typer.Option(8, help="H3 resolution (level h3)."),
    from_: str = typer.Option(None, "--from", help=TIME_HELP), to: str = typer.Option(None, "--to", help=TIME_HELP),
    category: list[str] = typer.Option(None, "--category"),
    area: str = typer.Option(None, help="Only this town, community, grid or region code."),
    min_incidents: int = typer.Option(30, help="Minimum incidents for an analysis."),
) -> None:
    """Getis-Ord Gi* hot and cold spots (FDR-corrected), significant units only."""
    from api.incidents.stats import hotspots as compute

    with user_errors():
        engine = migrated_engine()
        with _refused(), engine.connect() as conn:
            res, _ = compute(conn, EVERYWHERE, level=level, resolution=resolution, start=_when(from_),
                             end=_when(to, "--to"), category=category or None, area=area,
                             min_incidents=min_incidents)
    sig = res[res["bin"] != 0].sort_values("z", ascending=False)
    table = Table(title=f"Hot and cold spots ({len(sig)} of {len(res)} units significant)")
    for c in ("unit", "incidents", "z", "p", "class"):
        table.add_column(c)
    for unit, r in sig.iterrows():
        table.add_row(str(unit), str(int(r["count"])), f"{r.z:.2f}", f"{r.p:.2g}", r.classification)
    console.print(table)


PARTIAL_HELP = ("Incidents only: write the good rows and list each bad one by row (exit status 3 when some "
                "were rejected). Default: all or nothing, nothing written if any row is bad (exit 2).")
IMPORT_TIME_NOTE = ("Times without a UTC offset (e.g. 2025-03-01 08:30) are local times in GRIDMAP_TIMEZONE "
                    "(default Asia/Shanghai); give +08:00 or Z to be explicit.")


def import_frame(frame, *, region: str | None = None, partial: bool = False) -> None:
    """Write an incident frame read by ``gridmap import incidents`` and print what happened.

    ``partial``: the good rows are written and each bad row is listed (exit status 3 if any);
    otherwise any bad row raises :class:`geo.errors.InvalidInput` and nothing is written.
    """
    from api.incidents.intake import ingest_frame
    from api.settings import get_settings

    settings = get_settings()
    engine = migrated_engine()
    with engine.begin() as conn:
        report = ingest_frame(conn, frame, region_code=region or settings.region_code, actor="import",
                              all_or_nothing=not partial, timezone=settings.timezone)
    console.print(f"[green]incidents[/]: {report.inserted} inserted, {report.duplicates} duplicate(s) "
                  f"skipped, {report.outside_grid} outside every grid (kept, flagged)")
    if report.rejected:
        rows = sorted({p.row for p in report.rejected})
        err_console.print(f"[bold yellow]{len(rows)} of {len(frame)} row(s) rejected[/] (--partial: the other "
                          "rows were written):")
        for p in report.rejected:
            err_console.print(f"  - {p}", soft_wrap=True)
        raise typer.Exit(3)


def register(app: typer.Typer) -> None:
    app.add_typer(incidents_app, name="incidents")
