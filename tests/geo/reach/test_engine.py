"""Reach: dwellings decided by exact network time (brute force), catchments, and hand-built cases."""

from __future__ import annotations

import datetime as dt

import geopandas as gpd
import numpy as np
import pytest
import shapely
from shapely import LineString, Point, Polygon

from geo.network import build_network
from geo.reach import compute_reach, no_street_regions, select_stations, station_catchments

from tests.support import netgen

X0, Y0 = netgen.ORIGIN
WALK = 5 / 3.6


def _streets(lines, **cols):
    n = len(lines)
    cols = {"source_id": [f"s{i}" for i in range(n)], "road_class": ["residential"] * n, **cols}
    return netgen.frame([shapely.affinity.translate(LineString(c), X0, Y0) for c in lines], **cols)


def _points(xy, prefix="p", **cols):
    cols = {"source_id": [f"{prefix}{i}" for i in range(len(xy))], **cols}
    return netgen.frame([Point(X0 + x, Y0 + y) for x, y in xy], **cols)


@pytest.mark.parametrize("mode,seed", [("walk", 0), ("drive", 1)])
def test_every_dwelling_time_equals_brute_force(mode, seed):
    L = netgen.lattice(18, 18, seed=seed, households=1500, stations=8)
    net = build_network(L["streets"], mode)
    budget = 480.0 if mode == "walk" else 60.0
    r = compute_reach(net, L["stations"], L["dwellings"], breaks_s=(budget / 2, budget), limit_s=4 * budget)
    ref, ref_nodes = netgen.split_reference(net, r.station_snap, r.dwelling_snap)
    ref[ref > r.limit_s] = np.inf
    assert np.array_equal(np.isinf(r.time_s), np.isinf(ref))
    fin = np.isfinite(ref)
    assert fin.sum() > 500 and np.abs(r.time_s[fin] - ref[fin]).max() <= 1e-6
    for b in r.breaks_s:  # zero misclassified
        assert np.array_equal(r.covered(b), ref <= b + 1e-6)
    # node times too
    nf = np.isfinite(r.node_time)
    assert np.abs(r.node_time[nf] - ref_nodes[nf]).max() <= 1e-6 and np.all(ref_nodes[~nf] > r.limit_s)
    # the named nearest station really achieves the time
    for j in np.unique(r.nearest[r.nearest >= 0])[:4]:
        alone, _ = netgen.split_reference(net, r.station_snap, r.dwelling_snap, [j])
        mine = r.nearest == j
        assert np.abs(alone[mine] - r.time_s[mine]).max() <= 1e-6


def test_catchments_match_brute_force():
    L = netgen.lattice(16, 16, seed=4, households=800, stations=6)
    net = build_network(L["streets"], "walk")
    r = compute_reach(net, L["stations"], L["dwellings"], breaks_s=(300.0,))
    c = station_catchments(net, r)
    per = [netgen.split_reference(net, r.station_snap, r.dwelling_snap, [j])[0] <= 300 + 1e-6
           for j in range(len(r.station_ids))]
    count = np.sum(per, axis=0)
    hh = r.households
    assert c["reach_households"].tolist() == [int(hh[p].sum()) for p in per]
    assert c["overlap_households"].tolist() == [int(hh[p & (count > 1)].sum()) for p in per]
    assert c["own_households"].sum() == hh[count > 0].sum()
    assert (c["overlap_households"] > 0).any()


def test_station_at_a_dead_end():
    streets = _streets([[(0, 0), (400, 0)], [(400, 0), (800, 0)], [(400, 0), (400, 300)]])
    st = _points([(400, 300)], "st", kind=["grid_station"])
    dw = _points([(500, 0), (400, 150), (800, 0)], households=[1, 2, 3])
    r = compute_reach(build_network(streets), st, dw, breaks_s=(480,), limit_s=600)
    assert np.allclose(r.time_s, np.array([400, 150, 700]) / WALK, atol=1e-6)
    assert np.isinf(compute_reach(build_network(streets), st, dw, breaks_s=(480,)).time_s[2])  # beyond the limit
    assert r.covered().tolist() == [True, True, False]  # 700 m at 5 km/h is 504 s


def test_river_with_one_bridge():
    streets = _streets([[(0, 0), (900, 0)], [(900, 0), (1000, 0)], [(0, 100), (900, 100)],
                        [(900, 100), (1000, 100)], [(900, 0), (900, 100)]])
    st = _points([(0, 0)], "st", kind=["service_centre"])
    dw = _points([(0, 110), (0, -10)], households=[5, 5])  # across the river, 110 m as the crow flies
    r = compute_reach(build_network(streets), st, dw, breaks_s=(480,), limit_s=2000)
    assert np.allclose(r.time_s, np.array([900 + 100 + 900 + 10, 10]) / WALK, atol=1e-6)
    assert r.covered().tolist() == [False, True]


def test_one_way_drive_edge():
    streets = _streets([[(0, 0), (1000, 0)], [(0, 0), (500, 1000)], [(500, 1000), (1000, 0)]],
                       oneway=[1, 0, 0], speed_kmh=[36.0, 36.0, 36.0])
    net = build_network(streets, "drive")
    detour = 2 * np.hypot(500, 1000) / 10
    a = compute_reach(net, _points([(0, 0)], "st"), _points([(1000, 0)], households=[1]), breaks_s=(150,), limit_s=900)
    b = compute_reach(net, _points([(1000, 0)], "st"), _points([(0, 0)], households=[1]), breaks_s=(150,), limit_s=900)
    assert a.time_s[0] == pytest.approx(100.0, abs=1e-6) and a.covered()[0]
    assert b.time_s[0] == pytest.approx(detour, abs=1e-6) and not b.covered()[0]
    walk = compute_reach(build_network(streets, "walk"), _points([(1000, 0)], "st"), _points([(0, 0)], households=[1]),
                         limit_s=900)
    assert walk.time_s[0] == pytest.approx(1000 / WALK, abs=1e-6)  # walkers ignore one-way


def test_island_with_no_street_link():
    grid = [[(x, y), (x + 100, y)] for x in range(0, 500, 100) for y in range(0, 600, 100)]
    grid += [[(x, y), (x, y + 100)] for x in range(0, 600, 100) for y in range(0, 500, 100)]
    island = [[(2000, 0), (2100, 0)], [(2100, 0), (2100, 100)]]
    streets = _streets(grid + island)
    st = _points([(0, 0)], "st")
    dw = _points([(2050, 5), (50, 5)], households=[7, 3])
    net = build_network(streets)
    assert net.islands()["nodes"].tolist() == [3]
    r = compute_reach(net, st, dw)
    assert r.method.tolist() == ["unreachable", "network"] and np.isinf(r.time_s[0]) and not r.covered()[0]
    assert r.dwellings_frame()["snap_status"][0] == "too_far_from_street"
    # kept as its own component, the island dwelling snaps to it but no station reaches it
    keep = build_network(streets, min_component_nodes=2)
    r2 = compute_reach(keep, st, dw, limit_s=10_000)
    assert r2.method[0] == "network" and np.isinf(r2.time_s[0])
    r3 = compute_reach(keep, _points([(0, 0), (2100, 100)], "st"), dw)
    assert r3.time_s[0] == pytest.approx((150 + 5) / WALK, abs=1e-6) and r3.nearest[0] == 1


def test_dwelling_exactly_at_the_budget_is_covered():
    streets = _streets([[(0, 0), (1000, 0)]])
    budget = 480.0
    reach_m = budget * WALK  # 666.67 m
    access = 6.25
    dw = _points([(reach_m - access, access), (reach_m - access + 0.01, access)], households=[1, 1])
    r = compute_reach(build_network(streets), _points([(0, 0)], "st"), dw, breaks_s=(budget,), limit_s=600)
    assert abs(r.time_s[0] - budget) < 1e-6
    assert r.covered(budget).tolist() == [True, False]


def test_station_filters_and_straight_line_fallback():
    st = _points([(0, 0), (50, 0), (100, 0)], "st", kind=["service_centre", "grid_station", "grid_station"],
                 opened_on=[dt.date(2020, 1, 1), None, dt.date(2026, 1, 1)], closed_on=[None, dt.date(2024, 5, 1), None])
    assert select_stations(st, kinds=["grid_station"])["source_id"].tolist() == ["st1", "st2"]
    assert select_stations(st, at=dt.date(2025, 1, 1))["source_id"].tolist() == ["st0"]
    assert select_stations(st, at=dt.date(2024, 4, 30))["source_id"].tolist() == ["st0", "st1"]
    # a grid with no street: straight line x 1.3 at walking speed, labelled
    streets = _streets([[(0, 0), (300, 0)]])
    net = build_network(streets)
    regions = netgen.frame([shapely.affinity.translate(Polygon([(-50, -50), (350, -50), (350, 50), (-50, 50)]), X0, Y0),
                            shapely.affinity.translate(Polygon([(1000, 0), (1400, 0), (1400, 400), (1000, 400)]), X0, Y0)],
                           code=["g1", "g2"])
    empty = no_street_regions(regions, net)
    assert empty["code"].tolist() == ["g2"]
    dw = _points([(1100, 100), (100, 10)], households=[4, 4])
    r = compute_reach(net, _points([(1100, 0)], "st"), dw, fallback_regions=empty)
    assert r.method.tolist() == ["straight_line", "network"]
    assert r.time_s[0] == pytest.approx(100 * 1.3 / WALK, abs=1e-6)


def test_every_name_the_engine_and_api_use_is_importable_from_geo_reach():
    """geo.reach is a package of modules; callers import every public name from geo.reach (one object each)."""
    import geo.reach as reach
    import geo.reach.per_station as stations
    import geo.reach.result as result
    import geo.reach.search as search

    for mod, names in ((result, ("EPS_S", "DETOUR_FACTOR", "METHODS", "Reach")),
                       (search, ("source_arcs", "node_times", "station_node_times", "point_times")),
                       (stations, ("DwellingIndex", "station_dwellings", "station_catchments"))):
        for name in names:
            assert getattr(reach, name) is getattr(mod, name), name
    for name in ("compute_reach", "select_stations", "no_street_regions"):
        assert callable(getattr(reach, name)), name
    assert not [n for n in reach.__all__ if n.startswith("_")]
    assert not hasattr(reach, "_part") and not hasattr(reach, "_ranges")  # private helpers are not re-exported
