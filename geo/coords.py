"""GCJ-02 and BD-09 (Chinese web-map coordinates) to and from WGS84, vectorised with numpy.

Chinese web maps publish obfuscated coordinates: GCJ-02 ("Mars coordinates": AMap/Gaode,
Tencent, Google China) and BD-09 (Baidu, a further offset of GCJ-02).  Data digitised on them
sits 100-700 m away from WGS84.  PROJ/pyproj know neither, so gridmap converts here.

Every function takes longitude and latitude arrays (degrees; lon/lat order, like GeoJSON) of
the same shape and returns a ``(lon, lat)`` pair of float64 arrays of that shape.  Outside the
rough bounding box of China the obfuscation is not applied (the standard algorithm's rule), so
the GCJ-02 transforms are the identity there; BD-09 keeps its own offset everywhere.

The forward transform WGS84 -> GCJ-02 is the published formula (Krasovsky 1940 ellipsoid
constants).  Its inverse has no closed form: the usual one-step approximation is off by up to a
few metres, so :func:`gcj02_to_wgs84` iterates the forward transform to a fixed point (below a
millimetre after three iterations; it runs until the residual is below 1e-10 degrees, about
0.01 mm, or 10 iterations).
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "out_of_china",
    "wgs84_to_gcj02",
    "gcj02_to_wgs84",
    "gcj02_to_bd09",
    "bd09_to_gcj02",
    "wgs84_to_bd09",
    "bd09_to_wgs84",
    "convert",
    "SYSTEMS",
]

#: Coordinate systems an import may be in.
SYSTEMS: tuple[str, ...] = ("wgs84", "gcj02", "bd09")

_A = 6378245.0  # semi-major axis of the Krasovsky 1940 ellipsoid used by GCJ-02, metres
_EE = 0.00669342162296594323  # its first eccentricity squared
_X_PI = np.pi * 3000.0 / 180.0
_TOL_DEG = 1e-10
_MAX_ITER = 10


def _arrays(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    lon = np.asarray(lon, dtype=np.float64)
    lat = np.asarray(lat, dtype=np.float64)
    if lon.shape != lat.shape:
        raise ValueError(f"lon and lat have different shapes: {lon.shape} and {lat.shape}")
    return lon, lat


def out_of_china(lon, lat) -> np.ndarray:
    """Boolean array: where the GCJ-02 obfuscation does not apply (outside China's bounding box).

    The box is 72.004-137.8347 E, 0.8293-55.8271 N, as in the widely used reference
    implementations (``eviltransform``); other implementations use a slightly tighter box
    (``coordTransform``: 73.66-135.05 E, 3.86-53.55 N), so results differ only at the edges of
    the box, far from any Chinese settlement near them.

    Parameters
    ----------
    lon, lat : array_like
        Degrees, any shape (the same for both).
    """
    lon, lat = _arrays(lon, lat)
    return (lon < 72.004) | (lon > 137.8347) | (lat < 0.8293) | (lat > 55.8271)


def _offset(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """GCJ-02 minus WGS84 at WGS84 point ``(lon, lat)``, degrees (zero outside China)."""
    x = lon - 105.0
    y = lat - 35.0
    sq = np.sqrt(np.abs(x))
    common = (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    dlat = (
        -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * sq
        + common
        + (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
        + (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    )
    dlon = (
        300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * sq
        + common
        + (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
        + (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    )
    rad = lat / 180.0 * np.pi
    magic = 1.0 - _EE * np.sin(rad) ** 2
    sqrt_magic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrt_magic) * np.pi)
    dlon = (dlon * 180.0) / (_A / sqrt_magic * np.cos(rad) * np.pi)
    outside = out_of_china(lon, lat)
    return np.where(outside, 0.0, dlon), np.where(outside, 0.0, dlat)


def wgs84_to_gcj02(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """WGS84 -> GCJ-02 (degrees, lon/lat order); identity outside China."""
    lon, lat = _arrays(lon, lat)
    dlon, dlat = _offset(lon, lat)
    return lon + dlon, lat + dlat


def gcj02_to_wgs84(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """GCJ-02 -> WGS84 (degrees, lon/lat order) by fixed-point iteration of the forward transform.

    Starting from the GCJ-02 point, each step moves the estimate by the remaining error
    ``target - wgs84_to_gcj02(estimate)``.  The error shrinks by about 1e-5 a step, so three
    steps reach well under a millimetre; it stops at 1e-10 degrees or after 10 steps.
    Points outside China come back unchanged.
    """
    glon, glat = _arrays(lon, lat)
    wlon, wlat = glon.copy(), glat.copy()
    for _ in range(_MAX_ITER):
        flon, flat = wgs84_to_gcj02(wlon, wlat)
        elon, elat = glon - flon, glat - flat
        wlon = wlon + elon
        wlat = wlat + elat
        if not elon.size or max(np.nanmax(np.abs(elon)), np.nanmax(np.abs(elat))) < _TOL_DEG:
            break
    outside = out_of_china(glon, glat)
    return np.where(outside, glon, wlon), np.where(outside, glat, wlat)


def gcj02_to_bd09(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """GCJ-02 -> BD-09 (degrees, lon/lat order): Baidu's published transform."""
    lon, lat = _arrays(lon, lat)
    z = np.sqrt(lon * lon + lat * lat) + 0.00002 * np.sin(lat * _X_PI)
    theta = np.arctan2(lat, lon) + 0.000003 * np.cos(lon * _X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def bd09_to_gcj02(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """BD-09 -> GCJ-02 (degrees, lon/lat order).

    The usual closed-form inverse, refined by fixed-point iteration of :func:`gcj02_to_bd09`
    so that converting back reproduces the BD-09 input to 1e-10 degrees.
    """
    blon, blat = _arrays(lon, lat)
    x, y = blon - 0.0065, blat - 0.006
    z = np.sqrt(x * x + y * y) - 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _X_PI)
    glon, glat = z * np.cos(theta), z * np.sin(theta)
    for _ in range(_MAX_ITER):
        flon, flat = gcj02_to_bd09(glon, glat)
        elon, elat = blon - flon, blat - flat
        glon, glat = glon + elon, glat + elat
        if not elon.size or max(np.nanmax(np.abs(elon)), np.nanmax(np.abs(elat))) < _TOL_DEG:
            break
    return glon, glat


def wgs84_to_bd09(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """WGS84 -> BD-09 (degrees, lon/lat order), through GCJ-02."""
    return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


def bd09_to_wgs84(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """BD-09 -> WGS84 (degrees, lon/lat order), through GCJ-02."""
    return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))


_TO_WGS84 = {"gcj02": gcj02_to_wgs84, "bd09": bd09_to_wgs84}
_FROM_WGS84 = {"gcj02": wgs84_to_gcj02, "bd09": wgs84_to_bd09}


def convert(lon, lat, source: str, target: str = "wgs84") -> tuple[np.ndarray, np.ndarray]:
    """Convert between any two of :data:`SYSTEMS` (``"wgs84"``, ``"gcj02"``, ``"bd09"``).

    Raises
    ------
    ValueError
        For a system name not in :data:`SYSTEMS`.
    """
    for s in (source, target):
        if s not in SYSTEMS:
            raise ValueError(f"unknown coordinate system {s!r}; use one of {', '.join(SYSTEMS)}")
    lon, lat = _arrays(lon, lat)
    if source != "wgs84":
        lon, lat = _TO_WGS84[source](lon, lat)
    if target != "wgs84":
        lon, lat = _FROM_WGS84[target](lon, lat)
    return np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)
