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
