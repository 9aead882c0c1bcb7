"""``gridmap export`` and api.db.export: formats, lon/lat order, area filter and jurisdiction scope."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely
from sqlalchemy import text
from typer.testing import CliRunner

from api.cli import app
from api.db.export import layer_frame
from api.imports import import_frame
from api.errors import NotFound
from api.jurisdiction import EVERYWHERE, Jurisdiction
from api.settings import Settings, get_settings
from geo.io import read_layer
from geo.validate import validate_frame

REGION = "320281"
C1 = shapely.box(120.0, 31.0, 120.05, 31.1)
C2 = shapely.box(120.05, 31.0, 120.1, 31.1)


@pytest.fixture
def loaded(db):
    rng = np.random.default_rng(3)
    n = 60
    areas = gpd.GeoDataFrame({"code": ["T1", "C1", "C2"], "name": ["镇", "一社区", "二社区"],
                              "level": ["town", "community", "community"], "parent_code": [None, "T1", "T1"]},
                             geometry=[shapely.box(120.0, 31.0, 120.1, 31.1), C1, C2], crs=4326)
    grids = gpd.GeoDataFrame({"code": ["G1", "G2"], "name": ["网格一", "网格二"], "community_code": ["C1", "C2"]},
                             geometry=[C1, C2], crs=4326)
    pts = shapely.points(rng.uniform(120.0, 120.1, n), rng.uniform(31.0, 31.1, n))
    dwellings = gpd.GeoDataFrame({"source_id": [f"D{i}" for i in range(n)], "households": rng.integers(1, 50, n),
                                  "name": ["楼"] * n}, geometry=pts, crs=4326)
    with db.begin() as conn:
        for layer, frame in (("areas", areas), ("grids", grids), ("dwellings", dwellings)):
            import_frame(conn, layer, frame, Settings(), region_code=REGION)
    return dwellings


@pytest.fixture
def cli(loaded, pg_url, monkeypatch):
    monkeypatch.setenv("GRIDMAP_DATABASE_URL", pg_url)
    get_settings.cache_clear()
    runner = CliRunner()
    yield lambda *a: runner.invoke(app, [str(x) for x in a])
    get_settings.cache_clear()


def test_layer_frame_matches_database(db, loaded):
    with db.connect() as conn:
        frame = layer_frame(conn, "dwellings", EVERYWHERE)
        total = conn.execute(text("SELECT sum(households) FROM dwellings")).scalar_one()
    assert len(frame) == len(loaded) and frame["households"].sum() == total
    by_id = frame.set_index("source_id")
    for sid, g in zip(loaded["source_id"], loaded.geometry):
        assert by_id.loc[sid, "geometry"].equals_exact(g, 1e-12)


def test_scope_limits_rows(db, loaded):
    with db.connect() as conn:
        only_c1 = layer_frame(conn, "dwellings", Jurisdiction(frozenset({"C1"})))
        nothing = layer_frame(conn, "dwellings", Jurisdiction(frozenset()))
        grids = layer_frame(conn, "grids", Jurisdiction(frozenset({"C2"})))
        with pytest.raises(NotFound):
            layer_frame(conn, "dwellings", Jurisdiction(frozenset({"C1"})), area="C2")
    expect = {sid for sid, g in zip(loaded["source_id"], loaded.geometry) if C1.intersects(g)}
    assert set(only_c1["source_id"]) == expect and len(nothing) == 0
    assert grids["code"].tolist() == ["G2"]


def test_area_filter_is_spatial(db, loaded):
    with db.connect() as conn:
        c2 = layer_frame(conn, "dwellings", EVERYWHERE, area="C2")
        region = layer_frame(conn, "dwellings", EVERYWHERE, area=REGION)
    expect = {sid for sid, g in zip(loaded["source_id"], loaded.geometry) if C2.intersects(g)}
    assert set(c2["source_id"]) == expect and 0 < len(expect) < len(loaded)
    assert len(region) == len(loaded)


def test_export_geojson_is_rfc7946_lon_lat(cli, loaded, tmp_path):
    r = cli("export", "dwellings", tmp_path / "d.geojson")
    assert r.exit_code == 0, r.output
    doc = json.loads((tmp_path / "d.geojson").read_text())
    assert "crs" not in doc  # RFC 7946: always WGS84 lon/lat, no crs member
    got = {f["properties"]["source_id"]: f["geometry"]["coordinates"] for f in doc["features"]}
    for sid, g in zip(loaded["source_id"], loaded.geometry):
        assert got[sid] == pytest.approx([g.x, g.y], abs=1e-7)  # longitude first
    # and it re-imports
    back = read_layer(tmp_path / "d.geojson", layer_name="dwellings")
    assert len(validate_frame("dwellings", back)) == len(loaded)


def test_export_gpkg_and_csv(cli, loaded, tmp_path):
    r = cli("export", "grids", tmp_path / "g.gpkg", "--area", "C1")
    assert r.exit_code == 0, r.output
    g = pyogrio.read_dataframe(tmp_path / "g.gpkg")
    # G2 only touches C1 along the shared boundary: not in C1
    assert sorted(g["code"]) == ["G1"]
    assert g.geometry.iloc[0].geom_type == "MultiPolygon" and g.crs.to_epsg() == 4326
    assert (g["valid_from"] == "-infinity").all()
    r = cli("export", "dwellings", tmp_path / "d.txt", "--format", "csv")
    assert r.exit_code == 0, r.output
    df = pd.read_csv(tmp_path / "d.txt")
    assert {"lon", "lat", "households"} <= set(df.columns) and len(df) == len(loaded)
    assert df["households"].sum() == loaded["households"].sum()


def test_export_errors(cli, tmp_path):
    assert cli("export", "parcels", tmp_path / "x.gpkg").exit_code != 0
    r = cli("export", "grids", tmp_path / "x.shp")
    assert r.exit_code == 2 and "--format" in r.output
    r = cli("export", "grids", tmp_path / "x.gpkg", "--area", "C9")
    assert r.exit_code == 2 and "C9" in r.output
