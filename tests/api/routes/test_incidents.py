"""Intake over HTTP: one incident (Feature or flat), bulk JSON and NDJSON, both modes, bad inputs
with an unchanged database, 413, listing, stats JSON/CSV."""

from __future__ import annotations

import csv
import io
import json

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_app

from tests.support.incidents import make_world


def _count(db) -> tuple[int, int]:
    with db.connect() as conn:
        return (conn.execute(text("SELECT count(*) FROM incidents")).scalar(),
                conn.execute(text("SELECT count(*) FROM incident_events")).scalar())


def _flat(eid, lon=120.002, lat=31.905, **kw):
    return {"external_id": eid, "category": "dispute", "reported_at": "2025-02-01T09:00:00+08:00",
            "lon": lon, "lat": lat, **kw}


@pytest.fixture
def world(client, db):
    make_world(db)
    return client


def test_post_feature_then_retry_is_duplicate(world, db):
    feat = {"type": "Feature", "geometry": {"type": "Point", "coordinates": [120.015, 31.905]},
            "properties": {"external_id": "12345-1", "category": "street_light",
                           "reported_at": "2025-02-01T08:00:00+08:00", "reporter_kind": "mobile_sentinel"}}
    r = world.post("/incidents", json=feat)
    assert r.status_code == 201, r.text
    inc = r.json()
    assert (inc["grid_code"], inc["community_code"], inc["town_code"]) == ("G2", "C2", "T1")
    assert inc["reported_at"].startswith("2025-02-01T00:00:00") and inc["duplicate"] is False
    assert [e["action"] for e in inc["events"]] == ["report"]
    again = world.post("/incidents", json=feat)
    assert again.status_code == 200 and again.json()["duplicate"] is True and again.json()["id"] == inc["id"]
    assert _count(db) == (1, 1)


@pytest.mark.parametrize("body, field, words", [
    (_flat("x", lon=131.9, lat=200.0), "geometry", "range"),
    (_flat("x", lon="abc"), "geometry", "not numbers"),
    (_flat("x", category="noise"), "category", "parking"),
    (_flat("x", reported_at="2999-01-01T00:00:00Z"), "reported_at", "future"),
    ({"type": "Feature", "geometry": {"type": "LineString", "coordinates": [[120, 31], [120.1, 31]]},
      "properties": {"external_id": "x", "category": "dispute", "reported_at": "2025-01-01T00:00:00Z"}},
     "geometry", "Point"),
    (_flat("x", colour="red"), "colour", "unknown field"),
])
def test_bad_single_incident_is_422_and_writes_nothing(world, db, body, field, words):
    r = world.post("/incidents", json=body)
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
    errs = r.json()["errors"]
    assert any(e.get("field") == field and words in e["reason"] for e in errs), errs
    assert _count(db) == (0, 0)


def test_bulk_all_or_nothing_lists_every_bad_row(world, db):
    rows = [_flat("a"), _flat("b", category="noise"), _flat("c"), _flat("d", lon=500), _flat("e")]
    r = world.post("/incidents/bulk", json=rows)
    assert r.status_code == 422
    assert sorted({e["row"] for e in r.json()["errors"]}) == [2, 4]
    assert _count(db) == (0, 0)


def test_bulk_partial_writes_good_rows_and_reports_the_rest(world, db):
    rows = [_flat("a"), _flat("b", category="noise"), "junk", _flat("d", lon="x"), _flat("e", lon=119.995)]
    r = world.post("/incidents/bulk", params={"mode": "partial"}, json=rows)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["inserted"], body["duplicates"], body["outside_grid"]) == (2, 0, 1)
    assert sorted({e["row"] for e in body["rejected"]}) == [2, 3, 4]
    retry = world.post("/incidents/bulk", params={"mode": "partial"}, json=rows).json()
    assert (retry["inserted"], retry["duplicates"], retry["duplicate_ids"]) == (0, 2, ["a", "e"])
    assert _count(db) == (2, 2)


def test_bulk_ndjson_streamed(world, db):
    lines = "\n".join(json.dumps(_flat(f"n{i}", lon=120.001 + i * 1e-4)) for i in range(50)) + "\n"
    r = world.post("/incidents/bulk", content=lines.encode(), headers={"content-type": "application/x-ndjson"})
    assert r.status_code == 200 and r.json()["inserted"] == 50
    bad = world.post("/incidents/bulk", content=b'{"a": 1}\n{oops\n', headers={"content-type": "application/x-ndjson"})
    assert bad.status_code == 422  # all_or_nothing: the unreadable line is listed like any bad row
    assert any(e["row"] == 2 and "line 2 is not JSON" in e["reason"] for e in bad.json()["errors"])
    assert _count(db) == (50, 50)


def test_bulk_over_the_limit_is_413(db, settings):
    make_world(db)
    small = settings.model_copy(update={"max_bulk_incidents": 3})
    with TestClient(create_app(small)) as c:
        rows = [_flat(f"o{i}") for i in range(4)]
        assert c.post("/incidents/bulk", json=rows).status_code == 413
        nd = "\n".join(json.dumps(x) for x in rows).encode()
        assert c.post("/incidents/bulk", content=nd, headers={"content-type": "application/x-ndjson"}).status_code == 413
        assert c.post("/incidents/bulk", json=rows[:3]).status_code == 200
    assert _count(db)[0] == 3


def test_list_filters_and_paging(world):
    rows = [_flat(f"l{i}", category="dispute" if i % 2 else "parking", lon=120.002 if i < 6 else 120.015)
            for i in range(10)]
    world.post("/incidents/bulk", json=rows)
    page = world.get("/incidents", params={"limit": 4}).json()
    assert page["numberMatched"] == 10 and page["numberReturned"] == 4
    assert any(link["rel"] == "next" for link in page["links"])
    assert world.get("/incidents", params={"grid": "G2"}).json()["numberMatched"] == 4
    assert world.get("/incidents", params={"category": "parking", "area": "C1"}).json()["numberMatched"] == 3
    assert world.get("/incidents", params={"status": "resolved"}).json()["numberMatched"] == 0
    assert world.get("/incidents", params={"status": "nope"}).status_code == 422


def test_stats_json_and_csv(world):
    world.post("/incidents/bulk", json=[_flat(f"s{i}", lon=120.002 if i < 7 else 120.015) for i in range(9)])
    j = world.get("/incidents/stats", params={"level": "grid", "min_count": 5}).json()
    by = {r["code"]: r for r in j["rows"]}
    assert by["G1"]["incidents"] == 7 and by["G1"]["rank"] == 1 and by["G2"]["rank"] is None
    assert by["G1"]["rate_per_100_households"] == pytest.approx(7 / 300 * 100)
    r = world.get("/incidents/stats", params={"level": "community", "format": "csv"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert r.content.startswith("\ufeff".encode())  # UTF-8 BOM for Excel
    rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert {x["code"]: int(x["incidents"]) for x in rows} == {"C1": 7, "C2": 2}
    assert world.get("/incidents/stats", params={"level": "county"}).status_code == 422


def test_malformed_and_invalid_rows_reported_together(world, db):
    rows = [_flat("a"), "junk", _flat("c", category="noise"), _flat("d", lon="x")]
    r = world.post("/incidents/bulk", json=rows)
    assert r.status_code == 422
    assert sorted({e["row"] for e in r.json()["errors"]}) == [2, 3, 4]
    assert _count(db) == (0, 0)
