"""What the coverage routes share: query parameters, the service dependency, response helpers.

No routes here (no ``router``): the routes are in ``api/routes/coverage*.py``.
"""

from __future__ import annotations

import datetime as dt
import json

import geopandas as gpd
import numpy as np
import shapely
from fastapi import Query, Request
from fastapi.responses import JSONResponse

from api.db.coverage import CoverageParams, CoverageService, Run, service_for
from api.errors import Conflict, NotFound, ValidationFailed
from geo.errors import Problem
from geo.service_area import MAX_BREAKS

GEOJSON = "application/geo+json"

_MINUTES = Query(None, gt=0, le=120, description="Time budget, minutes (default the setting, 8).")
_MODE = Query("walk", pattern="^(walk|bike|drive)$", description="Travel mode.")
_KINDS = Query(None, description="Station kinds that count, comma-separated (default all).")
_AT = Query(None, description="Count stations open on this date (default today).")
_REGION = Query(None, pattern=r"^\d{6}$", description="One county (6-digit code); default all in scope.")
_BREAKS = Query(None, description=f"Up to {MAX_BREAKS} budgets in minutes, comma-separated, e.g. 5,8,15.")


def service(request: Request) -> CoverageService:
    return service_for(request.app.state.engine, request.app.state.settings)


def _kinds(raw: str | None) -> tuple[str, ...] | None:
    if raw is None or not raw.strip():
        return None
    kinds = tuple(sorted({k.strip() for k in raw.split(",") if k.strip()}))
    return kinds or None


def parse_breaks(raw: str | None, minutes: float) -> tuple[float, ...]:
    """Budgets in minutes, ascending; ``minutes`` alone when none are given.  422 when malformed."""
    if raw is None or not raw.strip():
        return (float(minutes),)
    try:
        vals = sorted({float(x) for x in raw.split(",") if x.strip()})
    except ValueError:
        vals = []
    if not 1 <= len(vals) <= MAX_BREAKS or vals[0] <= 0 or vals[-1] > 120 or not all(np.isfinite(vals)):
        raise ValidationFailed(f"breaks must be 1 to {MAX_BREAKS} positive minutes up to 120, e.g. 5,8,15",
                               [Problem("invalid breaks", field="breaks")])
    return tuple(vals)


def params(request: Request, minutes: float | None, mode: str, kinds: str | None, at: dt.date | None,
           region: str | None, limit_minutes: float | None = None) -> CoverageParams:
    m = float(minutes if minutes is not None else request.app.state.settings.minutes)
    lim = None if limit_minutes is None or limit_minutes <= m else float(limit_minutes)
    return CoverageParams(minutes=m, mode=mode, kinds=_kinds(kinds), at=at or dt.date.today(), region=region,
                          limit_minutes=lim)


def _head(run: Run) -> dict:
    return {"run_id": run.run_id, "params": run.params.as_dict(), "data_versions": run.versions,
            "fallback": run.fallback()}


#: Decimals of every lon/lat the coverage routes return: 1e-6 degree is 0.11 m of latitude (less of
#: longitude), far below the 10 m drawing grid, and it halves the bytes of a coordinate.
COORD_DECIMALS = 6


def _round(coords: np.ndarray) -> np.ndarray:
    return np.round(coords, COORD_DECIMALS)


def rounded(geoms) -> np.ndarray:
    """EPSG:4326 geometries with coordinates rounded to :data:`COORD_DECIMALS` decimals of a degree.

    Rounding moves each vertex by at most 0.06 m, which can make a valid polygon invalid (a hole
    touching its shell at two points, a narrow neck crossing itself); those are repaired with
    ``make_valid(method="structure")`` and rounded again (kept unrounded in the rare case the second
    rounding breaks them again).  Missing geometries stay missing.
    """
    g = np.asarray(geoms, dtype=object)
    out = shapely.transform(g, _round)
    bad = ~shapely.is_valid(out) & ~shapely.is_missing(out)
    if bad.any():
        fixed = shapely.make_valid(out[bad], method="structure", keep_collapsed=False)
        again = shapely.transform(fixed, _round)
        out[bad] = np.where(shapely.is_valid(again), again, fixed)
    return out


def geojson_geometries(geoms) -> list[dict | None]:
    """GeoJSON geometry objects of EPSG:4326 geometries, :func:`rounded`; ``None`` for missing or
    empty ones (as ``GeoDataFrame.to_json`` writes them).  The one place the coverage routes turn
    geometry into GeoJSON."""
    r = rounded(geoms)
    text = shapely.to_geojson(r)
    skip = shapely.is_missing(r) | shapely.is_empty(r)
    return [None if s else json.loads(t) for t, s in zip(text, skip)]


def feature_collection(frame: gpd.GeoDataFrame) -> dict:
    """A frame as a GeoJSON FeatureCollection dict: properties as ``to_json(drop_id=True, na="null")``
    writes them, geometry through :func:`geojson_geometries` (EPSG:4326, rounded)."""
    if not len(frame):
        return {"type": "FeatureCollection", "features": []}
    if frame.crs is not None and not frame.crs.equals("EPSG:4326"):
        frame = frame.to_crs(4326)
    geoms = geojson_geometries(frame.geometry.values)
    props = gpd.GeoDataFrame(frame.drop(columns=frame.geometry.name), geometry=[None] * len(frame))
    fc = props.to_geo_dict(na="null", drop_id=True)
    for f, g in zip(fc["features"], geoms):
        f["geometry"] = g
    return fc


def _feature_collection(frame, extra: dict) -> JSONResponse:
    return JSONResponse({**feature_collection(frame), **extra}, media_type=GEOJSON)



def _station_index(run: Run, station_id: int) -> int:
    ids = run.inputs.stations["id"].to_numpy()
    if station_id not in set(ids.tolist()):
        raise NotFound(f"no station {station_id} in your jurisdiction")
    where = np.flatnonzero(run.reach.station_ids == str(station_id))
    if where.size == 0:
        raise Conflict(f"station {station_id} does not count under these parameters (closed on that date "
                       "or of another kind)")
    return int(where[0])
