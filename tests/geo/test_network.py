"""Street graph: node travel times equal networkx's Dijkstra (generated lattice and real OSM data)."""

from __future__ import annotations

import pickle

import geopandas as gpd
import networkx as nx
import numpy as np
import pytest
import shapely

from geo.crs import metric_crs_for
from geo.network import build_network
from geo.reach import station_node_times
from geo.snap import snap_points

from tests.support import netgen


def _node_check(net, graph, sources):
    for s in sources:
        ref = nx.single_source_dijkstra_path_length(graph, int(s))
        st = snap_points(net, net.node_xy[[s]], max_dist_m=1.0)
        mine = station_node_times(net, st, 0, 1e9)
        want = np.array([ref.get(i, np.inf) for i in range(net.n_nodes)])
        assert np.array_equal(np.isinf(mine), np.isinf(want))
        fin = np.isfinite(want)
        assert np.abs(mine[fin] - want[fin]).max() <= 1e-6


@pytest.mark.parametrize("mode", ["walk", "drive"])
def test_node_times_equal_networkx_on_generated_lattice(mode):
    L = netgen.lattice(25, 25, seed=3)
    net = build_network(L["streets"], mode)
    if mode == "drive":
        assert np.isinf(net.edge_fw).any() and np.isinf(net.edge_bw).any()  # one-way streets present
    rng = np.random.default_rng(0)
    _node_check(net, netgen.nx_graph(net), rng.choice(np.flatnonzero(net.snappable_node), 4, replace=False))


def _osm_streets():
    import pyrosm

    _, edges = pyrosm.OSM(pyrosm.get_data("test_pbf")).get_network("walking", nodes=True)  # split at junctions
    edges = edges[edges.geometry.geom_type == "LineString"].reset_index(drop=True)
    known = {"primary", "secondary", "tertiary", "residential", "service", "footway", "path"}
    cls = edges["highway"].where(edges["highway"].isin(known), "path")
    return gpd.GeoDataFrame({"source_id": [f"osm{i}" for i in range(len(edges))], "road_class": cls},
                            geometry=edges.geometry.values, crs=4326)


def test_node_times_equal_networkx_on_real_osm_extract():
    """OpenStreetMap data (c) OpenStreetMap contributors, ODbL (pyrosm's test extract)."""
    streets = _osm_streets()
    net = build_network(streets, "walk")
    # independent topology: geopandas lengths and endpoint keys, not the Network's arrays
    metric = streets.to_crs(metric_crs_for(streets))
    coords = [np.asarray(g.coords) for g in metric.geometry]
    g = nx.MultiDiGraph()
    speed = 5 / 3.6
    key = {}
    for c, length in zip(coords, metric.geometry.length):
        a, b = (tuple(np.round(p / 0.01).astype(np.int64)) for p in (c[0], c[-1]))
        if length > 0 and a != b:
            g.add_edge(a, b, weight=length / speed)
            g.add_edge(b, a, weight=length / speed)
    for i, xy in enumerate(net.node_xy):
        key[i] = tuple(np.round(xy / 0.01).astype(np.int64))
    assert net.n_nodes == len({k for k in key.values()}) and net.n_nodes >= 900
    rng = np.random.default_rng(1)
    for s in rng.choice(np.flatnonzero(net.snappable_node), 5, replace=False):
        ref = nx.single_source_dijkstra_path_length(g, key[int(s)])
        st = snap_points(net, net.node_xy[[s]], max_dist_m=1.0)
        mine = station_node_times(net, st, 0, 1e9)
        want = np.array([ref.get(key[i], np.inf) for i in range(net.n_nodes)])
        assert np.array_equal(np.isinf(mine), np.isinf(want))
        fin = np.isfinite(want)
        assert fin.sum() > 100
        assert np.abs(mine[fin] - want[fin]).max() <= 1e-6
    # real data is fragmented: the small pieces are reported, not silently dropped
    isl = net.islands()
    assert len(isl) > 0 and isl["nodes"].max() < 50
    assert (~net.snappable_node).sum() == isl["nodes"].sum()


def test_fingerprint_pickle_and_speeds():
    L = netgen.lattice(8, 8)
    a = build_network(L["streets"], "walk")
    b = pickle.loads(pickle.dumps(a))
    assert b.fingerprint == a.fingerprint and (b.graph != a.graph).nnz == 0
    assert build_network(L["streets"], "walk", speed_kmh=4).fingerprint != a.fingerprint
    moved = L["streets"].copy()
    moved.loc[0, "geometry"] = shapely.affinity.translate(moved.geometry.iloc[0], 1e-5, 0)
    assert build_network(moved, "walk").fingerprint != a.fingerprint
    # walk at 5 km/h: time = length / (5 / 3.6)
    assert np.allclose(a.edge_fw, a.edge_len / (5 / 3.6))
    d = build_network(L["streets"], "drive")
    s = L["streets"].iloc[d.edge_street]
    expect = np.where(s["speed_kmh"].notna(), s["speed_kmh"],
                      s["road_class"].map({"residential": 25.0, "tertiary": 30.0, "secondary": 40.0, "service": 15.0}))
    assert np.allclose(d.edge_speed * 3.6, expect)
    assert not np.isin(s["road_class"], ["footway", "path"]).any()


def test_island_components_are_reported():
    main = netgen.lattice(6, 6, drop=0.0)["streets"]
    x0, y0 = netgen.ORIGIN
    isl = netgen.frame([shapely.LineString([(x0 + 2000, y0), (x0 + 2050, y0)])], road_class=["residential"])
    streets = gpd.GeoDataFrame(np.r_[main.geometry.values, isl.geometry.values], columns=["geometry"],
                               geometry="geometry", crs=4326)
    streets["road_class"] = "residential"
    net = build_network(streets, "walk")
    assert net.islands()["nodes"].tolist() == [2]
    assert build_network(streets, "walk", min_component_nodes=2).islands().empty


def test_no_streets_at_all_is_a_clear_input_error():
    from geo.errors import InvalidInput

    L = netgen.lattice(5, 5)
    with pytest.raises(InvalidInput) as exc:
        build_network(L["streets"].iloc[:0], "walk")
    assert "import" in str(exc.value.problems[0])
