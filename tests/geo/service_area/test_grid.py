"""Grid-drawn service areas: local search equals the full one, the drawing agrees with exact times."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import pytest
import shapely
from scipy.sparse.csgraph import dijkstra

from geo.network import build_network
from geo.reach import DwellingIndex, compute_reach, source_arcs, station_dwellings, station_node_times
from geo.service_area import service_areas, station_polygons

from tests.support import netgen


@pytest.fixture(scope="module")
def world():
    L = netgen.lattice(45, 45, seed=3, households=6000, stations=25, drop=0.18)
    net = build_network(L["streets"], "walk")
    r = compute_reach(net, L["stations"], L["dwellings"], breaks_s=(300, 480), limit_s=480)
    return L, net, r


def _whole_graph_times(net, st, j, limit):
    """Reference: scipy's Dijkstra over the whole graph from the station's two edge ends."""
    _, node, cost = source_arcs(net, st, np.array([j]))
    rows = dijkstra(net.graph, directed=True, indices=node).reshape(node.size, -1)
    d = (rows + cost[:, None]).min(axis=0)
    d[d > limit + 1e-6] = np.inf
    return d


@pytest.mark.parametrize("mode", ["walk", "bike", "drive"])
def test_local_search_equals_the_whole_graph_search(world, mode):
    L, _, _ = world
    net = build_network(L["streets"], mode)
    r = compute_reach(net, L["stations"], L["dwellings"], breaks_s=(480,))
    for j in range(len(r.station_ids)):
        for limit in (120.0, 480.0):
            a = _whole_graph_times(net, r.station_snap, j, limit)
            b = station_node_times(net, r.station_snap, j, limit)
            assert (np.isfinite(a) == np.isfinite(b)).all()
            f = np.isfinite(a)
            assert f.sum() > 1 and np.abs(a[f] - b[f]).max() <= 1e-9


def _misclassified(net, r, index, j, g, budget):
    inn, _ = station_dwellings(net, r, index, j, budget)
    exact = np.zeros(len(r.households), dtype=bool)
    exact[inn] = True
    netw = r.method == "network"
    inside = shapely.contains_xy(g, *r.dwelling_xy.T)
    wrong = (inside != exact) & netw
    return int(r.households[wrong].sum()), int(r.households[exact].sum())


def test_grid_drawing_agrees_with_exact_times_better_than_the_vector_one(world, capsys):
    L, net, r = world
    index = DwellingIndex(net, r.dwelling_snap)
    tot = {"grid": [0, 0], "vector": [0, 0]}
    for j in range(len(r.station_ids)):
        for method in tot:
            g = station_polygons(net, r, j, (480,), method=method)[0][0]
            assert g.is_valid and g.area > 0
            w, n = _misclassified(net, r, index, j, g, 480)
            tot[method][0] += w
            tot[method][1] += n
    share = {m: w / n for m, (w, n) in tot.items()}
    print(f"\nper-station households misclassified by the drawing: {share}")
    assert share["grid"] <= share["vector"]
    assert share["grid"] <= 0.02


def test_grid_and_vector_drawings_cover_nearly_the_same_ground(world):
    L, net, r = world
    for j in range(0, len(r.station_ids), 3):
        g = station_polygons(net, r, j, (480,))[0][0]
        v = station_polygons(net, r, j, (480,), method="vector")[0][0]
        assert shapely.symmetric_difference(g, v).area <= 0.06 * v.area
        # a finer grid follows the same rule at least as closely
        f = station_polygons(net, r, j, (480,), cell_m=2.5)[0][0]
        assert shapely.symmetric_difference(f, v).area <= shapely.symmetric_difference(g, v).area * 1.15


def test_holes_breaks_and_rings(world):
    L, net, r = world
    polys = station_polygons(net, r, 0, (300, 480))
    small, big = polys[0][0], polys[1][0]
    assert shapely.difference(small, big).area <= 1e-6 * small.area and big.area > small.area
    holes = sum(shapely.get_num_interior_rings(p) for p in shapely.get_parts(big))
    assert holes > 0  # blocks between streets farther than the street-side distance stay holes
    rings = station_polygons(net, r, 0, (300, 480), rings=True)
    assert rings[0][0].area + rings[1][0].area == pytest.approx(big.area, rel=1e-6)


def test_worker_processes_draw_the_same_polygons(world, monkeypatch, tmp_path):
    import geo.service_area.polygons as sa

    L, net, r = world
    one = service_areas(net, r, (300, 480), workers=1)
    monkeypatch.setattr(sa, "POOL_MIN_STATIONS", 2)
    PID_LOG.unlink(missing_ok=True)
    _CHUNK["orig"] = sa._pool_chunk
    monkeypatch.setattr(sa, "_pool_chunk", _recording_chunk)
    two = service_areas(net, r, (300, 480), workers=2)
    assert len(one) == len(two) == 2 * len(r.station_ids)
    assert list(one["station"]) == list(two["station"])
    assert shapely.equals_exact(one.geometry.values, two.geometry.values, tolerance=1e-9).all()
    pids = set(PID_LOG.read_text().split())
    assert pids and str(os.getpid()) not in pids  # drawn in worker processes


_CHUNK: dict = {}
#: Where the workers write their pids: set at import, so that a fork server started later (a
#: threaded test process, e.g. under xdist, starts its workers from one) passes it on to them.
#: (setdefault: a worker importing this module keeps the parent's path)
os.environ.setdefault("GRIDMAP_TEST_POOL_PID_LOG", str(Path(tempfile.gettempdir()) / f"gridmap-test-pool-pids-{os.getpid()}"))
PID_LOG = Path(os.environ["GRIDMAP_TEST_POOL_PID_LOG"])


def _recording_chunk(js):
    """The pool's chunk function, recording the worker's pid (a forked worker inherits the patched
    module; one from a fork server imports this module afresh and calls the real function)."""
    import geo.service_area.polygons as sa

    with open(os.environ["GRIDMAP_TEST_POOL_PID_LOG"], "a") as f:
        f.write(f"{os.getpid()}\n")
    return (_CHUNK.get("orig") or sa._pool_chunk)(js)


def test_concurrent_callers_get_their_own_polygons(world, monkeypatch):
    import threading

    import geo.service_area.polygons as sa

    L, net, r = world
    monkeypatch.setattr(sa, "POOL_MIN_STATIONS", 2)
    want = {b: service_areas(net, r, (b,), workers=1) for b in (300, 480)}
    got, errors = {}, []

    def call(b):
        try:
            got[b] = service_areas(net, r, (b,), workers=2)
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=call, args=(b,)) for b in (300, 480)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for b in (300, 480):
        assert (got[b]["break_s"] == b).all()
        assert shapely.equals_exact(got[b].geometry.values, want[b].geometry.values, tolerance=1e-9).all()
