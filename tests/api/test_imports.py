"""``gridmap import``: good imports of every layer, upserts, grid history, ``--set column=value``, and
every bad input leaving the database unchanged (real PostGIS; the CLI run through typer's CliRunner)."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pyrosm
import pytest
import shapely
from sqlalchemy import text

import coordTransform as ct
from api.db.load import reattribute_dwellings
from api.imports import import_frame, load_sample
from api.settings import Settings
from geo.errors import InvalidInput
from geo.osm import read_osm

from tests.support.cli import flat
from tests.support.imports import (
    GRIDS, REGION, TOWN, areas_file, counts, dwellings_csv, grids_file, grids_frame, load_base, sample_gpkg,
)


# --- good imports ---------------------------------------------------------------------------------

def test_import_areas_and_grids(cli, db, tmp_path):
    load_base(cli, tmp_path)
    with db.connect() as conn:
        rows = conn.execute(text("SELECT code, level, name, ST_Area(geom) FROM areas ORDER BY code")).all()
        grids = conn.execute(text("SELECT code, community_code, chief, valid_from, valid_to, ST_AsText(geom) "
                                  "FROM grids ORDER BY code")).all()
    assert [(r[0], r[1]) for r in rows] == [("C1", "community"), ("C2", "community"), ("T1", "town")]
    assert rows[2][3] == pytest.approx(TOWN.area)
    assert [g[0] for g in grids] == ["G1", "G2", "G3"]
    assert all(g.valid_to is None for g in grids)
    with db.connect() as conn:  # a first import has always been valid: incidents of any date attribute to it
        assert conn.execute(text("SELECT bool_and(valid_from = '-infinity') FROM grids")).scalar_one()
    for g in grids:
        assert shapely.from_wkt(g[5]).equals(GRIDS[g[0]][0]) and g.chief == "张三"


def test_import_dwellings_assigns_grids_by_point_in_polygon(cli, db, tmp_path):
    load_base(cli, tmp_path)
    path, df = dwellings_csv(tmp_path)
    r = cli("import", "dwellings", path, "--map", "source_id=编号")
    assert r.exit_code == 0, r.output
    assert "40 inserted" in r.output and "WGS84" in r.output
    with db.connect() as conn:
        got = dict(conn.execute(text("SELECT source_id, grid_code FROM dwellings")).all())
        total = conn.execute(text("SELECT sum(households) FROM dwellings")).scalar_one()
    assert total == df["户数"].sum()
    for sid, lon, lat in zip(df["编号"], df["经度"], df["纬度"]):
        expect = [k for k, (g, _) in GRIDS.items() if g.covers(shapely.Point(lon, lat))]
        assert got[sid] == sorted(expect)[0]


def test_import_stations_xlsx_and_streets_shapefile(cli, db, tmp_path):
    load_base(cli, tmp_path)
    pd.DataFrame({"名称": ["党群服务中心", "一站"], "类型": ["service_centre", "grid_station"], "source_id": ["S1", "S2"],
                  "开放时间": ["Mo-Fr 08:30-17:30", None], "经度": [120.01, 120.07], "纬度": [31.01, 31.02]}
                 ).to_excel(tmp_path / "s.xlsx", index=False)
    r = cli("import", "stations", tmp_path / "s.xlsx")
    assert r.exit_code == 0, r.output
    streets = gpd.GeoDataFrame({"sid": ["r1", "r2"], "名称": ["人民路", "小巷"], "cls": ["primary", "footway"],
                                "oneway": [1, 0]},
                               geometry=[shapely.LineString([(120.0, 31.05), (120.1, 31.05)]),
                                         shapely.LineString([(120.02, 31.0), (120.02, 31.1)])], crs=4326)
    streets.to_crs(4549).to_file(tmp_path / "streets.shp", encoding="gbk")
    r = cli("import", "streets", tmp_path / "streets.shp", "--map", "source_id=sid", "--map", "road_class=cls",
            "--map", "name=名称")
    assert r.exit_code == 0, r.output
    with db.connect() as conn:
        st = conn.execute(text("SELECT source_id, name, kind, community_code, opening_hours FROM stations "
                               "ORDER BY source_id")).all()
        sr = conn.execute(text("SELECT source_id, name, walk, bike, drive, oneway, ST_AsText(geom) FROM streets "
                               "ORDER BY source_id")).all()
    assert [tuple(s) for s in st] == [("S1", "党群服务中心", "service_centre", "C1", "Mo-Fr 08:30-17:30"),
                                      ("S2", "一站", "grid_station", "C2", None)]
    assert [(s.name, s.walk, s.bike, s.drive, s.oneway) for s in sr] == [
        ("人民路", True, True, True, 1), ("小巷", True, False, False, 0)]
    assert np.allclose(shapely.get_coordinates(shapely.from_wkt(sr[0][6])), [[120.0, 31.05], [120.1, 31.05]],
                       atol=1e-8)


def test_import_gcj02_converts_to_wgs84(cli, db, tmp_path):
    load_base(cli, tmp_path)
    pts = [(120.01, 31.01), (120.06, 31.07)]
    shifted = [ct.wgs84_to_gcj02(*p) for p in pts]
    pd.DataFrame({"source_id": ["a", "b"], "households": [3, 4], "lng": [s[0] for s in shifted],
                  "lat": [s[1] for s in shifted]}).to_csv(tmp_path / "amap.csv", index=False)
    r = cli("import", "dwellings", tmp_path / "amap.csv", "--coords", "gcj02")
    assert r.exit_code == 0, r.output
    assert "GCJ02" in r.output
    with db.connect() as conn:
        got = conn.execute(text("SELECT ST_X(geom), ST_Y(geom) FROM dwellings ORDER BY source_id")).all()
    assert np.abs(np.array(got) - np.array(pts)).max() < 1e-8  # ~1 mm


def test_reimport_is_idempotent(cli, db, tmp_path):
    load_base(cli, tmp_path)
    path, _ = dwellings_csv(tmp_path)
    assert cli("import", "dwellings", path, "--map", "source_id=编号").exit_code == 0
    before = counts(db)
    with db.connect() as conn:
        stamp = conn.execute(text("SELECT max(updated_at) FROM dwellings")).scalar_one()
    r = cli("import", "dwellings", path, "--map", "source_id=编号")
    assert r.exit_code == 0, r.output
    assert "0 inserted, 0 updated, 40 unchanged" in r.output
    assert counts(db) == before
    r = cli("import", "grids", grids_file(tmp_path), "--layer", "网格")
    assert "0 added, 0 changed (new version), 0 updated in place, 3 unchanged, 0 closed" in " ".join(r.output.split())
    assert counts(db) == before
    with db.connect() as conn:
        assert conn.execute(text("SELECT max(updated_at) FROM dwellings")).scalar_one() == stamp
    # a changed value is an update, not a new row
    df = pd.read_csv(path)
    df.loc[0, "户数"] = 999
    df.to_csv(path, index=False)
    r = cli("import", "dwellings", path, "--map", "source_id=编号")
    assert "0 inserted, 1 updated, 39 unchanged" in r.output
    with db.connect() as conn:
        assert conn.execute(text("SELECT households FROM dwellings WHERE source_id='D0'")).scalar_one() == 999
    assert counts(db)["dwellings"] == 40


def test_grid_boundary_change_makes_a_new_version(cli, db, tmp_path):
    load_base(cli, tmp_path)
    path, _ = dwellings_csv(tmp_path)
    assert cli("import", "dwellings", path, "--map", "source_id=编号").exit_code == 0
    # move the G1/G2 border north; G3 unchanged; G1's chief changes too
    changed = {"G1": shapely.box(120.0, 31.0, 120.05, 31.07), "G2": shapely.box(120.0, 31.07, 120.05, 31.1),
               "G3": GRIDS["G3"][0]}
    frame = grids_frame(changed)
    r = cli("import", "grids", grids_file(tmp_path, frame, "g2.gpkg"), "--layer", "网格")
    assert r.exit_code == 0, r.output
    assert "0 added, 2 changed (new version), 0 updated in place, 1 unchanged, 0 closed" in " ".join(r.output.split())
    with db.connect() as conn:
        rows = conn.execute(text("SELECT code, valid_from, valid_to, ST_AsText(geom) FROM grids ORDER BY code, id")).all()
        current = conn.execute(text("SELECT code, ST_AsText(geom) FROM current_grids ORDER BY code")).all()
    assert [r_[0] for r_ in rows] == ["G1", "G1", "G2", "G2", "G3"]
    old, new = rows[0], rows[1]
    assert old.valid_to == new.valid_from and old.valid_to is not None and new.valid_to is None
    assert shapely.from_wkt(old[3]).equals(GRIDS["G1"][0])
    assert [c[0] for c in current] == ["G1", "G2", "G3"]
    for code, wkt in current:
        assert shapely.from_wkt(wkt).equals(changed[code])
    # dwellings follow in the same import, checked by brute force against the new boundaries
    with db.connect() as conn:
        got = dict(conn.execute(text("SELECT source_id, grid_code FROM dwellings")).all())
        pts = dict(conn.execute(text("SELECT source_id, ST_AsText(geom) FROM dwellings")).all())
    expect = {sid: sorted(k for k, g in changed.items() if g.covers(shapely.from_wkt(w)))[0] for sid, w in pts.items()}
    assert got == expect
    moved = sum(1 for sid, w in pts.items() if 31.05 <= shapely.from_wkt(w).y < 31.07 and shapely.from_wkt(w).x < 120.05)
    assert moved > 0 and f"re-attributed: {moved} dwelling(s), 0 incident(s)" in " ".join(r.output.split())
    with db.begin() as conn:  # a whole-region pass finds nothing left to move
        assert reattribute_dwellings(conn, REGION) == 0


def test_fix_repairs_self_intersecting_grid(cli, db, tmp_path):
    r = cli("import", "areas", areas_file(tmp_path))
    assert r.exit_code == 0
    bowtie = shapely.from_wkt("POLYGON((120 31, 120.04 31.04, 120.04 31, 120 31.04, 120 31))")
    path = grids_file(tmp_path, grids_frame({"G1": bowtie}))
    r = cli("import", "grids", path, "--fix")
    assert r.exit_code == 0, r.output
    assert "fixed" in r.output and "Self-intersection" in r.output
    with db.connect() as conn:
        assert conn.execute(text("SELECT ST_IsValid(geom) AND ST_NumGeometries(geom) = 2 FROM grids")).scalar_one()


def test_import_osm_test_extract(cli, db):
    pbf = pyrosm.get_data("test_pbf")
    r = cli("import", "osm", pbf, "--region", "320282")
    assert r.exit_code == 0, r.output
    frames = read_osm(pbf)
    with db.connect() as conn:
        n_streets = conn.execute(text("SELECT count(*) FROM streets WHERE region_code='320282'")).scalar_one()
        n_dw, hh = conn.execute(text("SELECT count(*), sum(households) FROM dwellings")).one()
        n_st = conn.execute(text("SELECT count(*) FROM stations")).scalar_one()
        length = conn.execute(text("SELECT sum(ST_Length(geom::geography)) FROM streets")).scalar_one()
    assert n_streets == len(frames["streets"]) > 500
    assert n_dw == len(frames["dwellings"]) > 1000 and hh == frames["dwellings"]["households"].sum()
    assert n_st == 0 and "candidate station" in r.output and "OpenStreetMap contributors" in r.output
    # same network length as pyrosm's ways, measured independently
    net = pyrosm.OSM(pbf).get_network(network_type="all")
    assert length == pytest.approx(gpd.GeoSeries(net.geometry, crs=4326).to_crs(32635).length.sum(), rel=2e-3)
    again = cli("import", "osm", pbf, "--region", "320282")
    assert again.exit_code == 0 and counts(db)["streets"] == n_streets


def test_import_incidents_dispatches_to_intake(cli, db, tmp_path):
    load_base(cli, tmp_path)
    (tmp_path / "inc.csv").write_text(
        "external_id,category,reported_at,经度,纬度\n"
        "12345-1,parking,2025-03-01 09:30,120.01,31.01\n"
        "12345-2,street_light,2025-03-02 20:00,120.07,31.08\n")
    r = cli("import", "incidents", tmp_path / "inc.csv")
    assert r.exit_code == 0, r.output
    assert "2 inserted" in r.output
    with db.connect() as conn:
        got = conn.execute(text("SELECT external_id, grid_code FROM incidents ORDER BY external_id")).all()
    assert [tuple(g) for g in got] == [("12345-1", "G1"), ("12345-2", "G3")]
    r = cli("import", "incidents", tmp_path / "inc.csv")
    assert r.exit_code == 0 and "2 duplicate" in r.output
    assert counts(db)["incidents"] == 2


# --- --set column=value ------------------------------------------------------------------------------

def test_set_gives_a_column_one_value_before_validation(cli, db, tmp_path):
    load_base(cli, tmp_path)
    path, df = dwellings_csv(tmp_path)  # its 户数 column is not mapped: --set gives households
    r = cli("import", "dwellings", path, "--map", "source_id=编号", "--set", "households=7")
    assert r.exit_code == 0, r.output
    streets = gpd.GeoDataFrame({"source_id": ["R1", "R2"]}, geometry=[
        shapely.LineString([(120.01, 31.01), (120.02, 31.02)]), shapely.LineString([(120.02, 31.02), (120.03, 31.02)])],
        crs=4326)
    streets.to_file(tmp_path / "streets.gpkg", layer="streets")
    r = cli("import", "streets", tmp_path / "streets.gpkg", "--set", "road_class=residential", "--set", "name=人民路")
    assert r.exit_code == 0, r.output
    with db.connect() as conn:
        assert conn.execute(text("SELECT count(*), sum(households), min(households) FROM dwellings")).one() == (
            len(df), 7 * len(df), 7)
        assert conn.execute(text("SELECT array_agg(DISTINCT road_class), array_agg(DISTINCT name) FROM streets")
                            ).one() == (["residential"], ["人民路"])
    # the value is validated like the file's own
    before = counts(db)
    r = cli("import", "dwellings", path, "--map", "source_id=编号", "--set", "households=-2")
    assert r.exit_code == 2 and "households" in r.output
    assert counts(db) == before


def test_set_with_a_wrong_column_names_the_layers_columns(cli, db, tmp_path):
    load_base(cli, tmp_path)
    path, _ = dwellings_csv(tmp_path)
    before = counts(db)
    r = cli("import", "dwellings", path, "--map", "source_id=编号", "--set", "colour=red")
    assert r.exit_code == 2, r.output
    out = flat(r.output)
    assert "'colour' is not a column of dwellings" in out and "source_id" in out and "households" in out
    r = cli("import", "dwellings", path, "--map", "source_id=编号", "--set", "households")
    assert r.exit_code == 2 and "not column=value" in flat(r.output)
    assert counts(db) == before


# --- bad inputs: clear error, exit 2, database unchanged ------------------------------------------

def _bad_cases(tmp_path):
    bowtie = shapely.from_wkt("POLYGON((120 31, 120.04 31.04, 120.04 31, 120 31.04, 120 31))")
    across = grids_frame({"G1": shapely.box(120.03, 31.0, 120.07, 31.05)})
    nocomm = grids_frame({"G1": GRIDS["G1"][0]}).assign(community_code="C9")
    missing = grids_frame().drop(columns=["community_code"])
    dup = grids_frame({"G1": GRIDS["G1"][0], "G2": GRIDS["G2"][0]}).assign(code=["G1", "G1"])
    (tmp_path / "swap.csv").write_text("source_id,households,lon,lat\nX1,3,31.02,120.02\nX2,4,120.02,31.02\n")
    (tmp_path / "range.csv").write_text("source_id,households,lon,lat\nX1,3,120.02,95.0\n")
    (tmp_path / "types.csv").write_text("source_id,households,lon,lat\nX1,many,120.02,31.02\n")
    gbk = gpd.GeoDataFrame({"source_id": ["S1"], "name": ["社区服务中心"], "kind": ["service_centre"]},
                           geometry=[shapely.Point(120.01, 31.01)], crs=4326)
    gbk.to_file(tmp_path / "gbk.shp", encoding="gbk")
    (tmp_path / "gbk.cpg").unlink()
    gpd.GeoDataFrame({"source_id": ["X1"], "households": [3]}, geometry=[shapely.Point(40_500_000, 3_500_000)]
                     ).to_file(tmp_path / "noprj.shp")
    return {
        "self-intersecting": (["grids", grids_file(tmp_path, grids_frame({"G1": bowtie}), "b1.gpkg")],
                              "Self-intersection at lon/lat (120.02, 31.02)"),
        "across community": (["grids", grids_file(tmp_path, across, "b2.gpkg")],
                             "reaches outside its community 'C1'"),
        "community not found": (["grids", grids_file(tmp_path, nocomm, "b3.gpkg")], "community 'C9' is not among"),
        "missing column": (["grids", grids_file(tmp_path, missing, "b4.gpkg")],
                           "missing required column community_code"),
        "duplicate codes": (["grids", grids_file(tmp_path, dup, "b5.gpkg")], "duplicate code 'G1'"),
        "swapped": (["dwellings", tmp_path / "swap.csv"], "lon/lat look swapped"),
        "out of range": (["dwellings", tmp_path / "range.csv"], "latitude 95 is out of range"),
        "wrong type": (["dwellings", tmp_path / "types.csv"], "'many' is not a whole number"),
        "unknown crs": (["dwellings", tmp_path / "types.csv", "--crs", "EPSG:999999"], "Unknown CRS"),
        "projected without crs": (["dwellings", tmp_path / "noprj.shp"], "noprj.shp has projected"),
        "bad coords": (["dwellings", tmp_path / "swap.csv", "--coords", "baidu"], "--coords 'baidu'"),
        "gbk without encoding": (["stations", tmp_path / "gbk.shp"], "--encoding gbk"),
        "bad region": (["stations", tmp_path / "gbk.shp", "--encoding", "gbk", "--region", "32"], "6-digit"),
    }


CASES = ["self-intersecting", "across community", "community not found", "missing column", "duplicate codes",
         "swapped", "out of range", "wrong type", "unknown crs", "projected without crs", "bad coords",
         "gbk without encoding", "bad region"]


@pytest.mark.filterwarnings("ignore:'crs' was not provided")
@pytest.mark.parametrize("case", CASES)
def test_bad_input_leaves_database_unchanged(cli, db, tmp_path, case):
    load_base(cli, tmp_path)
    path, _ = dwellings_csv(tmp_path)
    assert cli("import", "dwellings", path, "--map", "source_id=编号").exit_code == 0
    before = counts(db)
    args, message = _bad_cases(tmp_path)[case]
    r = cli("import", *args)
    assert r.exit_code == 2, r.output
    out = " ".join(r.output.split())
    assert message in out, out
    assert "Nothing was written" in out
    assert counts(db) == before


def test_grid_across_community_names_the_other_community(cli, db, tmp_path):
    assert cli("import", "areas", areas_file(tmp_path)).exit_code == 0
    frame = grids_frame({"G1": shapely.box(120.03, 31.0, 120.07, 31.05)})
    with pytest.raises(InvalidInput) as e, db.begin() as conn:
        import_frame(conn, "grids", frame, Settings())
    p = e.value.problems[0]
    assert (p.row, p.field, p.feature_id) == (1, "geometry", "G1")
    assert "lies in community C2" in p.reason and "(50.0%)" in p.reason
    # within the tolerance (a 0.5 m sliver) is accepted
    sliver = grids_frame({"G1": shapely.box(120.0, 31.0, 120.05 + 0.5 / 95_000, 31.05)})
    with db.begin() as conn:
        assert import_frame(conn, "grids", sliver, Settings()).inserted == 1


def test_whole_bad_file_reports_every_problem(cli, db, tmp_path):
    (tmp_path / "bad.csv").write_text(
        "source_id,households,lon,lat\nA,1,120.01,31.01\nA,x,120.02,31.02\nB,-3,31.0,120.0\nC,2,,\n")
    r = cli("import", "dwellings", tmp_path / "bad.csv")
    assert r.exit_code == 2
    for expect in ("row 2", "row 3", "row 4", "row 5", "duplicate source_id", "negative", "swapped", "empty"):  # header = row 1
        assert expect in r.output


# --- the sample loader ----------------------------------------------------------------------------


def test_load_sample_in_one_transaction(db, tmp_path):
    path, df = sample_gpkg(tmp_path)
    reports = load_sample(db, path, Settings())
    assert {k: v.inserted for k, v in reports.items() if k != "incidents"} == {
        "areas": 3, "grids": 3, "dwellings": len(df), "stations": 1, "streets": 1}
    assert counts(db)["dwellings"] == len(df)


def test_load_sample_with_a_bad_layer_writes_nothing(db, tmp_path):
    path, _ = sample_gpkg(tmp_path, grids=grids_frame({"G1": shapely.box(120.03, 31.0, 120.07, 31.05)}))
    before = counts(db)
    with pytest.raises(InvalidInput):
        load_sample(db, path, Settings())
    assert counts(db) == before and before["areas"] == 0
