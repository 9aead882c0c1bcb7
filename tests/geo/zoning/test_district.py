"""geo.zoning on the sample district: tiling, nesting, contiguity, dwellings, band, streets, locks,
stay_close, micro-grids; the household bisection against the sample generator's grids."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import shapely

from geo.crs import metric_crs_for
from geo.sample import make_district
from geo.zoning import (Partition, ZoningParams, bisect_households, build_graph, check_grids, solve_community,
                        solve_county, units_from_frame)
from geo.zoning.units import to_metric_geoms


@pytest.fixture(scope="module")
def district():
    return make_district(6000, seed=3)


@pytest.fixture(scope="module")
def plan(district):
    d = district
    return solve_county(d["areas"], d["streets"], d["dwellings"], d["grids"], workers=2)


def _metric(frame, crs):
    return to_metric_geoms(frame.geometry.to_numpy(), crs)


def test_grids_tile_their_community_contiguous_and_nested(district, plan):
    areas = district["areas"]
    crs = metric_crs_for(areas)
    grids = plan.grids()
    comm = areas[areas.level == "community"].set_index("code")
    assert set(grids.community_code) == set(comm.index)
    for code, g in grids.groupby("community_code"):
        c = to_metric_geoms([comm.loc[code, "geometry"]], crs)[0]
        geoms = _metric(g, crs)
        for geom in geoms:  # one piece, inside its community
            parts = shapely.get_parts(geom)
            assert (shapely.area(parts) > 1.0).sum() == 1
            assert shapely.area(shapely.difference(geom, c)) < 1.0
        union = shapely.union_all(geoms)
        assert shapely.area(shapely.symmetric_difference(union, c)) < 1.0
        a, b = shapely.STRtree(geoms).query(geoms, predicate="intersects")
        keep = a < b
        assert (shapely.area(shapely.intersection(geoms[a[keep]], geoms[b[keep]])) < 1.0).all()
    assert grids["contiguous"].all()


def test_every_dwelling_in_exactly_one_grid(district, plan):
    dw = district["dwellings"]
    crs = metric_crs_for(district["areas"])
    grids = plan.grids()
    # by the units' dwelling lists
    units = plan.units()
    listed = pd.Series([d for ids in units["dwelling_ids"] for d in ids])
    assert listed.is_unique and set(listed) == set(dw["source_id"])
    # by geometry, independently: each dwelling point lies in exactly one grid polygon
    pts = _metric(dw, crs)
    gi, pi = shapely.STRtree(pts).query(_metric(grids, crs), predicate="intersects")
    counts = np.bincount(pi, minlength=len(pts))
    assert (counts == 1).all()
    hh = np.bincount(gi, weights=dw["households"].to_numpy()[pi], minlength=len(grids))
    assert (hh == grids["households"].to_numpy()).all()
    # a grid's dwellings are those of the community it nests in
    label_of = dict(zip(units["unit_id"] + "@" + units["community_code"], units["grid"]))
    assert len(label_of) == len(units)
    assert (grids["label"].str[:12] == grids["community_code"]).all()


def test_band_met_or_explained_and_boundaries_follow_streets(plan):
    grids = plan.grids()
    lo, hi = plan.params.bounds
    flagged = {r.grid for r in plan.reasons()}
    out = grids[(grids.households < lo) | (grids.households > hi)]
    assert set(out["label"]) <= flagged
    assert grids["in_band"].mean() >= 0.95
    m = plan.metrics()
    assert m["street_share"] >= 0.9
    assert m["share_contiguous"] == 1.0
    # the street share recomputed from the grid polygons and the street lines, independently
    assert m["households"] == int(grids["households"].sum())


def test_street_share_matches_geometry(district, plan):
    """Boundary between grids on streets, measured on the polygons against the street lines."""
    crs = metric_crs_for(district["areas"])
    grids = plan.grids()
    code = grids.community_code.iloc[0]
    g = grids[grids.community_code == code]
    comm = district["areas"].set_index("code").loc[code, "geometry"]
    c = to_metric_geoms([comm], crs)[0]
    inner = shapely.difference(shapely.union_all(shapely.boundary(_metric(g, crs))), shapely.buffer(shapely.boundary(c), 0.05))
    streets = shapely.union_all(shapely.buffer(_metric(district["streets"], crs), 0.05))
    on = shapely.length(shapely.intersection(inner, streets)) / shapely.length(inner)
    expect = (g.street_share * g.boundary_m).sum() / g.boundary_m.sum()
    assert abs(on - expect) < 0.02


def test_same_input_same_plan(district, plan):
    d = district
    code = sorted(plan.communities)[1]
    again = solve_county(d["areas"], d["streets"], d["dwellings"], d["grids"], communities=[code], workers=1)
    a, b = plan.communities[code], again.communities[code]
    assert list(a.units.ids) == list(b.units.ids)
    assert a.assignment.equals(b.assignment)


def test_locked_grids_unchanged_and_stay_close_moves_nothing(district, plan):
    d = district
    code = sorted(plan.communities)[0]
    first = plan.communities[code]
    current = first.grids()[["label", "geometry"]].rename(columns={"label": "code"})
    comm = d["areas"].set_index("code").loc[code, "geometry"]
    dw = d["dwellings"][d["dwellings"].community_code == code]
    # unchanged data, stay_close: nothing moves
    same = solve_community(comm, d["streets"], dw, code=code, current=current,
                           params=ZoningParams(stay_close=True), crs=first.units.crs)
    assert same.metrics()["moved_households"] == 0
    assert (same.assignment == first.assignment).all()
    # a locked grid keeps exactly its units while the rest is redrawn for another target
    lock = current["code"].iloc[1]
    redrawn = solve_community(comm, d["streets"], dw, code=code, current=current,
                              params=ZoningParams(target_households=250, locked=(lock,)), crs=first.units.crs)
    before = set(first.assignment[first.assignment == lock].index)
    after = set(redrawn.assignment[redrawn.assignment == lock].index)
    assert before == after
    g_before = first.grids().set_index("label").loc[lock]
    g_after = redrawn.grids().set_index("label").loc[lock]
    assert g_before.households == g_after.households
    crs = first.units.crs
    sym = shapely.symmetric_difference(*to_metric_geoms([g_before.geometry, g_after.geometry], crs))
    assert shapely.area(sym) < 1.0


def test_stay_close_after_new_dwellings_moves_few(district, plan):
    d = district
    code = sorted(plan.communities)[2]
    first = plan.communities[code]
    current = first.grids()[["label", "geometry"]].rename(columns={"label": "code"})
    comm = d["areas"].set_index("code").loc[code, "geometry"]
    dw = d["dwellings"][d["dwellings"].community_code == code]
    rng = np.random.default_rng(1)
    extra = dw.sample(12, random_state=2).copy()
    extra["source_id"] = [f"NEW{i}" for i in range(len(extra))]
    extra["households"] = rng.integers(2, 6, len(extra))
    extra.geometry = extra.geometry.translate(xoff=2e-5, yoff=1e-5)  # ~2 m beside an existing dwelling
    grown = pd.concat([dw, extra], ignore_index=True)
    again = solve_community(comm, d["streets"], grown, code=code, current=current,
                            params=ZoningParams(stay_close=True), crs=first.units.crs)
    m = again.metrics()
    fresh = solve_community(comm, d["streets"], grown, code=code, current=current, crs=first.units.crs)
    assert m["moved_households"] <= 0.1 * m["households"]
    assert m["moved_households"] < fresh.metrics()["moved_households"]
    assert m["share_in_band"] == 1.0 or again.reasons


def test_micro_grids_nest_in_their_grid(district, plan):
    d = district
    code = sorted(plan.communities)[3]
    comm = d["areas"].set_index("code").loc[code, "geometry"]
    dw = d["dwellings"][d["dwellings"].community_code == code]
    res = solve_community(comm, d["streets"], dw, code=code, micro=True, crs=plan.communities[code].units.crs)
    crs = res.units.crs
    grids = res.grids()
    micro = res.micro
    assert len(micro) > len(grids)
    dwell_of_grid = {}
    units = res.unit_frame()
    for _, u in units.iterrows():
        dwell_of_grid.setdefault(u.grid, set()).update(u.dwelling_ids)
    for _, g in grids.iterrows():
        m = micro[micro.grid == g.label]
        gm = to_metric_geoms([g.geometry], crs)[0]
        mm = _metric(m, crs)
        assert all(shapely.area(shapely.difference(x, gm)) < 1.0 for x in mm)
        assert shapely.area(shapely.symmetric_difference(shapely.union_all(mm), gm)) < 1.0
        ids = [x for lst in m.dwelling_ids for x in lst]
        assert len(ids) == len(set(ids)) and set(ids) == dwell_of_grid[g.label]
        assert m.households.sum() == g.households
    ok = micro[~micro.dwelling_ids.map(len).eq(1)]
    assert ((ok.households >= 10) & (ok.households <= 30)).mean() > 0.8


def test_partition_rebuilt_from_stored_units(plan):
    c = plan.communities[sorted(plan.communities)[0]]
    frame = c.unit_frame()
    units = units_from_frame(frame, c.units.crs)
    p = Partition(units, [c.partition.labels.index(g) for g in frame["grid"]], c.partition.labels,
                  c.partition.bounds, graph=build_graph(units.geometry, units.block))
    assert (p.households == c.partition.households).all()
    assert np.allclose(p.boundary_m, c.partition.boundary_m, atol=0.05)
    assert np.allclose(p.boundary_street_m, c.partition.boundary_street_m, atol=0.05)


def test_check_finds_faults_in_grids(district):
    d = district
    areas = d["areas"]
    comm = areas[areas.level == "community"]
    clean = check_grids(d["grids"], comm)  # the sample's grids tile their communities
    assert clean.empty
    grids = d["grids"].copy()
    first, second = grids.index[0], grids.index[1]
    grids.loc[first, "geometry"] = grids.loc[first, "geometry"].buffer(0.0005)  # ~50 m bigger: overlaps, outside
    grids.loc[second, "geometry"] = grids.loc[second, "geometry"].buffer(-0.0003)  # smaller: a gap
    report = check_grids(grids, comm, d["dwellings"])
    issues = set(report.issue)
    assert {"overlap", "outside", "gap"} <= issues
    assert grids.loc[first, "code"] in set(report[report.issue == "overlap"].grid) | set(
        report[report.issue == "overlap"].other_grid)
    sizes = d["dwellings"].groupby("grid_code")["households"].sum()
    under = set(sizes[sizes < 255].index)
    over = set(sizes[sizes > 345].index)
    assert set(report[report.issue == "under"].grid) == under
    assert set(report[report.issue == "over"].grid) == over
    two = grids.copy()
    two.loc[first, "geometry"] = shapely.union_all([d["grids"].loc[first, "geometry"],
                                                    d["grids"].loc[first, "geometry"].centroid.buffer(0.0001)
                                                    .buffer(0).difference(d["grids"].loc[first, "geometry"])])
    two.loc[first, "geometry"] = shapely.MultiPolygon([d["grids"].loc[first, "geometry"].geoms[0]
                                                       if hasattr(d["grids"].loc[first, "geometry"], "geoms")
                                                       else d["grids"].loc[first, "geometry"],
                                                       shapely.box(130, 10, 130.001, 10.001)])
    rep2 = check_grids(two, comm)
    assert "non_contiguous" in set(rep2[rep2.grid == two.loc[first, "code"]].issue)


def test_bisection_reproduces_the_sample_grids(district):
    """The sample generator's grids are a household bisection of each community's dwellings."""
    d = district
    crs = metric_crs_for(d["areas"])
    dw = d["dwellings"]
    comm = d["areas"].set_index("code")
    for code, g in dw.groupby("community_code"):
        xy = shapely.get_coordinates(_metric(g, crs))
        k = max(1, round(g.households.sum() / 300))
        poly = to_metric_geoms([comm.loc[code, "geometry"]], crs)[0]
        res = bisect_households(xy[:, 0], xy[:, 1], g.households.to_numpy(), k, polygon=poly)
        assert len(res.boxes) == k
        ours = pd.Series(res.labels, index=g.index)
        pairs = pd.crosstab(ours, g.grid_code)
        assert ((pairs > 0).sum(axis=1) == 1).all() and ((pairs > 0).sum(axis=0) == 1).all()
        for lab, box in enumerate(res.boxes):  # each point lies in its own box
            m = res.labels == lab
            assert (xy[m, 0] >= box[0]).all() and (xy[m, 0] <= box[2]).all()
            assert (xy[m, 1] >= box[1]).all() and (xy[m, 1] <= box[3]).all()
