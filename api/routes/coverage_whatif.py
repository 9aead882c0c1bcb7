"""Coverage API: what-if planning, the effect of adding, moving or closing one station."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
import shapely
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from pyproj import Transformer

from api import deps
from api.db.coverage import CoverageService, Run, gaps_frame, records
from api.errors import ValidationFailed
from api.jurisdiction import Jurisdiction
from api.routes.coverage_gaps import run_gaps
from api.routes.coverage_params import _head, _station_index, feature_collection, params, service
from geo.errors import Problem
from geo.gaps import grid_gaps
from geo.snap import snap_points
from geo.whatif import Planner

router = APIRouter(tags=["coverage"])


# -- POST /coverage/what-if --------------------------------------------------------------------
class WhatIf(BaseModel):
    """One hypothetical change: add a station at (lon, lat), move one there, or close one."""

    action: Literal["add", "move", "close"]
    station_id: int | None = Field(None, description="The station to move or close (database id).")
    lon: float | None = Field(None, ge=-180, le=180, description="Longitude, degrees EPSG:4326 (add, move).")
    lat: float | None = Field(None, ge=-90, le=90, description="Latitude, degrees EPSG:4326 (add, move).")
    kind: str | None = Field(None, description="Kind of the added station (must be counted).")
    minutes: float | None = Field(None, gt=0, le=120)
    mode: Literal["walk", "bike", "drive"] = "walk"
    kinds: list[str] | None = None
    at: dt.date | None = None
    region: str | None = Field(None, pattern=r"^\d{6}$")


#: The columns of a gap in a grid's ``gaps_after`` list.
GAP_COLUMNS = ["gap_id", "households", "dwellings", "nearest_station", "nearest_station_name", "nearest_time_min",
               "method"]


@dataclass(frozen=True)
class _Base:
    """What every what-if answer of one run shares, built once per run (``run.lazy``): at the 500k
    city rebuilding these per request (the gap frame, ``grid_gaps``, a JSON row per gap) took
    ~35 ms of each request, against 3-7 ms for the planner itself."""

    rows: dict  # gap id -> its JSON row (GAP_COLUMNS)
    grids_of: dict  # gap id -> the grids it touches
    lists: dict  # grid code -> its gap ids before any change, largest first
    covered: dict  # grid code -> covered households
    households: int


def _whatif_base(run: Run) -> _Base:
    def make() -> _Base:
        gaps = run_gaps(run)
        frame = gaps_frame(run, gaps)
        rows = {int(r["gap_id"]): r for r in records(frame[GAP_COLUMNS])}
        grids_of = {int(g): list(c) for g, c in zip(frame["gap_id"], frame["grids"])}
        gg = grid_gaps(gaps, run.reach, run.assignment["grid_code"].to_numpy(dtype=object))
        lists = {c: [int(g) for g in ids] for c, ids in zip(gg["grid_code"], gg["gap_ids"])}
        t = run.tables["grid"]
        covered = {c: int(v) for c, v in zip(t["code"], t["covered_households"])}
        return _Base(rows, grids_of, lists, covered, int(run.reach.households.sum()))

    return run.lazy("whatif_base", make)


def _added_gaps(run: Run, res) -> pd.DataFrame:
    """The planner's re-clustered gaps as served rows (work proportional to them)."""
    if res.gaps_added is None or not len(res.gaps_added):
        return pd.DataFrame({c: [] for c in [*GAP_COLUMNS, "grids"]})
    return gaps_frame(run, run_gaps(run), res.gaps_added)


def _planner(run: Run, max_snap_m: float) -> Planner:
    gaps = run_gaps(run)
    return run.lazy("planner", lambda: Planner(run.net, run.reach, gaps=gaps, budget_s=run.params.budget_s,
                                               grid_codes=run.assignment["grid_code"].to_numpy(dtype=object),
                                               max_snap_m=max_snap_m))


def _check_site(run: Run, lon: float, lat: float, max_snap_m: float, field: str = "lon") -> None:
    """422 when a new site is farther than ``max_snap_m`` from every usable street and outside the
    areas without streets (where the straight-line fallback would reach it): such a station could
    reach nobody, and the answer would be a silent delta of 0."""
    to_metric = run.lazy("to_metric", lambda: Transformer.from_crs(4326, run.net.crs, always_xy=True))
    xy = np.array([to_metric.transform(lon, lat)], dtype=float)
    if not np.isfinite(xy).all():
        raise ValidationFailed("The site cannot be placed.", [Problem("lon/lat outside the map projection",
                                                                      field=field)])
    snap = snap_points(run.net, xy, max_dist_m=max_snap_m)
    if snap.ok[0]:
        return
    fb = run.reach.fallback_geom
    if fb is not None and shapely.intersects(fb, shapely.Point(xy[0])):
        return
    far = snap_points(run.net, xy, max_dist_m=FAR_M)
    d = float(far.dist_m[0])
    said = f"{d:,.0f} m" if np.isfinite(d) else f"more than {FAR_M / 1000:,.0f} km"
    raise ValidationFailed(
        f"The site ({lon}, {lat}) is {said} from the nearest usable street; a station must be within "
        f"{max_snap_m:g} m of one (GRIDMAP_MAX_SNAP_M) to reach anybody.",
        [Problem(f"{said} from the nearest usable street (limit {max_snap_m:g} m)", field=field)],
        distance_m=round(d, 1) if np.isfinite(d) else None, max_snap_m=max_snap_m)


#: How far the what-if looks for a street to say how far off a rejected site is, metres.
FAR_M = 100_000.0


@router.post("/coverage/what-if", summary="Effect of adding, moving or closing one station",
             description="Change in covered households and each affected grid's gap list, from one bounded "
                         "search around the station (no full recompute).")
def what_if(request: Request, body: WhatIf, scope: Jurisdiction = Depends(deps.jurisdiction),
            svc: CoverageService = Depends(service)) -> JSONResponse:
    need_point = body.action in ("add", "move")
    problems = []
    if need_point and (body.lon is None or body.lat is None):
        problems.append(Problem(f"{body.action} needs lon and lat", field="lon"))
    if body.action in ("move", "close") and body.station_id is None:
        problems.append(Problem(f"{body.action} needs station_id", field="station_id"))
    if problems:
        raise ValidationFailed("The what-if request is incomplete.", problems)
    kinds = ",".join(body.kinds) if body.kinds else None
    p = params(request, body.minutes, body.mode, kinds, body.at, body.region)
    if body.action == "add" and p.kinds and body.kind not in p.kinds:
        raise ValidationFailed("The added station would not count.",
                               [Problem(f"kind must be one of the counted kinds {list(p.kinds)}", field="kind")])
    run = svc.run(scope, p)
    planner = _planner(run, svc.max_snap_m)
    if need_point:
        _check_site(run, body.lon, body.lat, svc.max_snap_m)
    if body.action == "add":
        res = planner.add(body.lon, body.lat, station_id="new")
    else:
        _station_index(run, body.station_id)
        sid = str(body.station_id)
        res = planner.close(sid) if body.action == "close" else planner.move(sid, body.lon, body.lat)
    base = _whatif_base(run)
    added = _added_gaps(run, res)
    removed = set(int(g) for g in res.gaps_removed)
    affected = set(res.per_grid["grid_code"]) if len(res.per_grid) else set()
    for g in removed:
        affected.update(base.grids_of.get(g, ()))
    new_by_grid: dict[str, list[int]] = {}
    for g, codes in zip(added["gap_id"], added["grids"]):
        for code in codes:
            new_by_grid.setdefault(code, []).append(int(g))
    affected.update(new_by_grid)
    rows_added = {int(r["gap_id"]): r for r in records(added[GAP_COLUMNS])} if len(added) else {}

    def row(g: int) -> dict:
        return rows_added[g] if g in rows_added else base.rows[g]

    grid_rows = (dict(zip(res.per_grid["grid_code"], zip(res.per_grid["covered_before"], res.per_grid["covered_after"])))
                 if len(res.per_grid) else {})
    grids = []
    for code in sorted(affected):
        before = base.lists.get(code, [])
        gl = sorted([g for g in before if g not in removed] + new_by_grid.get(code, []),
                    key=lambda g: -row(g)["households"])
        cb, ca = (int(v) for v in grid_rows[code]) if code in grid_rows else (base.covered.get(code, 0),) * 2
        grids.append({"grid_code": code, "name": run.inputs.names.get(code), "covered_before": cb,
                      "covered_after": ca, "delta": ca - cb, "gaps_before": list(before),
                      "gaps_after": [row(g) for g in gl]})
    gaps_added = feature_collection(added)
    return JSONResponse({**_head(run), "action": body.action, "station_id": body.station_id,
                         "lon": body.lon, "lat": body.lat, "kind": body.kind, "minutes": p.minutes,
                         "households": base.households,
                         "covered_before": res.covered_before, "covered_after": res.covered_after,
                         "delta": res.delta, "changed_dwellings": int(len(res.changed)),
                         "grids": grids, "gaps_removed": sorted(int(g) for g in removed), "gaps_added": gaps_added})
