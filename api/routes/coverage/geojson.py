"""How the coverage routes write GeoJSON: coordinates rounded (and repaired), feature collections.

No routes here (no ``router``); the answers themselves are :mod:`api.coverage.answers`.
"""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import shapely
from fastapi.responses import JSONResponse

GEOJSON = "application/geo+json"


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


def geojson_response(frame, extra: dict) -> JSONResponse:
    """``frame`` as a FeatureCollection with the answer's other members ``extra``, ``application/geo+json``."""
    return JSONResponse({**feature_collection(frame), **extra}, media_type=GEOJSON)


def features_response(body: dict) -> JSONResponse:
    """A FeatureCollection dict whose features' geometries are still shapely (EPSG:4326): each
    written through :func:`geojson_geometries`."""
    geoms = geojson_geometries([f["geometry"] for f in body["features"]])
    features = [{**f, "geometry": g} for f, g in zip(body["features"], geoms)]
    return JSONResponse({**body, "features": features}, media_type=GEOJSON)
