"""What-if planning's per-run parts: the run's gaps, the served gap rows and each grid's gap list, the
planners, and a new site (projected and snapped once, refused when it can reach nobody).  Built once
per run (``run.lazy``) by the first request or by the run's background warm-up
(:meth:`api.coverage.service.CoverageService.warm_whatif`).  The answer built from them is
:func:`api.coverage.answers.whatif_answer`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely

from api.coverage.frames import gaps_frame
from api.coverage.runs import Run, records
from api.errors import ValidationFailed
from geo.errors import Problem
from geo.gaps import find_gaps, grid_gaps
from geo.snap import snap_points
from geo.whatif import Planner, Site


def run_gaps(run: Run, link_m: float = 100.0):
    """The run's gaps (:func:`geo.gaps.find_gaps`, nearest stations searched up to twice the budget)."""
    return run.lazy(("gaps", link_m), lambda: find_gaps(
        run.reach, budget_s=run.params.budget_s, link_m=link_m, net=run.net,
        grid_codes=run.assignment["grid_code"].to_numpy(dtype=object)))


#: The columns of a gap in a grid's ``gaps_after`` list.
GAP_COLUMNS = ["gap_id", "households", "dwellings", "nearest_station", "nearest_station_name", "nearest_time_min",
               "method"]


@dataclass(frozen=True)
class WhatIfBase:
    """What every what-if answer of one run shares, built once per run (``run.lazy``): at the 500k
    city rebuilding these per request (the gap frame, ``grid_gaps``, a JSON row per gap) took
    ~35 ms of each request, against 3-7 ms for the planner itself."""

    rows: dict  # gap id -> its JSON row (GAP_COLUMNS)
    grids_of: dict  # gap id -> the grids it touches
    lists: dict  # grid code -> its gap ids before any change, largest first
    covered: dict  # grid code -> covered households
    households: int


def whatif_base(run: Run) -> WhatIfBase:
    def make() -> WhatIfBase:
        gaps = run_gaps(run)
        frame = gaps_frame(run, gaps)
        rows = {int(r["gap_id"]): r for r in records(frame[GAP_COLUMNS])}
        grids_of = {int(g): list(c) for g, c in zip(frame["gap_id"], frame["grids"])}
        gg = grid_gaps(gaps, run.reach, run.assignment["grid_code"].to_numpy(dtype=object))
        lists = {c: [int(g) for g in ids] for c, ids in zip(gg["grid_code"], gg["gap_ids"])}
        t = run.tables["grid"]
        covered = {c: int(v) for c, v in zip(t["code"], t["covered_households"])}
        return WhatIfBase(rows, grids_of, lists, covered, int(run.reach.households.sum()))

    return run.lazy("whatif_base", make)


def added_gaps(run: Run, res) -> pd.DataFrame:
    """The planner's re-clustered gaps as served rows (work proportional to them)."""
    if res.gaps_added is None or not len(res.gaps_added):
        return pd.DataFrame({c: [] for c in [*GAP_COLUMNS, "grids"]})
    return gaps_frame(run, run_gaps(run), res.gaps_added)


def planner(run: Run, max_snap_m: float) -> Planner:
    """The run's what-if planner (with gaps and grids), built once per run."""
    gaps = run_gaps(run)
    return run.lazy("planner", lambda: Planner(run.net, run.reach, gaps=gaps, budget_s=run.params.budget_s,
                                               grid_codes=run.assignment["grid_code"].to_numpy(dtype=object),
                                               max_snap_m=max_snap_m))


def plain_planner(run: Run) -> Planner:
    """A planner without gaps or grids (for a station's exclusive households), built once per run."""
    return run.lazy("planner_plain", lambda: Planner(run.net, run.reach, budget_s=run.params.budget_s))


def site(run: Run, plan: Planner, lon: float, lat: float, field: str = "lon") -> Site:
    """The new site ``(lon, lat)`` projected and snapped once (:meth:`geo.whatif.Planner.site`), for
    ``plan.add``/``plan.move`` to use as it is.

    Raises
    ------
    ValidationFailed
        (``field``, ``distance_m``, ``max_snap_m``) when the site is farther than the planner's
        ``max_snap_m`` from every usable street and outside the areas without streets (where the
        straight-line fallback would reach it): such a station could reach nobody, and the answer
        would be a silent delta of 0.
    """
    there = plan.site(lon, lat)
    if not np.isfinite(there.xy).all():
        raise ValidationFailed("The site cannot be placed.", [Problem("lon/lat outside the map projection",
                                                                      field=field)])
    if there.snapped:
        return there
    fb = run.reach.fallback_geom
    if fb is not None and shapely.intersects(fb, shapely.Point(there.xy)):
        return there
    max_snap_m = plan.max_snap_m
    far = snap_points(run.net, there.xy[None, :], max_dist_m=FAR_M)  # only to say how far off it is
    d = float(far.dist_m[0])
    said = f"{d:,.0f} m" if np.isfinite(d) else f"more than {FAR_M / 1000:,.0f} km"
    raise ValidationFailed(
        f"The site ({lon}, {lat}) is {said} from the nearest usable street; a station must be within "
        f"{max_snap_m:g} m of one (GRIDMAP_MAX_SNAP_M) to reach anybody.",
        [Problem(f"{said} from the nearest usable street (limit {max_snap_m:g} m)", field=field)],
        distance_m=round(d, 1) if np.isfinite(d) else None, max_snap_m=max_snap_m)


#: How far the what-if looks for a street to say how far off a rejected site is, metres.
FAR_M = 100_000.0
