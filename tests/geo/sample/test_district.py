"""The sample district: deterministic, well-formed, and shaped like the domain says.

Small districts keep this fast; one test compares the committed GeoPackage with the generator.
Checks use independent computations: geopandas spatial joins for containment, networkx for the
street graph, shapely's STRtree for dwelling-to-street distances, pandas for the incident rates.
"""

from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely

from geo.crs import metric_crs_for
from geo.errors import InvalidInput
from geo.layers import INCIDENT_CATEGORIES, LAYERS, ROAD_CLASSES, STATION_KINDS
from geo.sample import make_district

GPKG = Path(__file__).resolve().parents[3] / "data" / "boundaries" / "sample_district.gpkg"
H = 6_000


@pytest.fixture(scope="module")
def district():
    return make_district(households=H, seed=3)


@pytest.fixture(scope="module")
def city():
    """Big enough for several towns (30 communities), few incidents."""
    return make_district(households=45_000, seed=5, incidents=500)


def test_deterministic(district):
    again = make_district(households=H, seed=3)
    other = make_district(households=H, seed=4)
    for name, frame in district.items():
        assert frame.geometry.equals(again[name].geometry), name
        pd.testing.assert_frame_equal(frame.drop(columns="geometry"), again[name].drop(columns="geometry"))
    assert not district["dwellings"].geometry.equals(other["dwellings"].geometry)


def test_columns_geometry_and_place(district):
    for name, frame in district.items():
        assert list(frame.columns) == [c.name for c in LAYERS[name].columns] + ["geometry"], name
        assert frame.crs.to_epsg() == 4326
        assert frame.geometry.notna().all() and frame.geometry.is_valid.all(), name
        assert set(frame.geom_type) == {LAYERS[name].geometry}, name
        minx, miny, maxx, maxy = frame.total_bounds
        assert 119.9 < minx <= maxx < 120.8 and 31.6 < miny <= maxy < 32.1, name  # around Jiangyin
        for c in LAYERS[name].required:
            assert frame[c].notna().all(), (name, c)
        key = LAYERS[name].key
        assert frame[key].is_unique, name


def test_hierarchy_codes_and_tiling(city):
    areas = city["areas"]
    towns, comms = areas[areas.level == "town"], areas[areas.level == "community"]
    assert len(comms) == 30 and len(towns) == 2
    assert towns.code.str.fullmatch(r"320281\d{3}").all()
    assert comms.code.str.fullmatch(r"320281\d{6}").all()
    assert (comms.code.str[:9] == comms.parent_code).all() and comms.parent_code.isin(towns.code).all()
    assert towns.name.str.startswith("示例").all()
    m = areas.to_crs(metric_crs_for(areas))
    district = shapely.union_all(m.geometry[m.level == "town"].values)
    assert shapely.get_num_geometries(district) == 1
    assert m.geometry[m.level == "town"].area.sum() == pytest.approx(district.area, rel=1e-9)  # no overlaps
    for code, town in m[m.level == "town"].set_index("code").geometry.items():
        parts = m.geometry[m.parent_code == code]
        assert parts.area.sum() == pytest.approx(town.area, rel=1e-9)
        assert shapely.union_all(parts.values).symmetric_difference(town).area < 1e-6 * town.area


def test_grids_nest_in_and_tile_their_community(district, city):
    for d in (district, city):
        areas, grids = d["areas"], d["grids"]
        crs = metric_crs_for(areas)
        comm = areas[areas.level == "community"].to_crs(crs).set_index("code").geometry
        g = grids.to_crs(crs)
        outside = shapely.area(shapely.difference(g.geometry.values, comm.loc[g.community_code].values))
        assert outside.max() < 0.01  # square metres
        for code, parts in g.groupby("community_code").geometry:
            assert parts.area.sum() == pytest.approx(comm[code].area, rel=1e-9)  # no overlaps ...
            assert shapely.union_all(parts.values).symmetric_difference(comm[code]).area < 1e-6 * comm[code].area  # ... no holes
        assert (shapely.get_num_geometries(g.geometry.values) == 1).all()  # contiguous
        assert g.code.str.fullmatch(r"\d{12}-\d{2}").all() and (g.code.str[:12] == g.community_code).all()
        assert g[["chief", "worker", "phone"]].notna().all().all()


def test_households_per_grid_and_community(district, city):
    for d, total in ((district, H), (city, 45_000)):
        dw = d["dwellings"]
        assert dw.households.sum() == total
        per_grid = dw.groupby("grid_code").households.sum()
        assert set(per_grid.index) == set(d["grids"].code)
        assert ((per_grid >= 255) & (per_grid <= 345)).mean() >= 0.9
        per_comm = dw.groupby("community_code").households.sum()
        assert per_comm.between(1_000, 2_000).all()  # ~1,500 per community
    dw = district["dwellings"]
    apt = dw[dw.building_type == "apartments"]
    house = dw[dw.building_type == "house"]
    assert len(apt) and len(house)
    assert apt.households.between(12, 120).all() and house.households.between(1, 3).all()
    assert dw.population.sum() / dw.households.sum() == pytest.approx(2.6, abs=0.1)


def test_dwelling_codes_match_the_polygons_they_stand_in(district):
    dw, grids, areas = district["dwellings"], district["grids"], district["areas"]
    j = gpd.sjoin(dw[["source_id", "grid_code", "geometry"]], grids[["code", "geometry"]], predicate="within")
    assert len(j) == len(dw) and (j.grid_code == j.code).all()
    comm = areas[areas.level == "community"][["code", "geometry"]]
    j = gpd.sjoin(dw[["community_code", "geometry"]], comm, predicate="within")
    assert len(j) == len(dw) and (j.community_code == j.code).all()


def test_dwellings_stand_near_a_street(district):
    crs = metric_crs_for(district["streets"])
    streets = district["streets"].to_crs(crs).geometry.values
    dw = district["dwellings"].to_crs(crs).geometry.values
    _, dist = shapely.STRtree(streets).query_nearest(dw, return_distance=True, all_matches=False)
    assert ((dist >= 10) & (dist <= 120)).mean() >= 0.95
    assert dist.max() <= 120


def test_station_pattern(district, city):
    for d in (district, city):
        st = d["stations"]
        counts = st.groupby(["community_code", "kind"]).size().unstack(fill_value=0)
        assert set(counts.columns) == set(STATION_KINDS)
        assert (counts["service_centre"] == 1).all() and (counts["grid_station"] == 3).all()
        assert (counts["neighbourhood_point"] == 10).all()
        assert len(counts) == (d["areas"].level == "community").sum()
        j = gpd.sjoin(st[["community_code", "geometry"]], d["areas"][d["areas"].level == "community"][["code", "geometry"]],
                      predicate="within")
        assert (j.community_code == j.code).all() and len(j) == len(st)
        assert not st.geometry.duplicated().any()


def test_street_graph(district):
    s = district["streets"]
    ends = np.stack([shapely.get_coordinates(shapely.get_point(s.geometry.values, i)) for i in (0, -1)], axis=1)
    g = nx.MultiGraph()
    g.add_edges_from((tuple(a), tuple(b)) for a, b in ends)
    giant = max(nx.connected_components(g), key=len)
    assert len(giant) >= 0.95 * g.number_of_nodes()
    deg = np.array([d for _, d in g.degree()])
    assert (deg == 1).sum() > 0.01 * len(deg)  # dead ends
    assert (deg >= 3).mean() > 0.4  # junctions
    # rows meet only at their end points: no two rows cross in their interiors
    crs = metric_crs_for(s)
    m = s.to_crs(crs).geometry.values
    a, b = shapely.STRtree(m).query(m, predicate="crosses")
    assert len(a) == 0
    classes = set(s.road_class)
    assert {"primary", "secondary", "tertiary", "residential", "service", "footway", "path"} <= classes
    expected = np.array([ROAD_CLASSES[c][:3] for c in s.road_class])
    assert (s[["walk", "bike", "drive"]].to_numpy() == expected).all()
    assert s.oneway.isin([-1, 0, 1]).all() and (s.oneway != 0).sum() > 0 and s.drive[s.oneway != 0].all()
    assert s.speed_kmh[s.drive].gt(0).all() and s.speed_kmh[~s.drive].isna().all()


def test_incidents(district):
    inc = district["incidents"]
    assert len(inc) == round(95_399 / 500_000 * H)
    assert set(inc.category) <= set(INCIDENT_CATEGORIES) and inc.category.nunique() == len(INCIDENT_CATEGORIES)
    assert inc.external_id.str.fullmatch(r"INC-\d{4}-\d{6}").all()
    end = pd.Timestamp("2026-11-01", tz="Asia/Shanghai")
    assert inc.reported_at.max() < end and inc.reported_at.min() >= end - pd.Timedelta(days=365)
    old = inc[inc.reported_at < end - pd.Timedelta(days=30)]
    rate = old.status.isin(["resolved", "closed_other"]).mean()
    assert 0.98 <= rate <= 0.995
    closed = inc[inc.closed_at.notna()]
    assert (closed.closed_at > closed.reported_at).all() and (closed.closed_at <= end).all()
    assert closed.status.isin(["resolved", "closed_other"]).all()
    assert (inc.close_reason.notna() == (inc.status == "closed_other")).all()
    hours = (closed.closed_at - closed.reported_at).dt.total_seconds() / 3600
    assert 12 <= hours.median() <= 48 and hours.quantile(0.99) > 5 * hours.median()  # long tail
    local = inc.reported_at.dt.tz_convert("Asia/Shanghai")
    assert (local.dt.hour < 6).mean() < 0.1  # few at night
    assert (local.dt.day_of_week < 5).mean() > 5 / 7  # more on weekdays
    assert inc.reporter_kind.value_counts().index[0] == "grid_worker"
    assert inc.escalation_level.value_counts().index[0] == "grid" and inc.escalation_level.nunique() == 4
    j = gpd.sjoin(inc[["external_id", "geometry"]], district["grids"][["code", "geometry"]], predicate="within", how="left")
    outside = j.code.isna().sum()
    assert 1 <= outside <= 0.01 * len(inc)  # a handful, kept for the outside-grid path


def test_exact_incident_count_and_bad_arguments():
    d = make_district(households=1_500, incidents=37, incident_years=2)
    assert len(d["incidents"]) == 37
    assert d["dwellings"].households.sum() == 1_500
    with pytest.raises(InvalidInput) as e:
        make_district(households=10, region_code="32")
    assert {p.field for p in e.value.problems} == {"households", "region_code"}


def test_committed_sample_matches_generator():
    fresh = make_district()
    assert GPKG.stat().st_size < 10 * 2**20
    for name in LAYERS:
        stored = pyogrio.read_dataframe(GPKG, layer=name)
        key = LAYERS[name].key
        assert len(stored) == len(fresh[name]), name
        assert list(stored[key]) == list(fresh[name][key]), name
        assert np.allclose(shapely.get_coordinates(stored.geometry.values),
                           shapely.get_coordinates(fresh[name].geometry.values), rtol=0, atol=1e-9), name
    stored = pyogrio.read_dataframe(GPKG, layer="dwellings")
    assert list(stored.grid_code) == list(fresh["dwellings"].grid_code)
    assert list(stored.households) == list(fresh["dwellings"].households)


def test_river_is_crossed_only_by_bridges():
    """Rebuild the default layout and streets and intersect them with the river centreline."""
    from geo.sample.district import shares
    from geo.sample.dwellings import context_fn, make_hamlets
    from geo.sample.layout import make_layout, river_y
    from geo.sample.streets import make_lattice, make_streets

    def rng(k):
        return np.random.default_rng([0, k])

    lay = make_layout(rng(1), 12_000, 8, 1)
    lat = make_lattice(rng(4), lay)
    st = make_streets(rng(5), lat, lay, context_fn(lay, make_hamlets(rng(3), lay, shares(rng(2), 8, 12_000))))
    minx, _, maxx, _ = lay.outline.bounds
    xs = np.linspace(minx, maxx, 4_000)
    river = shapely.intersection(shapely.linestrings(np.column_stack([xs, river_y(lay.river, xs)])), lay.outline)
    assert river.length > 3_000
    crossing = shapely.intersects(shapely.linestrings(st["coords"]), river)
    assert 2 <= crossing.sum() <= river.length / 1_000  # a few bridges, roughly one a kilometre at most
    assert set(st["road_class"][crossing]) <= {"primary", "secondary"}


def test_large_communities_option():
    """``community_households``: fewer, larger communities (a merged village of thousands of houses,
    the workbench benchmark's case); households still exact, dwellings counted inside the polygons."""
    d = make_district(households=24_000, seed=2, incidents=0, community_households=6_000)
    comm = d["areas"][d["areas"].level == "community"]
    assert len(comm) == 4 and int(d["dwellings"].households.sum()) == 24_000
    j = gpd.sjoin(d["dwellings"][["geometry"]], comm[["code", "geometry"]], predicate="within")
    assert j.groupby("code").size().max() >= 2_500
    with pytest.raises(InvalidInput):
        make_district(households=3_000, community_households=100)
