"""Snapping finds the exact nearest point on a usable edge (checked against shapely brute force)."""

from __future__ import annotations

import numpy as np
import shapely

from geo.network import build_network, edges_frame
from geo.snap import SNAPPED, TOO_FAR, snap_points

from tests.support import netgen


def test_snap_matches_brute_force_distance_and_point():
    L = netgen.lattice(20, 20, seed=5, bend=0.8)
    net = build_network(L["streets"], "walk")
    lines = edges_frame(net).geometry.values[net.snappable_edge]
    rng = np.random.default_rng(2)
    lo, hi = net.node_xy.min(axis=0) - 400, net.node_xy.max(axis=0) + 400
    xy = rng.uniform(lo, hi, (3000, 2))
    s = snap_points(net, xy, max_dist_m=300, k=2)  # few candidates: the exactness re-check must work
    pts = shapely.points(xy)
    tree = shapely.STRtree(lines)
    _, dist = tree.query_nearest(pts, return_distance=True, all_matches=False)
    ok = dist <= 300
    assert np.array_equal(s.status == SNAPPED, ok) and (s.status[~ok] == TOO_FAR).all()
    assert np.abs(s.dist_m[ok] - dist[ok]).max() < 1e-6
    # the snapped point lies on its edge at the stated offset, at the stated distance
    edges = edges_frame(net).geometry.values[s.edge[ok]]
    on = shapely.line_interpolate_point(edges, s.offset_m[ok])
    assert np.abs(shapely.get_coordinates(on) - s.xy[ok]).max() < 1e-6
    assert np.abs(np.hypot(*(s.xy[ok] - xy[ok]).T) - s.dist_m[ok]).max() < 1e-6
    assert np.allclose(s.access_s[ok], s.dist_m[ok] / (5 / 3.6))


def test_nan_points_are_reported():
    L = netgen.lattice(5, 5)
    net = build_network(L["streets"], "walk")
    s = snap_points(net, np.array([[np.nan, np.nan], net.node_xy[0]]))
    assert s.status.tolist() == [2, 0] and s.dist_m[1] == 0


def test_resnap_reuses_unchanged_points_and_equals_a_full_snap():
    """resnap_frame: a later version of the points (some moved, some added, some gone, reordered)
    snapped reusing the earlier snaps equals snapping every point afresh, field by field."""
    import geopandas as gpd

    from geo.crs import WGS84, transformer
    from geo.snap import resnap_frame, snap_frame

    L = netgen.lattice(20, 20, seed=5, bend=0.8)
    net = build_network(L["streets"], "walk")
    rng = np.random.default_rng(3)
    lo, hi = net.node_xy.min(axis=0) - 400, net.node_xy.max(axis=0) + 400
    back = transformer(net.crs, WGS84)

    def frame(xy):
        lon, lat = back.transform(*xy.T)
        return gpd.GeoSeries(shapely.points(lon, lat), crs=4326)

    xy = rng.uniform(lo, hi, (2000, 2))
    prev = snap_frame(net, frame(xy), max_dist_m=300)
    keep = rng.permutation(2000)[:1970]  # 30 gone, the rest reordered
    new_xy = np.vstack([xy[keep], rng.uniform(lo, hi, (40, 2))])  # 40 added
    pos = np.r_[keep, np.full(40, -1)]
    moved = rng.choice(1970, 60, replace=False)
    new_xy[moved] += rng.normal(0, 80, (60, 2))
    pos[moved] = -1
    got, reused = resnap_frame(net, frame(new_xy), prev, pos, max_dist_m=300)
    want = snap_frame(net, frame(new_xy), max_dist_m=300)
    assert reused == 1970 - 60
    for f in ("edge", "offset_m", "frac", "dist_m", "access_s", "xy", "status"):
        assert np.array_equal(getattr(got, f), getattr(want, f), equal_nan=getattr(want, f).dtype.kind == "f"), f
