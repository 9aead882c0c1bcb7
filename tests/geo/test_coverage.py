"""Coverage tables, service-area polygons (vs exact decisions), gaps and what-if (vs full recompute)."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from geo.coverage import assign_to_grids, coverage_report
from geo.gaps import find_gaps, grid_gaps
from geo.network import build_network
from geo.reach import compute_reach
from geo.service_area import coverage_polygons, polygon_disagreement, service_areas, union_by_area
from geo.whatif import Planner

from tests.support import netgen


@pytest.fixture(scope="module")
def world():
    L = netgen.lattice(40, 40, seed=0, households=5000, stations=20)
    net = build_network(L["streets"], "walk")
    # 3 x 3 grids over the district, in 3 communities of one town
    x0, y0, x1, y1 = L["streets"].to_crs(net.crs).total_bounds
    xs, ys = np.linspace(x0 - 100, x1 + 100, 4), np.linspace(y0 - 100, y1 + 100, 4)
    cells = [shapely.box(xs[i], ys[j], xs[i + 1], ys[j + 1]) for i in range(3) for j in range(3)]
    grids = gpd.GeoDataFrame({"code": [f"G{k}" for k in range(9)], "community_code": [f"C{k // 3}" for k in range(9)],
                              "town_code": "T0"}, geometry=cells, crs=net.crs).to_crs(4326)
    r = compute_reach(net, L["stations"], L["dwellings"], breaks_s=(300, 480, 900), limit_s=1200)
    return L, net, grids, r


def test_coverage_tables_match_an_independent_groupby(world):
    L, net, grids, r = world
    rep = coverage_report(r, L["dwellings"], grids, L["stations"], budget_s=480)
    # independent: geopandas sjoin + pandas
    dw = gpd.sjoin(L["dwellings"], grids, predicate="within", how="left")
    dw["t"] = r.time_s
    dw["cov"] = r.time_s <= 480 + 1e-6
    for level, col in (("grid", "code"), ("community", "community_code"), ("town", "town_code")):
        tab = rep[level].set_index("code")
        for code, g in dw.groupby(col):
            row = tab.loc[code]
            assert row["households"] == g["households"].sum()
            assert row["covered_households"] == g.loc[g["cov"], "households"].sum()
            assert row["covered_300s"] == g.loc[g["t"] <= 300 + 1e-6, "households"].sum()
            cv = g["cov"]
            if cv.any():
                assert row["mean_time_s"] == pytest.approx(np.average(g["t"][cv], weights=g["households"][cv]))
            else:
                assert np.isnan(row["mean_time_s"])
            srt = g.sort_values("t")
            cw = srt["households"].cumsum()
            p90 = srt["t"].to_numpy()[np.searchsorted(cw.to_numpy(), 0.9 * cw.iloc[-1])]
            assert (row["p90_time_s"] == pytest.approx(p90)) if np.isfinite(p90) else row["p90_beyond_limit"]
    st = gpd.sjoin(L["stations"], grids, predicate="within")
    tab = rep["grid"].set_index("code")
    for code, g in st.groupby("code"):
        assert tab.loc[code, "stations"] == len(g)
        for kind, n in g["kind"].value_counts().items():
            assert tab.loc[code, f"stations_{kind}"] == n
    assert rep["town"]["households"].sum() == r.households.sum()


@pytest.mark.parametrize("method", ["grid", "vector"])
def test_polygons_disagree_with_exact_times_for_under_half_a_percent(world, method):
    L, net, grids, r = world
    polys = coverage_polygons(net, r, (300, 480, 900), method=method)
    for b, p in zip((300, 480, 900), polys):
        dis = polygon_disagreement(r, p, b)
        print(f"\n{method} polygon vs exact, {b:.0f} s: {dis}")
        assert dis["share"] <= 0.005
        assert dis["inside_not_covered"] + dis["covered_not_inside"] > 0 or b == 900  # measured, not assumed
    # real holes: unreached blocks inside the 8-minute area
    holes = sum(shapely.get_num_interior_rings(g) for g in shapely.get_parts(polys[1]))
    assert holes > 0
    # rings: bands do not overlap and add up to the largest disk
    rings = coverage_polygons(net, r, (300, 480, 900), rings=True, method=method)
    assert sum(g.area for g in rings) == pytest.approx(polys[-1].area, rel=1e-6)


def test_station_service_areas_contain_their_households(world):
    L, net, grids, r = world
    sa = service_areas(net, r, (300, 480), stations=[0, 1, 2], workers=1)
    assert len(sa) == 6 and (sa.groupby("station")["area_m2"].is_monotonic_increasing).all()
    assert set(sa["method"]) == {"network"}
    # union of all station disks drawn as vectors equals the multi-source polygon (up to float noise)
    alls = service_areas(net, r, (480,), workers=2, method="vector").to_crs(net.crs)
    union = shapely.union_all(shapely.make_valid(alls.geometry.values))
    cov = coverage_polygons(net, r, (480,), method="vector")[0]
    assert shapely.symmetric_difference(union, cov).area <= 1e-4 * cov.area
    # the grid drawing (default): station areas unioned ~ the multi-source drawing, both ~ the vector one
    grid = service_areas(net, r, (480,), workers=2).to_crs(net.crs)
    gunion = shapely.union_all(shapely.make_valid(grid.geometry.values))
    gcov = coverage_polygons(net, r, (480,))[0]
    for name, a, b in (("station union vs multi-source (grid)", gunion, gcov), ("grid vs vector", gcov, cov)):
        off = shapely.symmetric_difference(a, b).area / b.area
        print(f"\n{name}: {off:.2%} of the area differs")
        assert 0 < off <= 0.025
    whole = grids.to_crs(net.crs).geometry.values
    for method, c in (("vector", cov), ("grid", gcov)):
        by_area = union_by_area(net, r, grids, (480,), method=method)
        assert by_area["covered_m2"].sum() == pytest.approx(shapely.intersection(c, shapely.union_all(whole)).area,
                                                            rel=2e-3 if method == "grid" else 1e-6)


def test_mean_time_does_not_depend_on_the_search_limit(world):
    L, net, grids, r = world
    narrow = compute_reach(net, L["stations"], L["dwellings"], breaks_s=(480,))
    a = coverage_report(narrow, L["dwellings"], grids, L["stations"], budget_s=480)["grid"]
    b = coverage_report(r, L["dwellings"], grids, L["stations"], budget_s=480)["grid"]
    assert r.limit_s > narrow.limit_s
    assert np.allclose(a["mean_time_s"], b["mean_time_s"], equal_nan=True)
    assert (a["covered_households"] == b["covered_households"]).all()


def test_gaps_name_their_nearest_station_beyond_the_budget(world):
    L, net, grids, r = world
    narrow = compute_reach(net, L["stations"], L["dwellings"], breaks_s=(300,))  # search stops at 5 min
    wide = compute_reach(net, L["stations"], L["dwellings"], breaks_s=(300,), limit_s=600)  # independent
    blind = find_gaps(narrow, budget_s=300, link_m=100).frame
    assert blind["nearest_time_s"].isna().all()
    gaps = find_gaps(narrow, budget_s=300, link_m=100, net=net)
    f = gaps.frame.set_index("gap_id")
    named = 0
    for gid, row in f.iterrows():
        members = np.flatnonzero(gaps.label == gid)
        t = wide.time_s[members]
        if np.isfinite(t).any():
            k = members[np.argmin(t)]
            assert row["nearest_time_s"] == pytest.approx(wide.time_s[k])
            assert row["nearest_station"] == wide.station_ids[wide.nearest[k]]
            assert 300 < row["nearest_time_s"] <= 600
            named += 1
        else:
            assert np.isnan(row["nearest_time_s"]) and row["nearest_station"] is None
    assert named > 0


def test_gaps_cluster_the_uncovered(world):
    L, net, grids, r = world
    codes = assign_to_grids(L["dwellings"], grids)["grid_code"].to_numpy()
    gaps = find_gaps(r, budget_s=300, link_m=100, grid_codes=codes)
    f = gaps.frame
    unc = ~r.covered(300)
    assert f["households"].sum() == r.households[unc].sum() and len(f) > 1
    assert f["households"].is_monotonic_decreasing and f["rank"].tolist() == list(range(1, len(f) + 1))
    # every uncovered dwelling lies in its gap polygon; gaps are disjoint clusters
    poly = f.set_index("gap_id").to_crs(net.crs).geometry
    inside = shapely.contains_xy(poly.loc[gaps.label[unc]].values, *r.dwelling_xy[unc].T)
    assert inside.all()
    # nearest station/time of a gap is its quickest dwelling's
    g0 = f.iloc[0]
    members = np.flatnonzero(gaps.label == g0["gap_id"])
    assert g0["nearest_time_s"] == pytest.approx(r.time_s[members].min())
    per = grid_gaps(gaps, r, codes)
    assert per["uncovered_households"].sum() == r.households[unc].sum()


def _check_same(base, res, full):
    t = base.time_s.copy()
    t[res.changed["dwelling"].to_numpy()] = res.changed["time_after_s"].to_numpy()
    both_inf = np.isinf(t) & np.isinf(full.time_s)
    with np.errstate(invalid="ignore"):
        assert (both_inf | (np.abs(t - full.time_s) <= 1e-6)).all()
    assert res.covered_after == full.households[full.covered(480)].sum()


def test_what_if_equals_a_full_recompute(world):
    L, net, grids, r0 = world
    r = compute_reach(net, L["stations"], L["dwellings"], breaks_s=(480,))
    codes = assign_to_grids(L["dwellings"], grids)["grid_code"].to_numpy()
    gaps = find_gaps(r, grid_codes=codes)
    plan = Planner(net, r, grid_codes=codes, gaps=gaps)
    st, dw = L["stations"], L["dwellings"]
    for sid in ("st3", "st11"):
        res = plan.close(sid)
        assert res.delta <= 0 and (res.delta < 0 or sid != "st3")
        _check_same(r, res, compute_reach(net, st[st.source_id != sid], dw, breaks_s=(480,)))
        assert res.per_grid["delta"].sum() == res.delta
    # add at the largest gap's quickest dwelling
    far = gaps.frame.iloc[0]
    p = gaps.frame.to_crs(4326).geometry.iloc[0].representative_point()
    res = plan.add(p.x, p.y)
    new = pd.concat([st, gpd.GeoDataFrame({"source_id": ["new"], "kind": ["grid_station"]},
                                          geometry=[p], crs=4326)], ignore_index=True)
    _check_same(r, res, compute_reach(net, new, dw, breaks_s=(480,)))
    assert res.delta > 0 and far["gap_id"] in res.gaps_removed
    assert res.gaps_added["households"].sum() == (gaps.frame.set_index("gap_id").loc[res.gaps_removed, "households"].sum()
                                                  - res.delta)
    res = plan.move("st3", p.x, p.y)
    moved = new[new.source_id != "st3"]
    _check_same(r, res, compute_reach(net, moved, dw, breaks_s=(480,)))


def test_several_changes_together_equal_a_full_recompute(world):
    """A siting proposal as one what-if: three new stations and the two closest stations closed
    together (neighbours: their regions are re-solved as one) equal a recompute."""
    L, net, grids, r0 = world
    r = compute_reach(net, L["stations"], L["dwellings"], breaks_s=(480,))
    codes = assign_to_grids(L["dwellings"], grids)["grid_code"].to_numpy()
    gaps = find_gaps(r, grid_codes=codes)
    plan = Planner(net, r, grid_codes=codes, gaps=gaps)
    st, dw = L["stations"], L["dwellings"]
    pts = [g.representative_point() for g in gaps.frame.to_crs(4326).geometry.iloc[:3]]
    xy = np.c_[st.to_crs(net.crs).geometry.x, st.to_crs(net.crs).geometry.y]
    d = np.hypot(*(xy[:, None] - xy[None]).transpose(2, 0, 1)) + np.eye(len(st)) * 1e12
    i, j = np.unravel_index(np.argmin(d), d.shape)
    shut = [st.source_id.iloc[i], st.source_id.iloc[j]]
    res = plan.change(add=[(f"new{k}", p.x, p.y) for k, p in enumerate(pts)], close=shut)
    new = pd.concat([st[~st.source_id.isin(shut)],
                     gpd.GeoDataFrame({"source_id": [f"new{k}" for k in range(3)], "kind": "grid_station"},
                                      geometry=pts, crs=4326)], ignore_index=True)
    full = compute_reach(net, new, dw, breaks_s=(480,))
    _check_same(r, res, full)
    assert res.per_grid["delta"].sum() == res.delta
    # the station each changed dwelling ends at is the recompute's
    got = res.changed.set_index("dwelling")["station_after"]
    want = pd.Series(full.station_ids[np.maximum(full.nearest, 0)], dtype=object).where(full.nearest >= 0, None)
    fin = np.isfinite(res.changed["time_after_s"].to_numpy())
    assert (got[fin].to_numpy() == want.iloc[got.index[fin]].to_numpy()).all()
    # adding sites only: the gain is the union of what each one adds, not the sum
    only = plan.change(add=[(f"new{k}", p.x, p.y) for k, p in enumerate(pts)])
    _check_same(r, only, compute_reach(net, pd.concat([new, st[st.source_id.isin(shut)]], ignore_index=True), dw,
                                       breaks_s=(480,)))
    assert only.delta <= sum(plan.add(p.x, p.y).delta for p in pts)
    assert only.gaps_added is not None and set(only.gaps_removed) <= set(gaps.frame["gap_id"])
