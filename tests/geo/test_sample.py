"""The sample district: deterministic, well-formed, and shaped like the domain says."""

from pathlib import Path

import numpy as np
import pyogrio
import pytest
import shapely

from geo.layers import LAYERS
from geo.sample import make_district

GPKG = Path(__file__).resolve().parents[2] / "data" / "boundaries" / "sample_district.gpkg"


@pytest.fixture(scope="module")
def district():
    return make_district(households=6_000, seed=3)


def test_deterministic(district):
    again = make_district(households=6_000, seed=3)
    for name, frame in district.items():
        assert frame.geometry.equals(again[name].geometry), name
        assert frame.drop(columns="geometry").equals(again[name].drop(columns="geometry")), name


def test_columns_and_geometry(district):
    for name, frame in district.items():
        assert list(frame.columns) == [c.name for c in LAYERS[name].columns] + ["geometry"], name
        assert frame.crs.to_epsg() == 4326
        assert frame.geometry.is_valid.all(), name
        minx, miny, maxx, maxy = frame.total_bounds
        assert -180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90


def test_grids_tile_their_community(district):
    areas, grids = district["areas"], district["grids"]
    comm = areas[areas.level == "community"].set_index("code").geometry
    for code, g in grids.groupby("community_code").geometry:
        union = shapely.union_all(g.values)
        assert union.symmetric_difference(comm[code]).area < 1e-9 * comm[code].area + 1e-12
        assert sum(p.area for p in g) == pytest.approx(comm[code].area, rel=1e-9)  # no overlaps


def test_households_per_grid_near_300(district):
    hh = district["dwellings"].groupby("grid_code").households.sum()
    assert district["dwellings"].grid_code.notna().all()
    assert ((hh >= 255) & (hh <= 345)).mean() >= 0.7
    assert abs(hh.mean() - 300) < 30


def test_dwelling_grid_code_matches_polygon(district):
    d, g = district["dwellings"], district["grids"].set_index("code")
    inside = shapely.covers(g.geometry.loc[d.grid_code].values, d.geometry.values)
    assert inside.all()


def test_station_pattern(district):
    counts = district["stations"].groupby(["community_code", "kind"]).size().unstack()
    assert (counts["service_centre"] == 1).all()
    assert (counts["grid_station"] == 3).all()
    assert (counts["neighbourhood_point"] == 10).all()


def test_street_network_is_mostly_one_component(district):
    import networkx as nx

    c = shapely.get_coordinates(district["streets"].geometry.values).round(9).reshape(-1, 2, 2)
    g = nx.Graph()
    g.add_edges_from((tuple(a), tuple(b)) for a, b in c)
    giant = max(nx.connected_components(g), key=len)
    assert len(giant) >= 0.95 * g.number_of_nodes()


def test_incident_closure_rate(district):
    inc = district["incidents"]
    old = inc[inc.reported_at < inc.reported_at.max() - np.timedelta64(30, "D")]
    rate = old.status.isin(["resolved", "closed_other"]).mean()
    assert 0.98 <= rate <= 0.995
    closed = inc[inc.closed_at.notna()]
    assert (closed.closed_at > closed.reported_at).all()


def test_committed_sample_matches_generator():
    fresh = make_district()
    for name in LAYERS:
        stored = pyogrio.read_dataframe(GPKG, layer=name)
        key = LAYERS[name].key
        assert len(stored) == len(fresh[name]), name
        assert list(stored[key]) == list(fresh[name][key]), name
