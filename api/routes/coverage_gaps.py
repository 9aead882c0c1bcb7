"""Coverage API: coverage gaps, the uncovered households clustered into ranked gap polygons."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from api import deps
from api.db.coverage import CoverageService, gaps_frame
from api.db.coverage_whatif import run_gaps
from api.errors import NotFound
from api.jurisdiction import Jurisdiction
from api.routes.coverage_params import (_AT, _KINDS, _MINUTES, _MODE, _REGION, _feature_collection, _head, params,
                                        service)
from geo.gaps import grid_gaps

router = APIRouter(tags=["coverage"])


# -- GET /coverage/gaps ------------------------------------------------------------------------
@router.get("/coverage/gaps", summary="Coverage gaps: uncovered households clustered, ranked",
            description="GeoJSON gap polygons with household counts, the nearest station and its time, ranked "
                        "by households; `grid=CODE` gives one grid's gap list.")
def coverage_gaps(request: Request, minutes: float | None = _MINUTES, mode: str = _MODE,
                  grid: str | None = Query(None, description="Only this grid's gaps."),
                  link_m: float = Query(100.0, gt=0, le=2000, description="Linking distance, metres."),
                  limit: int = Query(1000, ge=1, le=100_000), kinds: str | None = _KINDS,
                  at: dt.date | None = _AT, region: str | None = _REGION,
                  scope: Jurisdiction = Depends(deps.jurisdiction), svc: CoverageService = Depends(service)
                  ) -> JSONResponse:
    run = svc.run(scope, params(request, minutes, mode, kinds, at, region))
    gaps = run_gaps(run, link_m)
    frame = gaps_frame(run, gaps)
    extra = {**_head(run), "total_gaps": int(len(frame)),
             "uncovered_households": int(frame["households"].sum()) if len(frame) else 0}
    if grid is not None:
        gg = grid_gaps(gaps, run.reach, run.assignment["grid_code"].to_numpy(dtype=object))
        row = gg[gg["grid_code"] == grid]
        if grid not in set(run.inputs.grids["code"]):
            raise NotFound(f"no grid {grid!r} in your jurisdiction")
        ids = list(row["gap_ids"].iloc[0]) if len(row) else []
        frame = frame.set_index("gap_id").loc[ids].reset_index() if ids else frame.iloc[:0]
        extra["grid"] = {"code": grid, "name": run.inputs.names.get(grid),
                         "uncovered_households": int(row["uncovered_households"].iloc[0]) if len(row) else 0,
                         "uncovered_dwellings": int(row["uncovered_dwellings"].iloc[0]) if len(row) else 0,
                         "gap_ids": [int(i) for i in ids]}
    return _feature_collection(frame.head(limit), extra)
