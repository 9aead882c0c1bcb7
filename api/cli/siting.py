"""``gridmap site``: where new stations cover the most households, and which could close.

``gridmap site --add K`` prints the chosen sites (in order of marginal gain), the coverage before
and after, the gain table for 1..K sites and the grids that change; ``--close N`` closes the N
stations whose closing loses the fewest households (with ``--add``: while adding K).  ``--what-if``
also asks the coverage what-if of the whole proposal (every site and closure together, as
``POST /coverage/what-if`` with the answer's ``what_if``) and prints its figure beside the proposal's.  ``--out``
writes the proposal (:mod:`api.siting.output`).  The answer is :meth:`api.siting.SitingService.propose`,
the same as ``POST /siting``; heavy modules are imported inside the command.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from api.cli.common import console, err_console, migrated_engine, user_errors

OUT_HELP = "Write the proposal: FILE.gpkg, .geojson, .csv, .xlsx or .json."


def _n(v, nd: int = 0) -> str:
    if v is None or (isinstance(v, float) and v != v):
        return "-"
    return f"{v:,.{nd}f}" if isinstance(v, float) else f"{v:,}"


def site(
    add: int = typer.Option(None, "--add", help="New sites to add (default 1; 0 with --close)."),
    close: int = typer.Option(0, "--close", help="Existing stations to close, least loss first."),
    area: str = typer.Option(None, help="Candidates only inside this town, community or grid code."),
    minutes: float = typer.Option(None, help="Time budget, minutes (default GRIDMAP_MINUTES, 8)."),
    mode: str = typer.Option("walk", help="walk, bike or drive."),
    candidates: str = typer.Option("gaps", help="gaps (street nodes within reach of an uncovered household), "
                                                "streets (every street node), osm (OSM amenities) or a FILE."),
    layer: str = typer.Option(None, help="Layer (GeoPackage) or sheet (Excel) of the candidates FILE."),
    model: str = typer.Option("mclp", help="mclp (most households for K sites), lscp (fewest sites for "
                                           "--target) or pmedian (shortest mean time)."),
    target: float = typer.Option(None, help="lscp: share of households to reach, 0-1 (default all reachable)."),
    greedy: bool = typer.Option(False, "--greedy", help="The instant greedy preview instead of the exact solve."),
    kinds: str = typer.Option(None, help="Station kinds that count, comma-separated (default all)."),
    region: str = typer.Option(None, help="One county (6-digit code)."),
    time_limit: float = typer.Option(60.0, help="Solver time limit, seconds."),
    what_if: bool = typer.Option(False, "--what-if", help="Also check the whole proposal with the coverage what-if "
                                                         "(every new site and closure together)."),
    out: Path = typer.Option(None, help=OUT_HELP),
) -> None:
    """Site new service stations (and close the least useful ones) to cover the most households."""
    from api.coverage import CoverageService
    from api.errors import GridmapError
    from api.jurisdiction import EVERYWHERE
    from api.settings import get_settings
    from api.siting import SitingParams, SitingService, read_candidates
    from api.siting.output import FORMATS, write_proposal

    if out and out.suffix.lower() not in FORMATS:
        raise typer.BadParameter(f"--out must end in one of {', '.join(FORMATS)}", param_hint="--out")
    settings = get_settings()
    k = (0 if close else 1) if add is None else add
    with user_errors():
        try:
            points = None
            kind = candidates
            if candidates not in ("gaps", "streets", "osm"):
                path = Path(candidates)
                if not path.exists():
                    raise typer.BadParameter(f"{candidates!r} is neither gaps, streets, osm nor a file",
                                             param_hint="--candidates")
                points, kind = read_candidates(path, layer=layer), "file"
            p = SitingParams.asked(default_minutes=settings.minutes, minutes=minutes, kinds=kinds, k=k, close=close,
                                   model=model, mode=mode, area=area, candidates=kind, target=target, region=region,
                                   method="greedy" if greedy else "exact", time_limit_s=time_limit)
            svc = SitingService.from_settings(
                CoverageService.from_settings(migrated_engine(), settings, warm_polygons=False), settings)
            with console.status("siting: starting") as status:
                prop = svc.propose(EVERYWHERE, p, points, progress=lambda msg: status.update(msg))
        except (GridmapError, ValueError) as exc:  # geo's InvalidInput is a ValueError
            fields = sorted({pr.field for pr in getattr(exc, "problems", []) if pr.field})
            opt = "".join(f"--{f.replace('_', '-')}: " for f in fields)
            err_console.print(f"[bold red]error:[/] {opt}{getattr(exc, 'detail', exc)}")
            for pr in getattr(exc, "problems", [])[:10]:
                err_console.print(f"  - {pr}")
            raise typer.Exit(2)
    _print(prop)
    if what_if:
        with user_errors():
            _check(svc, prop)
    if out:
        with user_errors():
            files = write_proposal(prop, out)
        console.print("wrote " + ", ".join(str(f) for f in files))


def _print(prop) -> None:
    from api import i18n

    lang = i18n.cli_lang()
    tx = lambda english, **kw: i18n.text(english, lang).format(**kw)  # noqa: E731

    def table(title: str, heads, left=()) -> Table:
        tab = Table(title=title)
        for c in heads:
            tab.add_column(tx(c), justify="left" if c in left else "right")
        return tab

    t, ms = prop.totals(), prop.model_summary()
    sites = prop.sites()
    m = prop.params.minutes
    if len(sites):
        tab = table(tx("{n} new site(s), {minutes}-minute {mode} ({model}, {candidates} candidates)", n=len(sites),
                       minutes=f"{m:g}", mode=prop.params.mode, model=prop.params.model,
                       candidates=f"{t['candidates']:,}"),
                    ("#", "candidate", "lon", "lat", "adds households", "reaches alone", "grid", "community"),
                    left=("candidate", "grid", "community"))
        for r in sites.itertuples():
            tab.add_row(str(r.order), str(r.candidate_id) + (f" {r.name}" if isinstance(r.name, str) else ""),
                        f"{r.lon:.6f}", f"{r.lat:.6f}", _n(float(r.gain)), _n(float(r.reach_households)),
                        str(r.grid_code or "-"), str(r.community_code or "-"))
        console.print(tab)
    if prop.params.model != "lscp" and 0 < len(sites) < prop.params.k:
        console.print("[yellow]" + tx("{n} of the {k} sites asked for are opened: one more would add no household",
                                      n=len(sites), k=prop.params.k) + "[/]")
    closed = prop.closed()
    if len(closed):
        tab = table(tx("{n} station(s) closed", n=len(closed)), ("station", "name", "kind"),
                    left=("station", "name", "kind"))
        for r in closed.itertuples():
            tab.add_row(str(r.station_id), str(r.name), str(r.kind))
        console.print(tab)
    curve = prop.curve_frame()
    if curve is not None and len(curve) > 1:
        tab = table(tx("gain table: households covered with the first k sites (greedy order; exact at k = {k})",
                       k=prop.params.k), ("k", "site", "adds", "covered", "%", "exact covered"), left=("site",))
        for r in curve.itertuples():
            tab.add_row(str(r.k), str(r.site) if isinstance(r.site, str) else "-", _n(float(r.gain)),
                        _n(float(r.covered)), _n(float(r.covered_pct), 1), _n(float(r.exact_covered)))
        console.print(tab)
    changed = prop.area_table("grid")
    changed = changed[changed["newly_covered"] != 0]
    if len(changed):
        tab = table(tx("grids that change"), ("grid", "name", "households", "before", "after", "% before", "% after"),
                    left=("grid", "name"))
        for r in changed.itertuples():
            tab.add_row(str(r.code), str(r.name), _n(int(r.households)), _n(int(r.covered_before)),
                        _n(int(r.covered_after)), _n(float(r.covered_pct_before), 1), _n(float(r.covered_pct_after), 1))
        console.print(tab)
    if prop.params.close or not len(sites):
        rank = prop.closures().head(10)
        tab = table(tx("stations that could close with the least loss (households only each reaches)"),
                    ("station", "name", "kind", "reaches", "would lose"), left=("station", "name", "kind"))
        for r in rank.itertuples():
            tab.add_row(str(r.station_id), str(r.name), str(r.kind), _n(float(r.reach_households)),
                        _n(float(r.lost_households)))
        console.print(tab)
    gap = ms["gap"]
    console.print(
        tx("total: {before} -> {after} of {households} households covered ({pb}% -> {pa}%, {newly}); {status}",
           before=f"{t['covered_before']:,}", after=f"{t['covered_after']:,}", households=f"{t['households']:,}",
           pb=_n(t["covered_pct_before"], 1), pa=_n(t["covered_pct_after"], 1), newly=f"{t['newly_covered']:+,}",
           status=ms["status"])
        + (tx(", certified gap {gap}%", gap=f"{100 * gap:.2f}") if gap is not None else "")
        + tx("; matrix {matrix} s, solve {solve} s", matrix=f"{ms['matrix_s']:.2f}", solve=f"{ms['solve_s']:.2f}"))
    if "mean_time_after_s" in t:
        console.print(tx("mean time {before} -> {after} min", before=f"{t['mean_time_before_s'] / 60:.2f}",
                         after=f"{t['mean_time_after_s'] / 60:.2f}"))
    if t["straight_line_households"]:
        console.print("[yellow]" + tx("{n} households reached by the straight-line fallback are left as they are",
                                      n=f"{t['straight_line_households']:,}") + "[/]")


def _check(svc, prop) -> None:
    """The coverage what-if of the whole proposal, printed beside the proposal's own figure."""
    from api import i18n
    from api.coverage import answers
    from api.jurisdiction import EVERYWHERE

    q = prop.what_if()
    lang = i18n.cli_lang()
    if q is None:
        return
    w = answers.whatif_answer(svc.coverage, EVERYWHERE, prop.run.params, q["action"], kind=q.get("kind"),
                              sites=[(s["lon"], s["lat"]) for s in q["sites"]], station_ids=q["station_ids"])
    t = prop.totals()
    same = w["delta"] == t["newly_covered"]
    msg = i18n.text("what-if of the whole proposal ({sites} new sites, {closed} closed): {before} -> {after} "
                    "households covered ({delta}); the proposal: {newly}", lang).format(
        sites=len(q["sites"]), closed=len(q["station_ids"]), before=f"{w['covered_before']:,}",
        after=f"{w['covered_after']:,}", delta=f"{w['delta']:+,}", newly=f"{t['newly_covered']:+,}")
    console.print(msg if same else f"[yellow]{msg}[/]")


def register(app: typer.Typer) -> None:
    app.command(name="site")(site)
