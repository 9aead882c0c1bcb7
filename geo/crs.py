"""Choosing the projected CRS that metric work (metres, square metres, buffers) runs in.

gridmap stores EPSG:4326 (lon/lat).  Distances, areas and buffers are computed in a projected
CRS chosen for the data: inside China, the CGCS2000 3-degree Gauss-Kruger zone whose central
meridian is nearest (EPSG:4534-4554, no false-easting zone prefix: EPSG:4549 is CM 120E); elsewhere
the WGS84 UTM zone.  Both keep scale error well under 0.1% within a county.
"""

from __future__ import annotations

import math
from functools import lru_cache

import geopandas as gpd
from pyproj import CRS, Transformer

WGS84 = CRS.from_epsg(4326)

# CGCS2000 / 3-degree Gauss-Kruger CM 75E .. CM 135E  ->  EPSG:4534 .. EPSG:4554
_GK_FIRST_EPSG, _GK_FIRST_CM, _GK_LAST_CM = 4534, 75, 135
#: EPSG codes of every CGCS2000 3-degree Gauss-Kruger zone (CM 75E .. 135E, no zone prefix).
GK_EPSG_CODES: tuple[int, ...] = tuple(range(_GK_FIRST_EPSG, _GK_FIRST_EPSG + (_GK_LAST_CM - _GK_FIRST_CM) // 3 + 1))


def in_china(lon: float, lat: float) -> bool:
    """Rough bounding box of China's territory (used only to pick a CRS family)."""
    return 73.0 <= lon <= 135.5 and 17.0 <= lat <= 54.0


def metric_crs(lon: float, lat: float) -> CRS:
    """Projected CRS for work around ``(lon, lat)`` (degrees, EPSG:4326).

    Returns
    -------
    pyproj.CRS
        CGCS2000 3-degree Gauss-Kruger (metres) inside China, WGS84 / UTM (metres) elsewhere.
    """
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise ValueError(f"({lon}, {lat}) is not a longitude/latitude pair")
    if in_china(lon, lat):
        cm = min(max(3 * round(lon / 3), _GK_FIRST_CM), _GK_LAST_CM)
        return CRS.from_epsg(_GK_FIRST_EPSG + (cm - _GK_FIRST_CM) // 3)
    zone = int(math.floor((lon + 180) / 6)) % 60 + 1
    return CRS.from_epsg((32600 if lat >= 0 else 32700) + zone)


def metric_crs_for(frame: gpd.GeoDataFrame | gpd.GeoSeries) -> CRS:
    """Projected CRS for a frame in EPSG:4326, chosen at the centre of its bounds."""
    if frame.crs is None or not CRS(frame.crs).equals(WGS84):
        frame = frame.to_crs(WGS84)
    minx, miny, maxx, maxy = frame.total_bounds
    if not all(map(math.isfinite, (minx, miny, maxx, maxy))):
        raise ValueError("cannot choose a metric CRS for an empty frame")
    return metric_crs((minx + maxx) / 2, (miny + maxy) / 2)


def to_metric(frame: gpd.GeoDataFrame, crs: CRS | None = None) -> gpd.GeoDataFrame:
    """``frame`` reprojected to ``crs`` (default: :func:`metric_crs_for` the frame)."""
    return frame.to_crs(crs or metric_crs_for(frame))


@lru_cache(maxsize=32)
def transformer(src: CRS, dst: CRS) -> Transformer:
    """A cached ``always_xy`` transformer from ``src`` to ``dst``.

    Built once from the operation ``Transformer.from_crs`` chooses, then kept as that fixed pipeline:
    the same coordinates, but a pipeline is cheap to set up again in each new thread (pyproj makes
    one per thread), where ``from_crs`` searches the operations again (~80-140 ms for EPSG:4547).
    """
    return Transformer.from_pipeline(Transformer.from_crs(CRS(src), CRS(dst), always_xy=True).definition)
