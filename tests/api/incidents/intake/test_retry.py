"""Retries that differ say how (item 19), partial imports from the CLI and NDJSON (item 18), times
without an offset in GRIDMAP_TIMEZONE (item 23), and (0, 0) refused (item 25)."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_app

from tests.support.cli import run_cli
from tests.support.incidents import make_world

SH = ZoneInfo("Asia/Shanghai")


def _flat(eid, lon=120.002, lat=31.905, **kw):
    return {"external_id": eid, "category": "parking", "reported_at": "2025-02-01T09:00:00+08:00",
            "lon": lon, "lat": lat, **kw}


def _stored(db) -> dict:
    with db.connect() as conn:
        return {r.external_id: r for r in conn.execute(text(
            "SELECT external_id, category, reported_at, description, ST_X(geom) AS lon, ST_Y(geom) AS lat "
            "FROM incidents"))}


@pytest.fixture
def world(client, db):
    make_world(db)
    return client


def test_retry_with_other_content_says_which_fields_differ(world, db):
    first = world.post("/incidents", json=_flat("AUD-1"))
    assert first.status_code == 201 and first.json()["differs"] == []
    same = world.post("/incidents", json=_flat("AUD-1"))
    assert same.status_code == 200 and same.json()["duplicate"] is True and same.json()["differs"] == []
    same_instant = world.post("/incidents", json=_flat("AUD-1", reported_at="2025-02-01T01:00:00Z"))
    assert same_instant.json()["differs"] == []
    other = world.post("/incidents", json=_flat("AUD-1", category="dispute", lon=120.015))
    assert other.status_code == 200 and other.json()["duplicate"] is True
    assert other.json()["differs"] == ["category", "geometry"]
    assert (other.json()["category"], other.json()["grid_code"]) == ("parking", "G1")  # the stored record
    later = world.post("/incidents", json=_flat("AUD-1", reported_at="2025-02-01T10:00:00+08:00",
                                                description="lamp out"))
    assert later.json()["differs"] == ["reported_at", "description"]
    rec = _stored(db)
    assert list(rec) == ["AUD-1"] and rec["AUD-1"].category == "parking" and rec["AUD-1"].description is None
    assert (rec["AUD-1"].lon, rec["AUD-1"].lat) == (120.002, 31.905)


def test_bulk_retry_lists_the_differing_rows(world, db):
    assert world.post("/incidents/bulk", json=[_flat("a"), _flat("b")]).status_code == 200
    r = world.post("/incidents/bulk", params={"mode": "partial"},
                   json=[_flat("a"), "junk", _flat("b", category="dispute"), _flat("c")])
    body = r.json()
    assert (body["inserted"], body["duplicate_ids"]) == (1, ["a", "b"])
    assert body["differing"] == [{"external_id": "b", "row": 3, "differs": ["category"]}]
    assert _stored(db)["b"].category == "parking"


def test_ndjson_partial_rejects_only_the_malformed_line(world, db):
    lines = [json.dumps(_flat("n1")), '{"external_id": "n2", oops', json.dumps(_flat("n3")),
             json.dumps(_flat("n4", category="ufo"))]
    r = world.post("/incidents/bulk", params={"mode": "partial"}, content="\n".join(lines).encode(),
                   headers={"content-type": "application/x-ndjson"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["received"], body["inserted"]) == (4, 2)
    assert sorted({e["row"] for e in body["rejected"]}) == [2, 4]
    assert any(e["row"] == 2 and "line 2 is not JSON" in e["reason"] for e in body["rejected"])
    assert sorted(_stored(db)) == ["n1", "n3"]


CSV = ("external_id,category,reported_at,lon,lat\n"
       "{p}1,parking,2025-02-01 09:00,120.002,31.905\n"
       "{p}2,ufo,2025-02-01 09:00,120.002,31.905\n"
       "{p}3,dispute,2025-02-01,120.015,31.905\n"
       "{p}4,parking,2025-02-01T09:00:00Z,0,0\n")


def test_cli_import_partial_writes_the_good_rows_and_lists_the_bad(world, db, pg_url, monkeypatch, tmp_path):
    f = tmp_path / "inc.csv"
    f.write_text(CSV.format(p="w"), encoding="utf-8")
    whole = run_cli(pg_url, monkeypatch, ["import", "incidents", str(f)])
    # rows as Excel numbers them (header = row 1): w2 is row 3, w4 row 5
    assert whole.exit_code == 2 and "row 3" in whole.output and "row 5" in whole.output
    assert _stored(db) == {}
    part = run_cli(pg_url, monkeypatch, ["import", "incidents", str(f), "--partial"])
    assert part.exit_code == 3, part.output
    out = " ".join(part.output.split())
    assert "2 inserted" in out and "2 of 4 row(s) rejected" in out
    assert "row 3" in out and "ufo" in out and "row 5" in out and "(0, 0)" in out
    rec = _stored(db)
    assert sorted(rec) == ["w1", "w3"]
    # times without an offset are Beijing time (GRIDMAP_TIMEZONE default), not UTC
    assert rec["w1"].reported_at == datetime(2025, 2, 1, 9, 0, tzinfo=SH)
    assert rec["w3"].reported_at == datetime(2025, 2, 1, 0, 0, tzinfo=SH)
    assert rec["w1"].reported_at == datetime(2025, 2, 1, 1, 0, tzinfo=timezone.utc)
    # --partial is for incidents only
    assert run_cli(pg_url, monkeypatch, ["import", "grids", str(f), "--partial"]).exit_code == 2


def test_configured_timezone_reads_naive_times(world, db, pg_url, monkeypatch, tmp_path):
    f = tmp_path / "inc.csv"
    f.write_text(CSV.format(p="u").replace("u2,ufo", "u2,parking").replace(",0,0\n", ",120.003,31.905\n"),
                 encoding="utf-8")
    r = run_cli(pg_url, monkeypatch, ["import", "incidents", str(f)], GRIDMAP_TIMEZONE="UTC")
    assert r.exit_code == 0, r.output
    rec = _stored(db)
    assert rec["u1"].reported_at == datetime(2025, 2, 1, 9, 0, tzinfo=timezone.utc)
    assert rec["u3"].reported_at == datetime(2025, 2, 1, 0, 0, tzinfo=timezone.utc)
    assert rec["u4"].reported_at == datetime(2025, 2, 1, 9, 0, tzinfo=timezone.utc)  # had Z: unchanged


def test_api_reads_naive_times_in_the_configured_zone(db, settings):
    make_world(db)
    with TestClient(create_app(settings)) as c:
        r = c.post("/incidents", json=_flat("z1", reported_at="2025-02-01 09:00:00"))
        assert r.status_code == 201, r.text
        assert datetime.fromisoformat(r.json()["reported_at"]) == datetime(2025, 2, 1, 9, tzinfo=SH)
    utc = settings.model_copy(update={"timezone": "UTC"})
    with TestClient(create_app(utc)) as c:
        r = c.post("/incidents", json=_flat("z2", reported_at="2025-02-01 09:00:00"))
        assert datetime.fromisoformat(r.json()["reported_at"]) == datetime(2025, 2, 1, 9, tzinfo=timezone.utc)


def test_window_dates_without_offset_are_local(world, pg_url, monkeypatch):
    # a: 01:00 on 1 Feb in Beijing, still 31 Jan in UTC; b: 1 Feb in both
    world.post("/incidents/bulk", json=[_flat("a", reported_at="2025-01-31T17:00:00Z"),
                                        _flat("b", reported_at="2025-02-01T01:00:00Z")])
    j = world.get("/incidents/stats", params={"level": "town", "from": "2025-02-01"}).json()
    assert j["totals"]["incidents"] == 2
    j = world.get("/incidents/stats", params={"level": "town", "from": "2025-02-01T00:00:00Z"}).json()
    assert j["totals"]["incidents"] == 1
    local = run_cli(pg_url, monkeypatch, ["incidents", "stats", "--from", "2025-02-01"])
    as_utc = run_cli(pg_url, monkeypatch, ["incidents", "stats", "--from", "2025-02-01"], GRIDMAP_TIMEZONE="UTC")
    assert local.exit_code == 0 and as_utc.exit_code == 0, local.output + as_utc.output
    assert "total 2 incidents" in local.output and "total 1 incidents" in as_utc.output


def test_null_island_is_refused(world, db):
    r = world.post("/incidents", json=_flat("zero", lon=0, lat=0))
    assert r.status_code == 422
    assert any(e["field"] == "geometry" and "(0, 0)" in e["reason"] for e in r.json()["errors"])
    feat = {"type": "Feature", "geometry": {"type": "Point", "coordinates": [0.0, 0.0]},
            "properties": {"external_id": "zero-f", "category": "parking", "reported_at": "2025-02-01T00:00:00Z"}}
    assert world.post("/incidents", json=feat).status_code == 422
    near = world.post("/incidents", json=_flat("near", lon=0.001, lat=0))  # remote but a real place
    assert near.status_code == 201 and near.json()["outside_grid"] is True
    assert sorted(_stored(db)) == ["near"]
