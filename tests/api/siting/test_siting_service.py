"""The siting service against the engine and the coverage engine computed independently here."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from api.coverage import CoverageService
from api.errors import NotFound, ValidationFailed
from api.jurisdiction import EVERYWHERE, Jurisdiction
from api.siting import SitingParams, SitingService
from geo.coverage import assign_to_grids
from geo.network import build_network
from geo.reach import compute_reach
from geo.siting import from_frames, gap_node_candidates, mclp, street_node_candidates

BUDGET_S = 480.0


@pytest.fixture(scope="module")
def svc(engine, world):
    return SitingService(CoverageService(engine, warm_polygons=False))


@pytest.fixture(scope="module")
def geo_side(world):
    """The same question computed with geo alone on the generated layers (no database)."""
    net = build_network(world["streets"], "walk")
    st = world["stations"].copy()
    st["source_id"] = st["source_id"].astype(str)
    reach = compute_reach(net, st, world["dwellings"], breaks_s=(BUDGET_S,))
    return net, st, reach


def _covered_with(net, stations, dwellings, extra_lonlat):
    import geopandas as gpd

    add = gpd.GeoDataFrame({"source_id": [f"new{i}" for i in range(len(extra_lonlat))], "kind": "grid_station"},
                           geometry=gpd.points_from_xy(*np.asarray(extra_lonlat).T) if len(extra_lonlat) else [],
                           crs=4326)
    allst = pd.concat([stations[["source_id", "kind", "geometry"]], add], ignore_index=True)
    r = compute_reach(net, gpd.GeoDataFrame(allst, crs=4326), dwellings, breaks_s=(BUDGET_S,))
    return r.covered(BUDGET_S)


def test_mclp_equals_engine_and_coverage_recount(svc, world, geo_side):
    net, st, reach = geo_side
    p = svc.propose(EVERYWHERE, SitingParams(k=3, candidates="gaps"))
    # the engine on its own matrix, built here from the generated layers
    cov = reach.covered(BUDGET_S)
    cands = gap_node_candidates(net, world["dwellings"], cov, budget_s=BUDGET_S)
    m = from_frames(net, world["dwellings"], cands, st, budget_s=BUDGET_S)
    direct = mclp(m, 3)
    assert p.result.status == direct.status == "optimal"
    assert p.result.objective == pytest.approx(direct.objective)
    assert len(p.candidates) == len(cands)
    t = p.totals()
    hh = world["dwellings"]["households"].to_numpy()
    assert t["households"] == hh.sum()
    assert t["covered_before"] == hh[cov].sum()
    # the coverage engine with the proposed sites added reaches exactly the proposal's households
    sites = p.sites()
    after = _covered_with(net, st, world["dwellings"], sites[["lon", "lat"]].to_numpy())
    assert t["covered_after"] == hh[after].sum()
    assert t["newly_covered"] == pytest.approx(direct.objective) == sites["gain"].sum()
    # per grid and community: the same households, regrouped
    a = assign_to_grids(world["dwellings"], world["grids"])
    for level in ("grid", "community"):
        tab = p.area_table(level).set_index("code")
        exp = pd.DataFrame({"code": a[f"{level}_code"], "hh": hh, "after": np.where(after, hh, 0),
                            "before": np.where(cov, hh, 0)}).groupby("code").sum()
        assert (tab["households"] == exp["hh"].reindex(tab.index)).all()
        assert (tab["covered_after"] == exp["after"].reindex(tab.index)).all()
        assert (tab["covered_before"] == exp["before"].reindex(tab.index)).all()
    # the matrix's existing stations cover exactly what the coverage run covers
    ex = p.matrix.covered_by(np.arange(p.matrix.n_candidates, p.matrix.n_sites))
    assert (ex == cov).all()


def test_gain_curve_greedy_never_beats_optimum(svc):
    p = svc.propose(EVERYWHERE, SitingParams(k=4))
    c = p.curve_frame()
    assert list(c["k"]) == [1, 2, 3, 4]
    assert (np.diff(c["covered"]) >= 0).all() and (c["gain"] >= 0).all()
    for k in (1, 2, 3, 4):
        exact = svc.propose(EVERYWHERE, SitingParams(k=k, curve=False))
        greedy = svc.propose(EVERYWHERE, SitingParams(k=k, method="greedy", curve=False))
        assert greedy.result.objective <= exact.result.objective + 1e-9
        assert exact.result.objective <= exact.result.bound + 1e-9
        # the curve's greedy figure at k is the greedy answer's
        assert c.loc[k - 1, "covered"] == pytest.approx(greedy.totals()["covered_after"])
    assert c.loc[3, "exact_covered"] == pytest.approx(p.totals()["covered_after"])
    assert svc.stats["matrices_built"] <= 2  # one matrix for every k (plus the first test's, same key)


def test_streets_candidates_no_better_than_gaps_for_mclp(svc):
    """Gap nodes lose nothing for MCLP with the stations kept: every street node gives the same optimum."""
    g = svc.propose(EVERYWHERE, SitingParams(k=2, curve=False))
    s = svc.propose(EVERYWHERE, SitingParams(k=2, candidates="streets", curve=False))
    assert s.result.objective == pytest.approx(g.result.objective)
    assert len(s.candidates) > len(g.candidates)


def test_closures_match_brute_force(svc, world, geo_side):
    net, st, reach = geo_side
    hh = world["dwellings"]["households"].to_numpy()
    base = hh[reach.covered(BUDGET_S)].sum()
    p = svc.propose(EVERYWHERE, SitingParams(k=0, close=1))
    losses = {}
    for i in range(len(st)):
        cov = _covered_with(net, st.drop(index=st.index[i]), world["dwellings"], [])
        losses[i] = base - hh[cov].sum()
    best = min(losses.values())
    assert p.totals()["newly_covered"] == -best
    assert len(p.closed()) == 1
    ranking = p.closures()
    assert ranking["lost_households"].iloc[0] == best
    by_id = dict(zip(world["stations"]["source_id"].astype(str), range(len(st))))
    info = svc.coverage.run(EVERYWHERE, SitingParams().coverage).inputs.stations
    src = dict(zip(info["id"], info["source_id"].astype(str)))
    for row in ranking.itertuples():
        assert row.lost_households == losses[by_id[src[row.station_id]]]


def test_lscp_reaches_target_with_fewest(svc):
    p = svc.propose(EVERYWHERE, SitingParams(model="lscp", target=1.0))
    t = p.totals()
    assert t["covered_after"] == t["households"] or p.result.status == "optimal"
    if p.result.sites.size > 1:  # one fewer site can never reach everyone the answer reaches
        fewer = svc.propose(EVERYWHERE, SitingParams(k=int(p.result.sites.size) - 1, curve=False))
        assert fewer.totals()["covered_after"] < t["covered_after"]


def test_pmedian_lowers_mean_time(svc):
    p = svc.propose(EVERYWHERE, SitingParams(model="pmedian", k=2, candidates="gaps"))
    t = p.totals()
    assert t["mean_time_after_s"] <= t["mean_time_before_s"]


def test_scope_excludes_demand_outside(engine, svc, world):
    comms = world["areas"][world["areas"]["level"] == "community"]["code"].tolist()
    keep = frozenset(comms[1:])
    scope = Jurisdiction(keep)
    p = svc.propose(scope, SitingParams(k=2, candidates="streets", curve=False))
    a = assign_to_grids(world["dwellings"], world["grids"])
    inside = a["community_code"].isin(keep).to_numpy()
    hh = world["dwellings"]["households"].to_numpy()
    assert p.totals()["households"] == hh[inside].sum()
    assert set(p.area_table("community")["code"]) <= keep
    assert p.result.matrix.n_demand == int(inside.sum())
    assert set(p.closures()["station_id"]) == set(p.run.counted["id"])  # only the scope's stations
    with pytest.raises(NotFound):
        svc.propose(scope, SitingParams(k=1, area=comms[0]))


def test_area_limits_candidates(svc, world):
    comm = world["areas"][world["areas"]["level"] == "community"]["code"].iloc[0]
    p = svc.propose(EVERYWHERE, SitingParams(k=1, candidates="streets", area=comm, curve=False))
    s = p.sites()
    assert (s["community_code"] == comm).all()
    net = p.run.net
    polys = world["grids"][world["grids"]["community_code"] == comm]
    assert len(p.candidates) == len(street_node_candidates(net, polys))


def test_invalid_questions_name_the_field(svc):
    for kw, field in [({"model": "x"}, "model"), ({"k": -1}, "k"), ({"k": 0}, "k"), ({"candidates": "x"}, "candidates"),
                      ({"target": 0.5}, "target"), ({"minutes": 0}, "minutes")]:
        with pytest.raises(ValidationFailed) as e:
            SitingParams(**kw)
        assert e.value.problems[0].field == field
    import geopandas as gpd

    two = gpd.GeoDataFrame({"name": ["a", "b"]}, geometry=svc.coverage.run(EVERYWHERE, SitingParams().coverage)
                           .inputs.dwellings.geometry.iloc[:2].values, crs=4326)
    p = svc.propose(EVERYWHERE, SitingParams(k=1, candidates="file", curve=False), points=two)
    assert set(p.candidates["candidate_id"]) == {"a", "b"}
    with pytest.raises(ValueError) as e:  # geo's InvalidInput (a ValueError), 422 on the field
        svc.propose(EVERYWHERE, SitingParams(k=3, candidates="file", curve=False), points=two)
    assert any(pr.field == "k" for pr in e.value.problems)
