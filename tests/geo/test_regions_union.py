"""geo.network.union_networks and geo.reach.concat_reaches (issue 18 §1): per-county networks
joined without any connecting street keep each county's island rule, and per-county reaches
concatenated equal one search on the union (checked by a multi-source search on the union itself),
while one network built from both counties' streets wrongly drops the small county as an island."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from geo.network import build_network, union_networks
from geo.reach import compute_reach, concat_reaches
from geo.sample import make_regions
from tests.support.netgen import METRIC, lattice


def _north(frame: gpd.GeoDataFrame, dy_m: float) -> gpd.GeoDataFrame:
    m = frame.to_crs(METRIC)
    m = m.set_geometry(shapely.transform(m.geometry.values, lambda c: c + np.array([0.0, dy_m])))
    return m.to_crs(4326)


def test_union_keeps_each_part_and_equals_one_search_on_it():
    big = lattice(30, 30, seed=1, households=600, stations=8)
    small = {k: _north(v, 6_000) for k, v in lattice(5, 5, seed=2, households=40, stations=2, drop=0.0).items()}
    crs = CRS(METRIC)
    nb, ns = build_network(big["streets"], crs=crs), build_network(small["streets"], crs=crs)
    assert ns.n_nodes < 50 < nb.n_nodes and ns.snappable_node.all()
    u = union_networks([nb, ns], [len(big["streets"]), len(small["streets"])])
    assert u.n_nodes == nb.n_nodes + ns.n_nodes and u.n_edges == nb.n_edges + ns.n_edges
    assert (u.snappable_node == np.r_[nb.snappable_node, ns.snappable_node]).all()
    assert len(u.islands()) == len(nb.islands()) + len(ns.islands())
    assert (u.node_part == np.r_[np.zeros(nb.n_nodes), np.ones(ns.n_nodes)]).all()
    # the bug of issue 18: one network of both counties' streets skips the small county whole
    joint = build_network(pd.concat([big["streets"], small["streets"]], ignore_index=True), crs=crs)
    north = joint.node_xy[:, 1] > (nb.node_xy[:, 1].max() + ns.node_xy[:, 1].min()) / 2
    assert north.sum() == ns.n_nodes and not joint.snappable_node[north].any()
    # per part, then concatenated == one multi-source search on the union (parts are far apart,
    # so every point snaps to its own part there too)
    rb = compute_reach(nb, big["stations"], big["dwellings"], breaks_s=(480.0,), limit_s=900.0)
    rs = compute_reach(ns, small["stations"], small["dwellings"], breaks_s=(480.0,), limit_s=900.0)
    cat = concat_reaches([rb, rs], u)
    st = pd.concat([big["stations"], small["stations"]], ignore_index=True)
    dw = pd.concat([big["dwellings"], small["dwellings"]], ignore_index=True)
    one = compute_reach(u, gpd.GeoDataFrame(st, crs=4326), gpd.GeoDataFrame(dw, crs=4326),
                        breaks_s=(480.0,), limit_s=900.0)
    assert np.array_equal(cat.nearest, one.nearest)
    assert np.allclose(cat.time_s, one.time_s, rtol=0, atol=1e-9, equal_nan=True)
    assert np.array_equal(np.isfinite(cat.time_s), np.isfinite(one.time_s))
    assert np.allclose(cat.node_time, one.node_time, rtol=0, atol=1e-9)
    assert np.array_equal(cat.dwelling_snap.edge, one.dwelling_snap.edge)
    assert (cat.time_s[-len(small["dwellings"]):] < np.inf).any()  # the small county is reached


def test_make_regions_side_by_side():
    layers = make_regions(3, [300, 600, 300], seed=4, incidents=5, first_code="320281")
    for name, f in layers.items():
        assert sorted(set(f["region_code"])) == ["320281", "320282", "320283"], name
    areas = layers["areas"]
    outline = {c: shapely.union_all(areas.geometry[areas["region_code"] == c].values) for c in set(areas["region_code"])}
    codes = sorted(outline)
    for i, a in enumerate(codes):
        for b in codes[i + 1:]:
            assert outline[a].distance(outline[b]) > 0.02  # degrees: ~2 km apart or more
    from geo.crs import metric_crs_for
    assert len({metric_crs_for(layers["streets"][layers["streets"]["region_code"] == c]).to_epsg()
                for c in codes}) == 1
