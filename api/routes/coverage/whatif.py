"""Coverage API: what-if planning, the effect of adding, moving or closing stations (one, or several together)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from api.coverage import CoverageParams, answers
from api.deps import CoverageDep, IsoDate, ScopeDep, SettingsDep
from api.limits import MAX_MINUTES, MAX_WHATIF_SITES
from api.routes.coverage.geojson import feature_collection

router = APIRouter(tags=["coverage"])


# -- POST /coverage/what-if --------------------------------------------------------------------
class WhatIfSite(BaseModel):
    """A new station's place."""

    lon: float = Field(ge=-180, le=180, description="Longitude, degrees EPSG:4326.")
    lat: float = Field(ge=-90, le=90, description="Latitude, degrees EPSG:4326.")


class WhatIf(BaseModel):
    """A hypothetical change: add a station at (lon, lat), move one there, or close one; or several
    together (``sites`` added, ``station_ids`` closed: a siting proposal checked whole)."""

    action: Literal["add", "move", "close", "change"]
    station_id: int | None = Field(None, description="The station to move or close (database id).")
    lon: float | None = Field(None, ge=-180, le=180, description="Longitude, degrees EPSG:4326 (add, move).")
    lat: float | None = Field(None, ge=-90, le=90, description="Latitude, degrees EPSG:4326 (add, move).")
    sites: list[WhatIfSite] | None = Field(None, max_length=MAX_WHATIF_SITES,
                                           description=f"Several new stations added together (add, change; at most "
                                                       f"{MAX_WHATIF_SITES}).")
    station_ids: list[int] | None = Field(None, max_length=MAX_WHATIF_SITES,
                                          description=f"Several stations closed together (close, change; at most "
                                                      f"{MAX_WHATIF_SITES}).")
    kind: str | None = Field(None, description="Kind of the added station (must be counted).")
    minutes: float | None = Field(None, gt=0, le=MAX_MINUTES,
                                  description=f"Time budget, minutes (0 < minutes ≤ {MAX_MINUTES:g}).")
    mode: Literal["walk", "bike", "drive"] = "walk"
    kinds: list[str] | None = None
    at: IsoDate | None = None
    region: str | None = Field(None, pattern=r"^\d{6}$")


@router.post("/coverage/what-if", summary="Effect of adding, moving or closing stations",
             description="Change in covered households and each affected grid's gap list, from one bounded "
                         "search around each changed station (no full recompute).  Several changes answer "
                         "together: `add` with `sites`, `close` with `station_ids`, `change` with both (a "
                         "siting proposal's `what_if` is such a question).")
def what_if(body: WhatIf, scope: ScopeDep, svc: CoverageDep, settings: SettingsDep) -> JSONResponse:
    p = CoverageParams.asked(minutes=body.minutes, default_minutes=settings.minutes, mode=body.mode,
                             kinds=body.kinds, at=body.at, region=body.region)
    out = answers.whatif_answer(svc, scope, p, body.action, station_id=body.station_id, lon=body.lon, lat=body.lat,
                                kind=body.kind, sites=[(x.lon, x.lat) for x in body.sites or []],
                                station_ids=body.station_ids)
    return JSONResponse({**out, "gaps_added": feature_collection(out["gaps_added"])})
