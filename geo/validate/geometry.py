"""Geometry checks for imported layers: presence, type, coordinate range, swapped axes, validity.

Part of :mod:`geo.validate`, used by :func:`geo.validate.validate_frame`; everything is vectorised with shapely 2.  Input
geometries are EPSG:4326 longitude/latitude (degrees).  Each check returns problems for the
failing rows only, so a clean 500,000-row layer costs a few array passes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import shapely
from shapely import GeometryType

from geo.errors import Problem

__all__ = ["GeometryResult", "check_geometries", "CHINA_LON", "CHINA_LAT", "MAX_VERTICES", "MIN_POLYGON_M2"]

#: Most vertices one feature may have.  A community grid drawn by hand or traced from a cadastre
#: has hundreds to a few thousand; validity and overlap checks cost grows with the count (a
#: 1.5-million-vertex polygon took 18 s and 0.6 GB before anything was written).
MAX_VERTICES = 100_000

#: Smallest area a polygon may have, square metres (a 10 cm square).  A ring whose vertices lie on
#: one line or repeat one point is a valid geometry to GEOS but encloses nothing: no grid.
MIN_POLYGON_M2 = 0.01

#: Longitude / latitude span of China used to recognise swapped axes (degrees).
CHINA_LON = (73.0, 135.0)
CHINA_LAT = (17.0, 54.0)

_POLYGONAL = (GeometryType.POLYGON, GeometryType.MULTIPOLYGON)
_TYPE_NAMES = {0: "Point", 1: "LineString", 2: "LinearRing", 3: "Polygon", 4: "MultiPoint",
               5: "MultiLineString", 6: "MultiPolygon", 7: "GeometryCollection"}


@dataclass
class GeometryResult:
    """Outcome of :func:`check_geometries`.

    Attributes
    ----------
    geometries : numpy.ndarray
        Cleaned geometries (2-D, MultiPolygon / Point / LineString as the layer wants; repaired
        where ``fix`` was asked), object array aligned with the input.
    problems : list of Problem
        Faults that stop the import.
    fixes : list of Problem
        What ``fix=True`` repaired, one entry per repaired feature (reason says what changed).
    """

    geometries: np.ndarray
    problems: list[Problem] = field(default_factory=list)
    fixes: list[Problem] = field(default_factory=list)


def _fmt(v: float) -> str:
    return f"{v:.6f}".rstrip("0").rstrip(".")


def _problems(mask: np.ndarray, rows: np.ndarray, ids: np.ndarray, reasons) -> list[Problem]:
    idx = np.flatnonzero(mask)
    if callable(reasons):
        return [Problem(reasons(i), row=int(rows[i]), field="geometry", feature_id=ids[i]) for i in idx]
    return [Problem(reasons, row=int(rows[i]), field="geometry", feature_id=ids[i]) for i in idx]


def _polygonal_part(geom) -> shapely.Geometry | None:
    """The polygons inside ``geom`` (e.g. a make_valid GeometryCollection) as one MultiPolygon."""
    parts = shapely.get_parts(geom)
    polys = [p for p in parts if shapely.get_type_id(p) in (GeometryType.POLYGON, GeometryType.MULTIPOLYGON)]
    polys = [q for p in polys for q in shapely.get_parts(p)]
    if not polys:
        return None
    return shapely.multipolygons(polys)


def _location(reason: str) -> str:
    # "Self-intersection[120.1 31.2]" -> "Self-intersection at (120.1, 31.2)"
    if "[" in reason and reason.endswith("]"):
        what, _, xy = reason[:-1].partition("[")
        parts = xy.split()
        if len(parts) >= 2:
            try:
                return f"{what} at lon/lat ({_fmt(float(parts[0]))}, {_fmt(float(parts[1]))})"
            except ValueError:
                pass
    return reason


def check_geometries(
    kind: str, geoms: np.ndarray, rows: np.ndarray, ids: np.ndarray, *, fix: bool = False
) -> GeometryResult:
    """Check and normalise one layer's geometries.

    Parameters
    ----------
    kind : {"MultiPolygon", "Point", "LineString"}
        The layer's geometry type (``geo.layers.Layer.geometry``).
    geoms : numpy.ndarray
        Shapely geometries (or None) in EPSG:4326, degrees.
    rows : numpy.ndarray
        1-based row number of each geometry in the input, for the problems.
    ids : numpy.ndarray
        Feature id (str or None) of each geometry, for the problems.
    fix : bool
        Repair invalid polygons with ``shapely.make_valid``, keeping only the polygonal part.

    Returns
    -------
    GeometryResult
    """
    geoms = np.asarray(geoms, dtype=object).copy()
    n = len(geoms)
    problems: list[Problem] = []
    fixes: list[Problem] = []

    missing = shapely.is_missing(geoms)
    geoms[missing] = None
    empty = missing | shapely.is_empty(geoms)
    problems += _problems(empty, rows, ids, "the geometry is empty or missing")
    nverts = np.zeros(n, dtype=np.int64)
    nverts[~empty] = shapely.get_num_coordinates(geoms[~empty])
    huge = nverts > MAX_VERTICES
    for i in np.flatnonzero(huge):
        problems.append(Problem(f"the geometry has {nverts[i]:,} vertices; at most {MAX_VERTICES:,} are allowed "
                                "(simplify it first, e.g. to 1 m)", row=int(rows[i]), field="geometry",
                                feature_id=ids[i]))
    geoms[huge] = None
    empty = empty | huge
    ok = ~empty

    geoms[ok] = shapely.force_2d(geoms[ok])
    types = np.full(n, -1)
    types[ok] = shapely.get_type_id(geoms[ok])
    nparts = np.zeros(n, dtype=int)
    nparts[ok] = shapely.get_num_geometries(geoms[ok])
    if kind == "MultiPolygon":
        good_type = np.isin(types, [t.value for t in _POLYGONAL])
        want = "a Polygon or MultiPolygon"
    elif kind == "Point":
        good_type = (types == GeometryType.POINT) | ((types == GeometryType.MULTIPOINT) & (nparts == 1))
        want = "a Point"
    elif kind == "LineString":
        merged = geoms.copy()
        multi = ok & (types == GeometryType.MULTILINESTRING)
        if multi.any():
            merged[multi] = shapely.line_merge(geoms[multi])
            single = multi & (shapely.get_type_id(merged) == GeometryType.LINESTRING)
            geoms[single] = merged[single]
            types[single] = GeometryType.LINESTRING
        good_type = types == GeometryType.LINESTRING
        want = "a LineString (a MultiLineString whose parts do not join end to end must be split)"
    else:  # pragma: no cover - layers.py defines only these
        raise ValueError(f"unknown geometry kind {kind!r}")
    bad_type = ok & ~good_type
    problems += _problems(
        bad_type, rows, ids,
        lambda i: f"the geometry is a {_TYPE_NAMES.get(int(types[i]), 'geometry')}"
                  f"{f' of {nparts[i]} parts' if nparts[i] > 1 else ''}; this layer needs {want}",
    )
    ok &= good_type
    if kind == "Point":
        mp = ok & (types == GeometryType.MULTIPOINT)
        geoms[mp] = shapely.get_geometry(geoms[mp], 0)

    # coordinate range and swapped axes
    b = np.full((n, 4), np.nan)
    b[ok] = shapely.bounds(geoms[ok])
    minx, miny, maxx, maxy = b.T
    with np.errstate(invalid="ignore"):
        finite = np.isfinite(b).all(axis=1)
        nonfinite = ok & ~finite
        problems += _problems(nonfinite, rows, ids, "the coordinates are not finite numbers")
        ok &= finite
        china_swap = ok & (minx >= CHINA_LAT[0]) & (maxx <= CHINA_LAT[1]) & (miny >= CHINA_LON[0]) & (maxy <= CHINA_LON[1])
        lat_bad = ok & ~china_swap & ((miny < -90) | (maxy > 90))
        lon_bad = ok & ~china_swap & ((minx < -180) | (maxx > 180))
        swap_hint = lat_bad & ~lon_bad & (minx >= -90) & (maxx <= 90) & (miny >= -180) & (maxy <= 180)

    def _lat(i):
        v = maxy[i] if maxy[i] > 90 else miny[i]
        tail = "; lon/lat look swapped" if swap_hint[i] else " (must be within -90..90)"
        return f"latitude {_fmt(v)} is out of range{tail}"

    def _lon(i):
        v = maxx[i] if maxx[i] > 180 else minx[i]
        return (f"longitude {_fmt(v)} is out of range (must be within -180..180); projected coordinates? "
                "pass --crs with the file's CRS")

    problems += _problems(
        china_swap, rows, ids,
        lambda i: f"longitude {_fmt(minx[i])} with latitude {_fmt(miny[i])}: lon/lat look swapped "
                  f"(China lies at longitude {CHINA_LON[0]:g}-{CHINA_LON[1]:g}, latitude "
                  f"{CHINA_LAT[0]:g}-{CHINA_LAT[1]:g}); swap the columns (--lon/--lat) or the axes",
    )
    problems += _problems(lat_bad, rows, ids, _lat)
    problems += _problems(lon_bad & ~lat_bad, rows, ids, _lon)
    ok &= ~(china_swap | lat_bad | lon_bad)

    # validity
    check = ok & (types != GeometryType.POINT)
    valid = np.ones(n, dtype=bool)
    valid[check] = shapely.is_valid(geoms[check])
    invalid = np.flatnonzero(check & ~valid)
    if len(invalid):
        reasons = shapely.is_valid_reason(geoms[invalid])
        if fix and kind == "MultiPolygon":
            repaired = shapely.make_valid(geoms[invalid])
            for j, i in enumerate(invalid):
                poly = _polygonal_part(repaired[j])
                where = _location(str(reasons[j]))
                if poly is None or poly.is_empty:
                    problems.append(Problem(f"invalid polygon ({where}); make_valid left no polygonal part",
                                            row=int(rows[i]), field="geometry", feature_id=ids[i]))
                    continue
                geoms[i] = poly
                lat = (shapely.bounds(poly)[1] + shapely.bounds(poly)[3]) / 2
                m2 = shapely.area(poly) * (111_320.0 ** 2) * np.cos(np.radians(lat))
                fixes.append(Problem(
                    f"repaired with make_valid: {where}; now {len(shapely.get_parts(poly))} polygon part(s), "
                    f"about {m2:,.0f} m2",
                    row=int(rows[i]), field="geometry", feature_id=ids[i]))
        else:
            hint = "; rerun with --fix to repair it with make_valid" if kind == "MultiPolygon" else ""
            what = "polygon" if kind == "MultiPolygon" else "line"
            for j, i in enumerate(invalid):
                problems.append(Problem(f"invalid {what}: {_location(str(reasons[j]))}{hint}",
                                        row=int(rows[i]), field="geometry", feature_id=ids[i]))

    if kind == "MultiPolygon":
        # zero area (collinear or repeated vertices): valid to GEOS, enclosing nothing
        flat = np.flatnonzero(check & valid)
        if len(flat):
            lat = (miny[flat] + maxy[flat]) / 2
            m2 = shapely.area(geoms[flat]) * (111_320.0 ** 2) * np.cos(np.radians(lat))
            for i, a in zip(flat[m2 < MIN_POLYGON_M2], m2[m2 < MIN_POLYGON_M2]):
                problems.append(Problem(
                    f"the polygon encloses no area ({a:.2g} m2; its vertices lie on one line or repeat one "
                    f"point); at least {MIN_POLYGON_M2:g} m2 is needed", row=int(rows[i]), field="geometry",
                    feature_id=ids[i]))
                ok[i] = False
        single = ok & (shapely.get_type_id(geoms) == GeometryType.POLYGON)
        if single.any():
            idx = np.flatnonzero(single)
            geoms[idx] = shapely.multipolygons(geoms[idx], indices=np.arange(len(idx)))
    return GeometryResult(geoms, problems, fixes)
