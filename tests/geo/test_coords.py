"""GCJ-02 / BD-09 conversions against an independent implementation (coordTransform) and round trips."""

import numpy as np
import pytest
from pyproj import Geod

import coordTransform as ct
from geo import coords

GEOD = Geod(ellps="WGS84")


def _china_points(n=3000, seed=7):
    rng = np.random.default_rng(seed)
    # inside both implementations' China boxes
    return rng.uniform(74.0, 134.5, n), rng.uniform(18.0, 53.0, n)


def _metres(lon1, lat1, lon2, lat2):
    return GEOD.inv(lon1, lat1, lon2, lat2)[2]


@pytest.mark.parametrize("ours, theirs", [
    (coords.wgs84_to_gcj02, ct.wgs84_to_gcj02),
    (coords.gcj02_to_bd09, ct.gcj02_to_bd09),
    (coords.wgs84_to_bd09, ct.wgs84_to_bd09),
])
def test_forward_matches_coordtransform(ours, theirs):
    lon, lat = _china_points()
    ref = np.array([theirs(float(a), float(b)) for a, b in zip(lon, lat)])
    got_lon, got_lat = ours(lon, lat)
    assert got_lon.shape == lon.shape
    assert np.max(np.abs(got_lon - ref[:, 0])) < 1e-9
    assert np.max(np.abs(got_lat - ref[:, 1])) < 1e-9


def test_offset_is_realistic_near_jiangyin():
    # GCJ-02 is offset some hundreds of metres from WGS84 in eastern China
    glon, glat = coords.wgs84_to_gcj02(np.array([120.28]), np.array([31.92]))
    d = _metres(120.28, 31.92, glon[0], glat[0])
    assert 100 < d < 700


def test_gcj02_round_trip_under_a_millimetre():
    lon, lat = _china_points()
    back_lon, back_lat = coords.gcj02_to_wgs84(*coords.wgs84_to_gcj02(lon, lat))
    err = _metres(lon, lat, back_lon, back_lat)
    assert err.max() < 1e-3


def test_inverse_beats_one_step_approximation():
    # coordTransform's inverse is the one-step approximation (metres off); ours iterates
    lon, lat = _china_points(500)
    glon, glat = coords.wgs84_to_gcj02(lon, lat)
    approx = np.array([ct.gcj02_to_wgs84(float(a), float(b)) for a, b in zip(glon, glat)])
    ours = np.column_stack(coords.gcj02_to_wgs84(glon, glat))
    err_approx = _metres(lon, lat, approx[:, 0], approx[:, 1])
    err_ours = _metres(lon, lat, ours[:, 0], ours[:, 1])
    assert err_approx.max() > 0.1  # the approximation really is off
    assert err_ours.max() < 1e-3


def test_bd09_round_trip_under_a_millimetre():
    lon, lat = _china_points()
    back_lon, back_lat = coords.bd09_to_wgs84(*coords.wgs84_to_bd09(lon, lat))
    assert _metres(lon, lat, back_lon, back_lat).max() < 1e-3
    # and the BD-09 -> GCJ-02 leg reproduces its input through the forward formula
    blon, blat = coords.gcj02_to_bd09(lon, lat)
    g = np.column_stack(coords.bd09_to_gcj02(blon, blat))
    ref = np.array([ct.gcj02_to_bd09(float(a), float(b)) for a, b in g])
    assert np.max(np.abs(ref - np.column_stack([blon, blat]))) < 1e-9


def test_identity_outside_china():
    lon = np.array([2.35, -74.0, 26.93, 139.7])  # Paris, New York, Finland, Tokyo
    lat = np.array([48.85, 40.7, 60.52, 35.7])
    for fn in (coords.wgs84_to_gcj02, coords.gcj02_to_wgs84):
        out_lon, out_lat = fn(lon, lat)
        assert np.array_equal(out_lon, lon) and np.array_equal(out_lat, lat)
    assert coords.out_of_china(lon, lat).all()


def test_shapes_and_errors():
    lon = np.full((2, 3), 120.3)
    lat = np.full((2, 3), 31.9)
    out = coords.wgs84_to_gcj02(lon, lat)
    assert out[0].shape == (2, 3)
    e_lon, e_lat = coords.gcj02_to_wgs84(np.array([]), np.array([]))
    assert e_lon.size == 0 and e_lat.size == 0
    with pytest.raises(ValueError):
        coords.wgs84_to_gcj02(np.zeros(2), np.zeros(3))
    with pytest.raises(ValueError, match="unknown coordinate system"):
        coords.convert(lon, lat, "wgs-84")
    c = coords.convert(lon, lat, "gcj02", "bd09")
    d = coords.gcj02_to_bd09(lon, lat)
    assert np.allclose(c[0], d[0]) and np.allclose(c[1], d[1])
