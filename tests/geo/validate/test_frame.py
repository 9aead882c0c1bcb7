"""validate_frame: every check reports row, field, id and reason; clean frames come back typed."""

import datetime as dt

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from geo.errors import InvalidInput
from geo.layers import LAYERS
from geo.validate import validate_frame

BOWTIE = shapely.from_wkt("POLYGON((120 31, 120.01 31.01, 120.01 31, 120 31.01, 120 31))")


def grids(**over):
    data = {"code": ["g1", "g2"], "name": ["一网格", "二网格"], "community_code": ["c1", "c1"]}
    geoms = over.pop("geometry", [shapely.box(120, 31, 120.01, 31.01), shapely.box(120.01, 31, 120.02, 31.01)])
    data.update(over)
    return gpd.GeoDataFrame(data, geometry=geoms, crs=4326)


def dwellings(**over):
    data = {"source_id": ["d1", "d2", "d3"], "households": ["10", "20", "30"]}
    geoms = over.pop("geometry", [shapely.Point(120.3, 31.9), shapely.Point(120.31, 31.9), shapely.Point(120.32, 31.9)])
    data.update(over)
    return gpd.GeoDataFrame(data, geometry=geoms, crs=4326)


def problems(layer, frame, **kw):
    with pytest.raises(InvalidInput) as e:
        validate_frame(layer, frame, **kw)
    return e.value.problems


def test_clean_grid_frame_is_typed_and_multipolygon():
    out = validate_frame("grids", grids(valid_from=["2024-01-01 08:00", None]))
    assert list(out.columns) == [c.name for c in LAYERS["grids"].columns] + ["geometry"]
    assert (out.geometry.geom_type == "MultiPolygon").all()
    assert out.crs.to_epsg() == 4326
    # naive times are China Standard Time: 08:00 +08:00 is midnight UTC
    assert out["valid_from"].iloc[0] == pd.Timestamp("2024-01-01 00:00", tz="UTC")
    assert out["valid_from"].isna().iloc[1]
    assert out["region_code"].isna().all()  # filled by the loader


def test_missing_required_columns_named_with_columns_found():
    ps = problems("grids", grids().drop(columns=["community_code", "name"]))
    assert "community_code" in ps[0].reason and "name" in ps[0].reason
    assert "columns found: code" in ps[0].reason


def test_wrong_types_reported_per_row():
    frame = dwellings(households=["10", "many", "2.5"], levels=["3", "x", None])
    ps = problems("dwellings", frame)
    got = {(p.row, p.field, p.feature_id) for p in ps}
    assert got == {(2, "households", "d2"), (3, "households", "d3"), (2, "levels", "d2")}
    assert any("'many' is not a whole number" in p.reason for p in ps)


def test_bad_dates_and_booleans():
    st = gpd.GeoDataFrame({"source_id": ["s1", "s2"], "name": ["a", "b"], "kind": ["grid_station"] * 2,
                           "opened_on": ["2024-03-01", "yesterday"]},
                          geometry=[shapely.Point(120, 31)] * 2, crs=4326)
    ps = problems("stations", st)
    assert [(p.row, p.field) for p in ps] == [(2, "opened_on")]
    sts = gpd.GeoDataFrame({"source_id": ["a", "b"], "road_class": ["residential"] * 2, "walk": ["是", "maybe"]},
                           geometry=[shapely.LineString([(120, 31), (120.01, 31)])] * 2, crs=4326)
    ps = problems("streets", sts)
    assert [(p.row, p.field) for p in ps] == [(2, "walk")]
    out = validate_frame("stations", st.iloc[:1])
    assert out["opened_on"].iloc[0] == dt.date(2024, 3, 1)


def test_empty_and_wrong_geometry():
    frame = dwellings(geometry=[None, shapely.box(120, 31, 121, 32), shapely.Point()])
    ps = problems("dwellings", frame)
    reasons = {p.row: p.reason for p in ps}
    assert "empty or missing" in reasons[1] and "empty or missing" in reasons[3]
    assert "Polygon" in reasons[2] and "needs a Point" in reasons[2]


def test_self_intersection_location_and_fix():
    frame = grids(geometry=[BOWTIE, shapely.box(120.01, 31, 120.02, 31.01)])
    ps = problems("grids", frame)
    assert len(ps) == 1 and ps[0].row == 1 and ps[0].feature_id == "g1"
    assert "Self-intersection at lon/lat (120.005, 31.005)" in ps[0].reason and "--fix" in ps[0].reason
    out = validate_frame("grids", frame, fix=True)
    assert out.geometry.is_valid.all() and (out.geometry.geom_type == "MultiPolygon").all()
    # make_valid keeps both triangles of the bow tie: area equals the independent computation
    tri = shapely.Polygon([(120, 31), (120.005, 31.005), (120, 31.01)])
    assert out.geometry.iloc[0].area == pytest.approx(2 * tri.area, rel=1e-9)
    assert [f.row for f in out.attrs["fixes"]] == [1]


def test_coordinates_out_of_range_and_swapped():
    frame = dwellings(geometry=[shapely.Point(31.9, 120.3), shapely.Point(10.0, 95.0), shapely.Point(200.0, 40.0)])
    ps = {p.row: p.reason for p in problems("dwellings", frame)}
    assert "look swapped" in ps[1] and "China" in ps[1]
    assert "latitude 95 is out of range; lon/lat look swapped" in ps[2]
    assert "longitude 200 is out of range" in ps[3] and "--crs" in ps[3]


def test_duplicate_keys_list_each_other():
    ps = problems("dwellings", dwellings(source_id=["d1", "d2", "d1"]))
    assert [(p.row, p.field) for p in ps] == [(1, "source_id"), (3, "source_id")]
    assert "also in row 3" in ps[0].reason and "also in row 1" in ps[1].reason


def test_same_key_in_other_region_is_not_duplicate():
    out = validate_frame("dwellings", dwellings(source_id=["d1", "d2", "d1"], region_code=["320281", "320281", "320282"]))
    assert len(out) == 3


def test_domain_values():
    areas = gpd.GeoDataFrame({"code": ["t", "c"], "name": ["镇", "社区"], "level": ["town", "village_group"],
                              "region_code": ["320281", "32028"]},
                             geometry=[shapely.box(120, 31, 121, 32)] * 2, crs=4326)
    ps = {(p.row, p.field): p.reason for p in problems("areas", areas)}
    assert set(ps) == {(2, "level"), (2, "region_code")}
    streets = gpd.GeoDataFrame({"source_id": ["a", "b"], "road_class": ["primary", "path"], "oneway": ["2", "-1"],
                                "speed_kmh": ["-5", None]},
                               geometry=[shapely.LineString([(120, 31), (120.01, 31)])] * 2, crs=4326)
    assert {(p.row, p.field) for p in problems("streets", streets)} == {(1, "oneway"), (1, "speed_kmh")}
    assert {(p.row, p.field) for p in problems("dwellings", dwellings(households=["-1", "0", "3"]))} == {(1, "households")}


def test_every_problem_at_once():
    frame = dwellings(source_id=["d1", "d1", None], households=["x", "1", "2"],
                      geometry=[shapely.Point(31.9, 120.3), shapely.Point(120, 31), None])
    ps = problems("dwellings", frame)
    assert {(p.row, p.field) for p in ps} == {
        (1, "source_id"), (2, "source_id"), (1, "households"), (1, "geometry"), (3, "source_id"), (3, "geometry")}


def test_row_offset_shifts_rows():
    ps = problems("dwellings", dwellings(households=["1", "x", "2"]), row_offset=101)
    assert ps[0].row == 102


def test_street_defaults_from_road_class():
    streets = gpd.GeoDataFrame({"source_id": ["a", "b"], "road_class": ["footway", "motorway"]},
                               geometry=[shapely.LineString([(120, 31), (120.01, 31)])] * 2, crs=4326)
    out = validate_frame("streets", streets)
    assert out[["walk", "bike", "drive"]].values.tolist() == [
        [True, False, False], [False, False, True]]
    assert out["oneway"].tolist() == [0, 0]


def test_multilinestring_that_joins_is_accepted():
    ml = shapely.MultiLineString([[(120, 31), (120.01, 31)], [(120.01, 31), (120.02, 31)]])
    split = shapely.MultiLineString([[(120, 31), (120.01, 31)], [(120.05, 31), (120.06, 31)]])
    frame = gpd.GeoDataFrame({"source_id": ["a", "b"], "road_class": ["path", "path"]}, geometry=[ml, split], crs=4326)
    ps = problems("streets", frame)
    assert [p.row for p in ps] == [2]
    out = validate_frame("streets", frame.iloc[:1])
    assert out.geometry.iloc[0].geom_type == "LineString" and out.geometry.iloc[0].length == pytest.approx(0.02)


def test_unknown_layer_and_reprojection():
    with pytest.raises(InvalidInput, match="Unknown layer"):
        validate_frame("parcels", dwellings())
    gk = dwellings().to_crs(4549)
    out = validate_frame("dwellings", gk)
    assert np.allclose(shapely.get_coordinates(out.geometry.to_numpy()),
                       [[120.3, 31.9], [120.31, 31.9], [120.32, 31.9]], atol=1e-8)


def test_vectorised_on_many_rows():
    n = 50_000
    rng = np.random.default_rng(0)
    frame = gpd.GeoDataFrame({"source_id": np.arange(n).astype(str), "households": rng.integers(0, 40, n)},
                             geometry=shapely.points(rng.uniform(120, 121, n), rng.uniform(31, 32, n)), crs=4326)
    bad = rng.choice(n, 50, replace=False)
    frame.loc[bad, "households"] = -1
    ps = problems("dwellings", frame)
    assert sorted(p.row for p in ps) == sorted((bad + 1).tolist())


def _incidents(reported_at):
    n = len(reported_at)
    return gpd.GeoDataFrame({"external_id": [f"e{i}" for i in range(n)], "category": ["environment"] * n,
                             "reported_at": reported_at},
                            geometry=[shapely.Point(120.3, 31.9)] * n, crs=4326)


@pytest.mark.parametrize("as_datetime64", [False, True])
def test_naive_times_are_read_in_the_given_zone(as_datetime64):
    """GRIDMAP_TIMEZONE reaches validation: the zone of naive times is validate_frame's ``tz``."""
    from zoneinfo import ZoneInfo

    text = ["2026-05-01 08:00:00", "2026-01-15 23:30:00", "2026-05-01T08:00:00+02:00"]
    values = pd.to_datetime(text[:2]) if as_datetime64 else text
    for tz in ("Asia/Shanghai", "UTC", "America/New_York"):
        out = validate_frame("incidents", _incidents(values), tz=tz)["reported_at"]
        want = [dt.datetime.fromisoformat(t).replace(tzinfo=ZoneInfo(tz)).astimezone(dt.timezone.utc)
                for t in text[:2]]  # the standard library's own conversion
        assert [t.to_pydatetime() for t in out[:2]] == want, tz
    default = validate_frame("incidents", _incidents(values))["reported_at"]
    assert default[0] == pd.Timestamp("2026-05-01T00:00:00Z")  # the default zone is China Standard Time
    if not as_datetime64:  # an explicit offset wins over the zone
        out = validate_frame("incidents", _incidents(text), tz="UTC")["reported_at"]
        assert out[2] == pd.Timestamp("2026-05-01T06:00:00Z")


def test_unknown_zone_is_refused():
    with pytest.raises(InvalidInput) as e:
        validate_frame("incidents", _incidents(["2026-05-01 08:00"]), tz="Mars/Olympus")
    assert e.value.problems[0].field == "tz"
