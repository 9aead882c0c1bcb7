"""Coordinate reference systems of the OGC API (Features Part 2: ``crs`` and ``bbox-crs``).

Stored geometries are EPSG:4326 (lon/lat).  A client may ask for its features (``crs``) and give
its ``bbox`` (``bbox-crs``) in CRS84, EPSG:4326, CGCS2000 (EPSG:4490) or any CGCS2000 3-degree
Gauss-Kruger zone (EPSG:4534-4554; EPSG:4549 is CM 120E).  Coordinates are in the CRS's axis
order, as Part 2 requires: CRS84 is lon/lat, but EPSG:4326, EPSG:4490 and the Gauss-Kruger zones
are north first (latitude / northing, then longitude / easting).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from pyproj import CRS

from api.errors import ValidationFailed
from geo.crs import GK_EPSG_CODES

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
EPSG_URI = "http://www.opengis.net/def/crs/EPSG/0/{}"
#: EPSG codes served besides CRS84: WGS 84, CGCS2000, the CGCS2000 Gauss-Kruger zones.
EPSG_CODES: tuple[int, ...] = (4326, 4490, *GK_EPSG_CODES)
#: Every CRS URI a collection lists (``crs`` of its document), CRS84 first (the default).
SUPPORTED: tuple[str, ...] = (CRS84, *(EPSG_URI.format(c) for c in EPSG_CODES))
STORAGE = CRS84


@dataclass(frozen=True)
class Crs:
    """A CRS a request named: its URI, EPSG code (4326 for CRS84) and whether the CRS's first
    axis points north (then PostGIS's x/y are swapped on the way out and in)."""

    uri: str
    srid: int
    north_first: bool

    @property
    def stored(self) -> bool:
        """Coordinates are exactly the stored ones (no transformation, no swap)."""
        return self.srid == 4326 and not self.north_first


@lru_cache(maxsize=64)
def _north_first(code: int) -> bool:
    return CRS.from_epsg(code).axis_info[0].direction.lower() in ("north", "south")


def parse(raw: str | None, param: str) -> Crs:
    """The CRS of a ``crs`` / ``bbox-crs`` value (a URI, ``[EPSG:4549]`` or ``EPSG:4549``);
    CRS84 when absent.  422 naming ``param`` for one gridmap does not serve."""
    if raw is None or raw.strip() in ("", CRS84, "[OGC:CRS84]", "OGC:CRS84", "CRS84"):
        return Crs(CRS84, 4326, False)
    text = raw.strip().strip("[]")
    code: int | None = None
    for prefix in ("http://www.opengis.net/def/crs/EPSG/0/", "https://www.opengis.net/def/crs/EPSG/0/", "EPSG:"):
        if text.upper().startswith(prefix.upper()):
            try:
                code = int(text[len(prefix):])
            except ValueError:
                code = None
    if code not in EPSG_CODES:
        raise ValidationFailed(f"{param}={raw!r} is not a CRS this server offers; it offers CRS84 and "
                               + ", ".join(f"EPSG:{c}" for c in EPSG_CODES) + f" (as {EPSG_URI.format('CODE')}).")
    return Crs(EPSG_URI.format(code), code, _north_first(code))


def geometry_sql(expr: str, crs: Crs) -> str:
    """SQL of the stored geometry ``expr`` (EPSG:4326) in ``crs``, in its axis order."""
    if crs.srid != 4326:
        expr = f"ST_Transform({expr}, {crs.srid})"
    if crs.north_first:
        expr = f"ST_FlipCoordinates({expr})"
    return expr


def bbox_to_stored(bbox: list[float], crs: Crs) -> list[float]:
    """A ``bbox`` given in ``crs`` (its axis order) as lon/lat bounds of EPSG:4326."""
    from pyproj import Transformer

    if len(bbox) == 6:
        bbox = [bbox[0], bbox[1], bbox[3], bbox[4]]
    a0, b0, a1, b1 = bbox
    if crs.north_first:  # (y, x) in the CRS's order -> x/y
        a0, b0, a1, b1 = b0, a0, b1, a1
    if crs.srid == 4326:
        return [a0, b0, a1, b1]
    tr = Transformer.from_crs(crs.srid, 4326, always_xy=True)
    return list(tr.transform_bounds(a0, b0, a1, b1, densify_pts=21))


def bbox_polygon(bbox: list[float], crs: Crs, per_side: int = 32) -> dict | None:
    """The ``bbox`` given in a projected ``crs`` as a GeoJSON polygon in lon/lat whose edges follow
    the box's straight edges in that CRS (densified, ``per_side`` points an edge: under a
    millimetre off over a county); ``None`` when the box is already a lon/lat rectangle."""
    import numpy as np
    from pyproj import Transformer

    if crs.srid == 4326:
        return None
    if len(bbox) == 6:
        bbox = [bbox[0], bbox[1], bbox[3], bbox[4]]
    a0, b0, a1, b1 = bbox
    if crs.north_first:
        a0, b0, a1, b1 = b0, a0, b1, a1
    t = np.linspace(0.0, 1.0, per_side, endpoint=False)
    xs = np.concatenate([a0 + (a1 - a0) * t, np.full(per_side, a1), a1 - (a1 - a0) * t, np.full(per_side, a0)])
    ys = np.concatenate([np.full(per_side, b0), b0 + (b1 - b0) * t, np.full(per_side, b1), b1 - (b1 - b0) * t])
    lon, lat = Transformer.from_crs(crs.srid, 4326, always_xy=True).transform(xs, ys)
    ring = [[float(x), float(y)] for x, y in zip(lon, lat)]
    return {"type": "Polygon", "coordinates": [ring + [ring[0]]]}
