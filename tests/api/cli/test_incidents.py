"""``gridmap incidents hotspots``: grid names beside codes, ``--out`` files (CSV with a BOM, GeoJSON,
GPKG), and no "Nothing was written." after a read-only command (issue 12 §3)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import geopandas as gpd
import pandas as pd
import pytest
from sqlalchemy import text

from api.incidents.intake import ingest_frame

from tests.support.cli import run_cli
from tests.support.incidents import REGION, incident_frame, make_world

T = datetime(2025, 4, 2, tzinfo=timezone.utc)


@pytest.fixture
def hot(db):
    make_world(db)
    rows = [{"external_id": f"h{i}", "category": "parking", "reported_at": T + timedelta(minutes=i),
             "lon": 120.001 + (i % 7) * 5e-4, "lat": 31.901 + (i % 5) * 1e-3} for i in range(60)]
    rows += [{"external_id": f"k{i}", "category": "dispute", "reported_at": T, "lon": 120.015, "lat": 31.915}
             for i in range(3)]
    with db.begin() as conn:
        ingest_frame(conn, incident_frame(rows), region_code=REGION)
        conn.execute(text("UPDATE grids SET name = '一号网格' WHERE code = 'G1'"))
        conn.execute(text("UPDATE grids SET name = '四号网格' WHERE code = 'G4'"))
        conn.execute(text(  # a fifth grid: Gi* needs at least five units
            "INSERT INTO grids (region_code, code, name, community_code, geom) VALUES (:r, 'G5', '五号网格', 'C2', "
            "ST_GeomFromText('MULTIPOLYGON(((120.02 31.90, 120.03 31.90, 120.03 31.91, 120.02 31.91, "
            "120.02 31.90)))', 4326))"), {"r": REGION})
    return db


def _truth(db) -> pd.DataFrame:
    with db.connect() as conn:
        return pd.DataFrame(conn.execute(text(
            "SELECT g.code AS unit, g.name, count(i.id) AS incidents FROM current_grids g "
            "LEFT JOIN incidents i ON i.grid_code = g.code GROUP BY 1, 2 ORDER BY 1")).mappings().all())


@pytest.mark.parametrize("suffix", [".csv", ".geojson", ".gpkg"])
def test_hotspots_out_file_has_every_unit_with_names(hot, pg_url, monkeypatch, tmp_path, suffix):
    out = tmp_path / f"hot{suffix}"
    r = run_cli(pg_url, monkeypatch, ["incidents", "hotspots", "--min-incidents", "1", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "Nothing was written" not in r.output and f"wrote 5 unit(s) to {out}" in " ".join(r.output.split())
    if suffix == ".csv":
        assert out.read_bytes().startswith(b"\xef\xbb\xbf")  # BOM: Excel reads the Chinese names
        got = pd.read_csv(out, encoding="utf-8-sig")
        geoms = gpd.GeoSeries.from_wkt(got["geometry"], crs=4326)
    else:
        got = gpd.read_file(out)
        geoms = got.geometry
        assert got.crs.to_epsg() == 4326
    truth = _truth(hot)
    got = got.assign(unit=got["unit"].astype(str)).set_index("unit").sort_index()
    assert list(got.index) == list(truth.unit)
    assert got["name"].tolist() == truth["name"].tolist() and "一号网格" in got["name"].tolist()
    assert got["incidents"].astype(int).tolist() == truth["incidents"].astype(int).tolist()
    assert set(got["classification"]) <= {"hot 99%", "hot 95%", "hot 90%", "not significant", "cold 90%",
                                          "cold 95%", "cold 99%"}
    assert geoms.notna().all() and len(geoms) == 5


def test_hotspots_table_shows_names_beside_codes(hot, pg_url, monkeypatch):
    r = run_cli(pg_url, monkeypatch, ["incidents", "hotspots", "--min-incidents", "1"])
    assert r.exit_code == 0, r.output
    header = next(ln for ln in r.output.splitlines() if "unit" in ln and "class" in ln)
    assert "name" in header
    for ln in r.output.splitlines():
        if " G1 " in ln:
            assert "一号网格" in ln
        if " G4 " in ln:
            assert "四号网格" in ln


def test_read_only_refusals_do_not_talk_about_writing(hot, pg_url, monkeypatch, tmp_path):
    few = run_cli(pg_url, monkeypatch, ["incidents", "hotspots", "--min-incidents", "100000"])
    assert few.exit_code == 2 and "Nothing was written" not in few.output and "error" in few.output
    bad = run_cli(pg_url, monkeypatch, ["incidents", "hotspots", "--out", str(tmp_path / "hot.txt")])
    assert bad.exit_code == 2 and "hot.txt" in bad.output and not (tmp_path / "hot.txt").exists()
    unknown = run_cli(pg_url, monkeypatch, ["incidents", "stats", "--area", "999"])
    assert unknown.exit_code == 2 and "Nothing was written" not in unknown.output
