"""The siting adaptor on a small sample district: its matrix against scipy Dijkstra from each site
on a graph rebuilt from the edge arrays plus brute-force per-dwelling times, and its answers
against the coverage engine (compute_reach with the chosen sites added)."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from scipy.sparse.csgraph import dijkstra

from geo.network import build_network
from geo.reach import compute_reach
from geo.sample import make_district
from geo.siting import from_frames, gap_node_candidates, mclp, p_median, street_node_candidates
from geo.snap import snap_frame

BUDGET = 300.0


@pytest.fixture(scope="module")
def district():
    L = make_district(3000, seed=3)
    net = build_network(L["streets"])
    st = L["stations"].iloc[::4].reset_index(drop=True)  # fewer stations: real gaps
    return L, net, st


def brute_times(net, sites, dwellings, limit):
    """Dense (dwellings x sites) times: Dijkstra from both ends of each site's edge on a graph built
    here from the edge arrays, then the access legs and same-edge travel, by formula."""
    u, v, fw, bw = net.edge_u, net.edge_v, net.edge_fw, net.edge_bw
    n = net.n_nodes
    tail, head, cost = np.r_[u, v], np.r_[v, u], np.r_[fw, bw]
    best = {}  # parallel edges keep their quickest
    for a, b, c in zip(tail, head, cost):
        if a != b and np.isfinite(c) and c < best.get((a, b), np.inf):
            best[(a, b)] = c
    k = np.array(list(best.keys()))
    g = sp.csr_matrix((np.array(list(best.values())), (k[:, 0], k[:, 1])), shape=(n, n))
    ss = snap_frame(net, sites)
    ds = snap_frame(net, dwellings)
    out = np.full((len(dwellings), len(sites)), np.inf)
    ends = np.unique(np.r_[u[ss.edge[ss.ok]], v[ss.edge[ss.ok]]])
    D = dijkstra(g, directed=True, indices=ends)
    row = {e: i for i, e in enumerate(ends)}
    part = lambda f, c: np.where(f > 0, f * c, 0.0)  # noqa: E731
    dok = np.flatnonzero(ds.ok)
    de, df, da = ds.edge[dok], ds.frac[dok], ds.access_s[dok]
    for j in np.flatnonzero(ss.ok):
        e, f, a = ss.edge[j], ss.frac[j], ss.access_s[j]
        node_t = np.minimum(a + part(f, bw[e]) + D[row[u[e]]], a + part(1 - f, fw[e]) + D[row[v[e]]])
        t = np.minimum(node_t[u[de]] + part(df, fw[de]), node_t[v[de]] + part(1 - df, bw[de])) + da
        same = de == e
        direct = np.where(df >= f, part(df - f, fw[e]), part(f - df, bw[e])) + a + da
        t = np.where(same, np.minimum(t, direct), t)
        out[dok, j] = t
    out[out > limit + 1e-6] = np.inf
    return out


def test_matrix_equals_brute_force_dijkstra(district):
    L, net, st = district
    dw = L["dwellings"]
    rng = np.random.default_rng(0)
    cands = street_node_candidates(net).iloc[rng.choice(net.snappable_node.sum(), 60, replace=False)]
    # a few user points off the streets too (access legs, mid-edge snaps)
    pts = dw.sample(15, random_state=1)[["geometry"]].assign(candidate_id=lambda d: [f"p{i}" for i in range(len(d))])
    cands = pd.concat([cands, gpd.GeoDataFrame(pts, crs=4326)], ignore_index=True)
    limit = 450.0
    M = from_frames(net, dw, cands, st, budget_s=BUDGET, limit_s=limit)
    sites = gpd.GeoDataFrame(geometry=pd.concat([cands.geometry, st.geometry], ignore_index=True), crs=4326)
    want = brute_times(net, sites, dw, limit)
    got = np.full(want.shape, np.inf)
    t = M.time_s.tocoo()
    got[t.row, t.col] = t.data
    assert np.array_equal(np.isfinite(got), np.isfinite(want))
    fin = np.isfinite(want)
    assert np.allclose(got[fin], want[fin], atol=1e-6)
    assert M.n_candidates == len(cands) and M.n_existing == len(st)
    assert np.array_equal(M.weights, dw["households"].to_numpy(dtype=float))
    # the existing stations' coverage is the coverage engine's
    reach = compute_reach(net, st, dw, breaks_s=(BUDGET,))
    assert np.array_equal(M.covered_by(np.arange(M.n_candidates, M.n_sites)), reach.covered())


def test_answers_recount_with_the_coverage_engine(district):
    L, net, st = district
    dw = L["dwellings"]
    reach = compute_reach(net, st, dw, breaks_s=(BUDGET,))
    gaps = gap_node_candidates(net, dw, reach.covered(), budget_s=BUDGET)
    assert len(gaps) > 10
    M = from_frames(net, dw, gaps, st, budget_s=BUDGET)
    r = mclp(M, 5, mip_gap=0)
    assert r.status == "optimal" and r.objective > 0
    new = gaps.set_index("candidate_id").loc[list(r.site_ids)].reset_index()[["geometry"]]
    both = pd.concat([st[["geometry"]], new], ignore_index=True)
    after = compute_reach(net, gpd.GeoDataFrame(both, crs=4326), dw, breaks_s=(BUDGET,))
    hh = dw["households"].to_numpy()
    assert r.households_before == pytest.approx(hh[reach.covered()].sum())
    assert r.households_after == pytest.approx(hh[after.covered()].sum())
    assert r.newly_covered == pytest.approx(r.objective)
    frame = r.sites_frame()
    assert frame["gain"].sum() == pytest.approx(r.objective)
    assert len(r.demand_frame()) == len(dw)


def test_gap_nodes_are_exactly_the_nodes_reaching_a_gap(district):
    L, net, st = district
    dw = L["dwellings"]
    reach = compute_reach(net, st, dw, breaks_s=(BUDGET,))
    nodes = street_node_candidates(net)
    M = from_frames(net, dw, nodes, None, budget_s=BUDGET)
    unc = ~reach.covered()
    reaches_gap = np.asarray(M.cover[unc].sum(axis=0)).ravel() > 0
    want = set(nodes["node"].to_numpy()[reaches_gap].tolist())
    got = set(gap_node_candidates(net, dw, reach.covered(), budget_s=BUDGET)["node"].tolist())
    assert got == want


def test_p_median_on_frames_matches_recount(district):
    L, net, st = district
    dw = L["dwellings"]
    rng = np.random.default_rng(2)
    nodes = street_node_candidates(net)
    cands = nodes.iloc[rng.choice(len(nodes), 40, replace=False)]
    M = from_frames(net, dw, cands, st, budget_s=BUDGET, limit_s=900.0)
    r = p_median(M, 3, mip_gap=0)
    assert r.status == "optimal"
    new = cands.set_index("candidate_id").loc[list(r.site_ids)].reset_index()[["geometry"]]
    after = compute_reach(net, gpd.GeoDataFrame(pd.concat([st[["geometry"]], new], ignore_index=True), crs=4326), dw,
                          breaks_s=(900.0,))
    t = np.minimum(after.time_s, 900.0)
    hh = dw["households"].to_numpy(dtype=float)
    assert r.objective == pytest.approx((hh @ t) / hh.sum())


def test_batched_searches_equal_the_per_station_search(district):
    """site_searches (batched, on sub-networks) gives exactly geo.reach's one-station search."""
    from geo.reach import DwellingIndex, EPS_S, point_times, station_node_times
    from geo.siting.frames import site_searches

    L, net, st = district
    dw = L["dwellings"]
    ds = snap_frame(net, dw)
    sites = pd.concat([street_node_candidates(net).iloc[::7][["geometry"]], L["stations"][["geometry"]]],
                      ignore_index=True)
    ss = snap_frame(net, gpd.GeoDataFrame(sites, crs=4326))
    r, c, t = site_searches(net, ss, ds, 420.0, tile_m=500.0)
    index = DwellingIndex(net, ds)
    for j in np.flatnonzero(ss.ok):
        d = station_node_times(net, ss, int(j), 420.0)
        cand = index.near_nodes(np.flatnonzero(np.isfinite(d)), np.array([ss.edge[j]]))
        tt, _ = point_times(net, ds, d, None, ss, np.array([j]), which=cand, fixed=int(j))
        keep = tt <= 420.0 + EPS_S
        m = c == j
        assert sorted(r[m].tolist()) == sorted(cand[keep].tolist())
        assert np.allclose(t[m][np.argsort(r[m])], tt[keep][np.argsort(cand[keep])], atol=1e-9)
