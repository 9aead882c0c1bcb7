"""CSV exports that officials open in Excel start with a UTF-8 byte-order mark, and still read back
as the same table (audit item 15): incident stats over HTTP and from the CLI, coverage over HTTP
and from the CLI."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timezone

import pytest
from sqlalchemy import text

from api.incidents.intake import ingest_frame

from tests.support.cli import run_cli
from tests.support.incidents import REGION, incident_frame, make_world

BOM = "\ufeff".encode()
T = datetime(2025, 2, 10, tzinfo=timezone.utc)


@pytest.fixture
def world(client, db):
    make_world(db)
    with db.begin() as conn:
        conn.execute(text("UPDATE areas SET name = '青林社区' WHERE code = 'C1'"))
        # a street along lat 31.905 through G1 and G2, and one station on it (for the coverage CSVs)
        conn.execute(text(
            "INSERT INTO streets (region_code, source_id, road_class, geom) VALUES "
            "(:r, 's1', 'residential', ST_GeomFromText('LINESTRING(119.995 31.905, 120.02 31.905)', 4326))"),
            {"r": REGION})
        conn.execute(text(
            "INSERT INTO stations (region_code, source_id, name, kind, geom) VALUES "
            "(:r, 'st1', '服务站', 'grid_station', ST_SetSRID(ST_MakePoint(120.003, 31.905), 4326))"),
            {"r": REGION})
        ingest_frame(conn, incident_frame([
            {"external_id": f"x{i}", "category": "parking", "reported_at": T, "lon": 120.002, "lat": 31.905}
            for i in range(3)]), region_code=REGION)
    return client


def _rows(data: bytes) -> list[dict]:
    assert data.startswith(BOM), data[:20]
    assert not data[3:].startswith(BOM)  # exactly one
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))


def test_incident_stats_csv_over_http_has_a_bom(world):
    r = world.get("/incidents/stats", params={"level": "community", "format": "csv"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = {x["code"]: x for x in _rows(r.content)}
    assert rows["C1"]["name"] == "青林社区" and int(rows["C1"]["incidents"]) == 3
    assert int(rows["C2"]["incidents"]) == 0


def test_incident_stats_csv_from_the_cli_has_a_bom(world, pg_url, monkeypatch, tmp_path):
    out = tmp_path / "s.csv"
    r = run_cli(pg_url, monkeypatch, ["incidents", "stats", "--level", "community", "--csv", str(out)])
    assert r.exit_code == 0, r.output
    rows = {x["code"]: x for x in _rows(out.read_bytes())}
    assert rows["C1"]["name"] == "青林社区" and int(rows["C1"]["incidents"]) == 3


def test_coverage_csv_over_http_has_a_bom(world):
    r = world.get("/coverage", params={"format": "csv", "level": "community"})
    assert r.status_code == 200, r.text
    rows = {x["code"]: x for x in _rows(r.content)}
    assert set(rows) == {"C1", "C2"}


def test_coverage_csv_files_from_the_cli_have_a_bom(world, pg_url, monkeypatch, tmp_path):
    out = tmp_path / "cov.csv"
    r = run_cli(pg_url, monkeypatch, ["coverage", "--level", "community", "--out", str(out)])
    assert r.exit_code == 0, r.output
    rows = {x["code"]: x for x in _rows(out.read_bytes())}
    assert set(rows) == {"C1", "C2"}
    for part in ("gaps", "dwellings"):
        _rows((tmp_path / f"cov_{part}.csv").read_bytes())
