"""Coverage API: coverage gaps, the uncovered households clustered into ranked gap polygons."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from api.coverage import answers
from api.deps import CoverageDep, CoverageQuery, ScopeDep, SettingsDep
from api.limits import GAPS_DEFAULT, LINK_DEFAULT_M, MAX_GAPS, MAX_LINK_M
from api.routes.coverage.geojson import geojson_response

router = APIRouter(tags=["coverage"])


# -- GET /coverage/gaps ------------------------------------------------------------------------
@router.get("/coverage/gaps", summary="Coverage gaps: uncovered households clustered, ranked",
            description="GeoJSON gap polygons with household counts, the nearest station and its time, ranked "
                        "by households; `grid=CODE` gives one grid's gap list.  `format=xlsx` or `csv`: the "
                        "table (a point inside each gap as lon/lat), headers in the request's language.")
def coverage_gaps(request: Request, params: CoverageQuery, scope: ScopeDep, svc: CoverageDep, settings: SettingsDep,
                  grid: str | None = Query(None, description="Only this grid's gaps."),
                  link_m: float = Query(LINK_DEFAULT_M, gt=0, le=MAX_LINK_M,
                                        description=f"Linking distance, metres (0 < link_m ≤ {MAX_LINK_M:g})."),
                  limit: int = Query(GAPS_DEFAULT, ge=1, le=MAX_GAPS,
                                     description=f"Most gaps returned (1-{MAX_GAPS:,}), largest first."),
                  format: Literal["geojson", "xlsx", "csv"] = "geojson",
                  ) -> Response:
    frame, extra = answers.gaps(svc.run(scope, svc.implied(scope, params, grid)), link_m, grid)
    if format != "geojson":
        from api import i18n
        from api.sheets import table_response

        return table_response(frame.head(limit), format, "coverage-gaps",
                              lang=i18n.request_lang(request, settings.language), tz=settings.timezone)
    return geojson_response(frame.head(limit), extra)
