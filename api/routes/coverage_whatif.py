"""Coverage API: what-if planning, the effect of adding, moving or closing one station."""

from __future__ import annotations

import datetime as dt
from typing import Literal

import pandas as pd
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from api import deps
from api.db.coverage import CoverageService, Run, gaps_frame, records
from api.errors import ValidationFailed
from api.jurisdiction import Jurisdiction
from api.routes.coverage_gaps import run_gaps
from api.routes.coverage_params import _head, _station_index, feature_collection, params, service
from geo.errors import Problem
from geo.gaps import grid_gaps
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


def _planner(run: Run) -> Planner:
    gaps = run_gaps(run)
    return run.lazy("planner", lambda: Planner(run.net, run.reach, gaps=gaps, budget_s=run.params.budget_s,
                                               grid_codes=run.assignment["grid_code"].to_numpy(dtype=object)))


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
    planner = _planner(run)
    if body.action == "add":
        res = planner.add(body.lon, body.lat, station_id="new")
    else:
        _station_index(run, body.station_id)
        sid = str(body.station_id)
        res = planner.close(sid) if body.action == "close" else planner.move(sid, body.lon, body.lat)
    gaps = run_gaps(run)
    base = gaps_frame(run, gaps)
    added = gaps_frame(run, gaps, res.gaps_added) if res.gaps_added is not None and len(res.gaps_added) else base.iloc[:0]
    removed = set(res.gaps_removed)
    cols = ["gap_id", "households", "dwellings", "nearest_station", "nearest_station_name", "nearest_time_min",
            "method"]
    before = grid_gaps(gaps, run.reach, run.assignment["grid_code"].to_numpy(dtype=object))
    lists = {c: list(ids) for c, ids in zip(before["grid_code"], before["gap_ids"])}
    affected = set(res.per_grid["grid_code"]) if len(res.per_grid) else set()
    for _, r in base[base["gap_id"].isin(removed)].iterrows():
        affected |= set(r["grids"])
    for _, r in added.iterrows():
        affected |= set(r["grids"])
    rows_by_id = {int(r["gap_id"]): r for r in records(pd.concat([base[cols], added[cols]]))}
    grid_rows = res.per_grid.set_index("grid_code") if len(res.per_grid) else None
    grids = []
    for code in sorted(affected):
        keep = [g for g in lists.get(code, []) if g not in removed]
        new = [int(r["gap_id"]) for _, r in added.iterrows() if code in r["grids"]]
        gl = sorted(keep + new, key=lambda g: -rows_by_id[g]["households"])
        if grid_rows is not None and code in grid_rows.index:
            cb, ca = int(grid_rows.loc[code, "covered_before"]), int(grid_rows.loc[code, "covered_after"])
        else:
            cb = ca = int(run.tables["grid"].set_index("code")["covered_households"].get(code, 0))
        grids.append({"grid_code": code, "name": run.inputs.names.get(code), "covered_before": cb,
                      "covered_after": ca, "delta": ca - cb, "gaps_before": lists.get(code, []),
                      "gaps_after": [rows_by_id[g] for g in gl]})
    gaps_added = feature_collection(added)
    return JSONResponse({**_head(run), "action": body.action, "station_id": body.station_id,
                         "lon": body.lon, "lat": body.lat, "kind": body.kind, "minutes": p.minutes,
                         "households": int(run.reach.households.sum()),
                         "covered_before": res.covered_before, "covered_after": res.covered_after,
                         "delta": res.delta, "changed_dwellings": int(len(res.changed)),
                         "grids": grids, "gaps_removed": sorted(int(g) for g in removed), "gaps_added": gaps_added})
