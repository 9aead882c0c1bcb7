"""Coverage API: what-if planning, the effect of adding, moving or closing one station."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from api import deps
from api.db.coverage import CoverageService, records
from api.db.coverage_whatif import GAP_COLUMNS, added_gaps, check_site, planner, whatif_base
from api.errors import ValidationFailed
from api.jurisdiction import Jurisdiction
from api.routes.coverage_params import _head, _station_index, feature_collection, params, service
from geo.errors import Problem

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
    plan = planner(run, svc.max_snap_m)
    if need_point:
        check_site(run, body.lon, body.lat, svc.max_snap_m)
    if body.action == "add":
        res = plan.add(body.lon, body.lat, station_id="new")
    else:
        _station_index(run, body.station_id)
        sid = str(body.station_id)
        res = plan.close(sid) if body.action == "close" else plan.move(sid, body.lon, body.lat)
    base = whatif_base(run)
    added = added_gaps(run, res)
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
