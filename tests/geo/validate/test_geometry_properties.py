"""Hypothesis properties of :func:`geo.validate.check_geometries` on polygons (EPSG:4326 degrees):
degenerate rings (vertices on one line, one repeated vertex), self-intersecting rings, swapped or
out-of-range coordinates are each refused with a ``geometry`` problem on their row; a plain
rectangle of at least a metre a side inside China is accepted, as a MultiPolygon with the same area.

The independent computation is plain arithmetic: a rectangle's area in degrees squared."""

from __future__ import annotations

import numpy as np
import shapely
from hypothesis import given, settings, strategies as st

from geo.validate import check_geometries

PROPS = settings(max_examples=60, deadline=None, derandomize=True)
lon = st.floats(100.0, 125.0)
lat = st.floats(20.0, 45.0)
size = st.floats(1e-4, 0.05)  # degrees: ~10 m to ~5 km


def _check(poly):
    return check_geometries("MultiPolygon", np.array([poly], dtype=object), np.array([7]), np.array(["g"], dtype=object))


def _refused(poly) -> bool:
    res = _check(poly)
    return any(p.field == "geometry" and p.row == 7 for p in res.problems)


@PROPS
@given(x=lon, y=lat, dx=size, dy=st.floats(-0.05, 0.05), k=st.integers(3, 9))
def test_collinear_rings_are_refused(x, y, dx, dy, k):
    poly = shapely.Polygon([(x + i * dx / k, y + i * dy / k) for i in range(k)])
    assert _refused(poly)


@PROPS
@given(x=lon, y=lat, k=st.integers(4, 9))
def test_one_repeated_vertex_is_refused(x, y, k):
    assert _refused(shapely.Polygon([(x, y)] * k))


@PROPS
@given(x=lon, y=lat, d=size)
def test_bowties_are_refused(x, y, d):
    assert _refused(shapely.Polygon([(x, y), (x + d, y + d), (x + d, y), (x, y + d)]))


@PROPS
@given(x=lon, y=lat, d=size)
def test_swapped_axes_are_refused(x, y, d):
    assert _refused(shapely.box(y, x, y + d, x + d))


@PROPS
@given(x=st.one_of(st.floats(180.001, 1e300), st.floats(-1e300, -180.001)), y=lat, d=size)
def test_longitudes_beyond_180_are_refused(x, y, d):
    assert _refused(shapely.box(x, y, x + d, y + d))


@PROPS
@given(x=lon, y=lat, dx=size, dy=size)
def test_plain_rectangles_are_accepted_with_their_area(x, y, dx, dy):
    res = _check(shapely.box(x, y, x + dx, y + dy))
    assert res.problems == []
    g = res.geometries[0]
    assert g.geom_type == "MultiPolygon"
    assert abs(shapely.area(g) - dx * dy) <= 1e-9 * dx * dy + 1e-15
