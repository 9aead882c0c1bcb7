"""``gridmap plan ...``: redraw grids as drafts, look at them, edit, export, publish or discard them;
``gridmap grids check``: validate the existing grids.  Each command calls :mod:`api.plans`."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from api.cli.common import console, err_console, migrated_engine, user_errors

plan_app = typer.Typer(help="Grid redraws (plans): create, list, show, diff, move, export, publish, discard.",
                       no_args_is_help=True)
grids_app = typer.Typer(help="The stored grids: validation.", no_args_is_help=True)


def _run(fn):
    """Call ``fn()`` turning gridmap's errors into a message and exit code 2."""
    from api import i18n
    from api.errors import GridmapError

    lang = i18n.cli_lang()
    with user_errors():
        try:
            return fn()
        except GridmapError as exc:
            err_console.print(f"[bold red]{i18n.text('error:', lang)}[/] {i18n.detail(exc.detail, lang)}")
            for p in exc.problems[:50]:
                err_console.print(f"  - {p}")
            for k in ("unit", "grid"):
                if exc.extra.get(k):
                    err_console.print(f"  {i18n.text(k, lang)}: {exc.extra[k]}")
            raise typer.Exit(2)


def _t(english: str, **values) -> str:
    """``english`` in the CLI's language (:func:`api.i18n.text`), its ``{name}`` parts filled in."""
    from api import i18n

    out = i18n.text(english, i18n.cli_lang())
    return out.format(**values) if values else out


def _settings():
    from api.settings import get_settings

    return get_settings()


def _metrics_table(title: str, grids: list[dict]):
    from rich.table import Table

    t = Table(title=title)
    for c in ("grid", "community", "households", "status", "contiguous", "Polsby-Popper", "street share", "moved"):
        t.add_column(_t(c), justify="right" if c not in ("grid", "community", "status") else "left")
    for g in grids:
        p = g["properties"]
        ss = p.get("street_share")
        t.add_row(p["code"], p["community_code"], str(p["households"]), _t(p["status"]),
                  _t("yes") if p.get("contiguous") else _t("NO"), f"{p.get('polsby_popper') or 0:.3f}",
                  "" if ss is None else f"{ss:.0%}", str(p.get("moved_households") or 0))
    return t


def _print_summary(s: dict) -> None:
    m = s.get("metrics") or {}
    console.print(_t("plan {id} ({status}) region {region}: {communities} communities, {grids} grids, "
                     "{households} households; in band {in_band}, contiguous {contiguous}, households moved {moved}",
                     id=s["id"], status=_t(s["status"]), region=s["region_code"], communities=len(s["communities"]),
                     grids=m.get("grids", 0), households=m.get("households", 0),
                     in_band=f"{m.get('share_in_band', 0):.1%}", contiguous=f"{m.get('share_contiguous', 0):.1%}",
                     moved=m.get("moved_households", 0)))
    for r in s.get("reasons") or []:
        console.print(f"  [yellow]{r.get('code')}[/]: " + _t("community {community} grid {grid} unit {unit}",
                      community=r.get("community"), grid=r.get("grid") or "-", unit=r.get("unit") or "-")
                      + f" {r.get('figures') or ''}")


@plan_app.command("create")
def create(
    community: str = typer.Option(None, "--community", help="Redraw this community."),
    town: str = typer.Option(None, "--town", help="Redraw every community of this town."),
    all_: bool = typer.Option(False, "--all", help="Redraw every community."),
    target: int = typer.Option(300, "--target", help="Households a grid should hold."),
    band: float = typer.Option(0.15, "--band", help="Allowed deviation from the target (0.15: 255-345)."),
    n_grids: int = typer.Option(None, "--grids", help="Grids per community (default from the households)."),
    stay_close: bool = typer.Option(False, "--stay-close", help="Start from the current grids; move as few households as the band needs."),
    lock: str = typer.Option(None, "--lock", help="Current grids that must not change: GRID,GRID,..."),
    micro: bool = typer.Option(False, "--micro", help="Also draw micro-grids (10-30 households) inside each grid."),
    author: str = typer.Option("cli", "--author", help="Who makes the plan."),
) -> None:
    """Redraw grids as a draft plan; prints its id and metrics."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from api.jurisdiction import EVERYWHERE
    from api.plans import PlanSpec, create_plans, show_plan

    spec = PlanSpec(community=community, town=town, all=all_, target=target, band=band, n_grids=n_grids,
                    stay_close=stay_close, lock=tuple(x.strip() for x in (lock or "").split(",") if x.strip()),
                    micro=micro, author=author)
    engine = migrated_engine()
    bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   console=err_console, transient=True)
    tasks: dict = {}

    def progress(region, done, total):
        if region not in tasks:
            tasks[region] = bar.add_task(_t("region {region}: communities", region=region), total=total)
        bar.update(tasks[region], completed=done)

    with bar:
        _, answer, _ = _run(lambda: create_plans(engine, _settings(), EVERYWHERE, spec, progress=progress))
    for s in answer["plans"]:
        _print_summary(s)
        with engine.connect() as conn:
            shown = show_plan(conn, EVERYWHERE, s["id"])
        console.print(_metrics_table(_t("plan {id}", id=s["id"]), shown["grids"]["features"]))
        console.print(_t("plan id: {id}", id=s["id"]))


@plan_app.command("list")
def list_(status: str = typer.Option(None, "--status", help="draft | published | discarded")) -> None:
    """List the plans (newest first)."""
    from rich.table import Table

    from api.jurisdiction import EVERYWHERE
    from api.plans import list_plans

    engine = migrated_engine()
    with engine.connect() as conn:
        rows = _run(lambda: list_plans(conn, EVERYWHERE, status))
    t = Table()
    for c in ("id", "status", "region", "communities", "grids", "in band", "author", "created"):
        t.add_column(_t(c))
    for s in rows:
        m = s["metrics"] or {}
        t.add_row(str(s["id"]), _t(s["status"]), s["region_code"], ",".join(s["communities"]), str(m.get("grids", 0)),
                  f"{m.get('share_in_band', 0):.1%}", s["author"], (s["created_at"] or "")[:19])
    console.print(t)


@plan_app.command("show")
def show(plan_id: int = typer.Argument(...), as_json: bool = typer.Option(False, "--json", help="Print the JSON answer.")) -> None:
    """Show a plan: metrics per grid."""
    from api.jurisdiction import EVERYWHERE
    from api.plans import show_plan

    engine = migrated_engine()
    with engine.connect() as conn:
        s = _run(lambda: show_plan(conn, EVERYWHERE, plan_id))
    if as_json:
        console.print_json(json.dumps(s, ensure_ascii=False))
        return
    _print_summary(s)
    console.print(_metrics_table(_t("plan {id}", id=plan_id), s["grids"]["features"]))


@plan_app.command("diff")
def diff(plan_id: int = typer.Argument(...)) -> None:
    """Compare a plan with the current grids: households moved, per-grid changes."""
    from rich.table import Table

    from api.jurisdiction import EVERYWHERE
    from api.plans import diff_plan

    engine = migrated_engine()
    with engine.connect() as conn:
        d = _run(lambda: diff_plan(conn, EVERYWHERE, plan_id))
    console.print(_t("plan {id}: {households} households in {dwellings} dwellings change grid", id=plan_id,
                     households=d["households_moved"], dwellings=d["dwellings_moved"]))
    t = Table()
    for c in ("grid", "community", "change", "before", "after", "in", "out"):
        t.add_column(_t(c))
    for g in d["grids"]:
        t.add_row(g["code"], g["community_code"], _t(g["change"]), str(g["households_before"]), str(g["households_after"]),
                  str(g["households_in"]), str(g["households_out"]))
    console.print(t)


@plan_app.command("move")
def move(plan_id: int = typer.Argument(...), unit: list[str] = typer.Option(..., "--unit", help="Unit id (repeatable)."),
         to: str = typer.Option(..., "--to", help="Destination grid code."),
         allow_split: bool = typer.Option(False, "--allow-split", help="Allow a move that splits a grid.")) -> None:
    """Move units of a draft into another grid."""
    from api.jurisdiction import EVERYWHERE
    from api.plans import LivePlans, move_units

    engine = migrated_engine()
    _, res, _ = _run(lambda: move_units(engine, LivePlans(), EVERYWHERE, plan_id, unit, to, allow_split=allow_split))
    console.print(_t("moved {units} to {grid}", units=", ".join(res["moved"]) or _t("nothing"), grid=to))
    for g in res["grids"]:
        console.print("  " + _t("{grid}: {households} households, {status}, {contiguity}, Polsby-Popper {pp}",
                                grid=g["label"], households=g["households"], status=_t(g["status"]),
                                contiguity=_t("contiguous") if g["contiguous"] else _t("NOT contiguous"),
                                pp=f"{g['polsby_popper']:.3f}"))


@plan_app.command("lock")
def lock_(plan_id: int = typer.Argument(...), grid: list[str] = typer.Option(..., "--grid", help="Grid code (repeatable)."),
          unlock: bool = typer.Option(False, "--unlock", help="Unlock instead.")) -> None:
    """Lock (or unlock) grids of a draft."""
    from api.jurisdiction import EVERYWHERE
    from api.plans import LivePlans, lock_grids

    engine = migrated_engine()
    _run(lambda: lock_grids(engine, LivePlans(), EVERYWHERE, plan_id, grid, locked=not unlock))
    console.print(_t("unlocked {grids}" if unlock else "locked {grids}", grids=", ".join(grid)))


@plan_app.command("export")
def export(plan_id: int = typer.Argument(...), file: Path = typer.Argument(..., help=".gpkg, .geojson, .csv or .xlsx"),
           fmt: str = typer.Option(None, "--format", help="gpkg | geojson | csv | xlsx (default: from FILE)")) -> None:
    """Export a plan's grids (GeoPackage layer ``grids``, GeoJSON, CSV with BOM, xlsx)."""
    from api.jurisdiction import EVERYWHERE
    from api.plans.export import export_plan, format_of

    engine = migrated_engine()

    def go():
        kind = format_of(file, fmt)
        with engine.connect() as conn:
            data = export_plan(conn, EVERYWHERE, plan_id, kind)
        file.write_bytes(data)
        return kind

    kind = _run(go)
    console.print(_t("wrote plan {id} to {file} ({kind})", id=plan_id, file=file, kind=kind))


@plan_app.command("publish")
def publish(plan_id: int = typer.Argument(...)) -> None:
    """Publish a draft: its grids become the communities' grids (history kept)."""
    from api.jurisdiction import EVERYWHERE
    from api.plans import publish_plan

    engine = migrated_engine()
    _, res, _ = _run(lambda: publish_plan(engine, _settings(), EVERYWHERE, plan_id))
    g, r = res["grids"], res["reattributed"]
    console.print(_t("published plan {id} at {at}: {added} new grids, {versions} new versions, {closed} closed, "
                     "{unchanged} unchanged; re-attributed {dwellings} dwellings and {incidents} incidents",
                     id=plan_id, at=res["published_at"], added=g["added"], versions=g["new_versions"],
                     closed=g["closed"], unchanged=g["unchanged"], dwellings=r["dwellings"], incidents=r["incidents"]))


@plan_app.command("discard")
def discard(plan_id: int = typer.Argument(...)) -> None:
    """Discard a draft."""
    from api.jurisdiction import EVERYWHERE
    from api.plans import discard_plan

    engine = migrated_engine()
    _run(lambda: discard_plan(engine, EVERYWHERE, plan_id))
    console.print(_t("discarded plan {id}", id=plan_id))


@grids_app.command("check")
def check(area: str = typer.Option(None, "--area", help="Only this region, town or community code."),
          out: Path = typer.Option(None, "--out", help="Write the report to .json, .csv or .xlsx."),
          target: int = typer.Option(300, "--target"), band: float = typer.Option(0.15, "--band")) -> None:
    """Validate the current grids: overlaps, gaps, parts outside their community, non-contiguous, out of band."""
    from api.jurisdiction import EVERYWHERE
    from api.plans.check import check_stored_grids, write_report
    from geo.zoning import CHECK_ISSUES

    engine = migrated_engine()
    with engine.connect() as conn:
        report = _run(lambda: check_stored_grids(conn, EVERYWHERE, area=area, target=target, band=band))
    for r in report["issues"][:200]:
        base = CHECK_ISSUES.get(r["issue"], "")
        message = _t(base) + r["message"][len(base):] if base and r["message"].startswith(base) else r["message"]
        console.print(_t("{issue}: grid {grid} community {community}: {message}", issue=_t(r["issue"]),
                         grid=r["grid"] or "-", community=r["community_code"] or "-", message=message))
    console.print(_t("{n} issue(s) in {grids} grid(s)", n=len(report["issues"]), grids=report["grids"]))
    if out is not None:
        _run(lambda: write_report(report, out))
        console.print(_t("wrote {file}", file=out))


def register(app: typer.Typer) -> None:
    app.add_typer(plan_app, name="plan")
    app.add_typer(grids_app, name="grids")
