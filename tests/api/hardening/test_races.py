"""Concurrent creates of one key: exactly one 201, the others 409 (or the idempotent replay),
decided in the database; ``Idempotency-Key`` honoured on every write (incidents too)."""

from __future__ import annotations

import http.client
import json
import threading
from collections import Counter

import pytest
from sqlalchemy import text

from tests.api.hardening.conftest import X0, Y0, assert_problem, counts, grid, incident, station
from tests.api.hardening.servers import serving

N = 20


def _burst(port: int, method: str, path: str, bodies: list, headers: list[dict] | None = None) -> list:
    """Send the requests at once (one connection each, released together); [(status, body)]."""
    out: list = [None] * len(bodies)
    gate = threading.Barrier(len(bodies))

    def one(i):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        raw = json.dumps(bodies[i])
        gate.wait()
        conn.request(method, path, body=raw, headers={"Content-Type": "application/json", **((headers or [{}] * len(bodies))[i])})
        r = conn.getresponse()
        out[i] = (r.status, json.loads(r.read() or b"null"), r.getheader("Idempotent-Replayed"))
        conn.close()

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(bodies))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(90)
    return out


@pytest.fixture
def server(world, settings):
    with serving(settings) as port:
        yield port


def test_concurrent_station_creates_one_key_exactly_one_201(server, world):
    # every caller sends different data for the same source_id: only one may be told "created"
    bodies = [station("race-1", name=f"站{i}", lon=X0 + 0.001 + i * 1e-5) for i in range(N)]
    res = _burst(server, "POST", "/stations", bodies)
    statuses = Counter(s for s, _, _ in res)
    assert statuses == {201: 1, 409: N - 1}, statuses
    winner = next(b for s, b, _ in res if s == 201)
    with world.connect() as conn:
        rows = conn.execute(text("SELECT id, name FROM stations WHERE source_id = 'race-1'")).all()
    assert [(r.id, r.name) for r in rows] == [(winner["id"], winner["properties"]["name"])]
    for s, b, _ in res:
        if s == 409:
            assert "already exists" in b["detail"] and "duplicate key" not in json.dumps(b)


def test_concurrent_grid_creates_one_code_exactly_one_201(server, world):
    bodies = [grid("G77", name=f"网格{i}") for i in range(N)]
    res = _burst(server, "POST", "/grids", bodies)
    statuses = Counter(s for s, _, _ in res)
    assert statuses == {201: 1, 409: N - 1}, (statuses, [b for s, b, _ in res if s not in (201, 409)][:2])
    with world.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM grids WHERE code = 'G77'")).scalar_one() == 1
    for s, b, _ in res:
        assert "constraint" not in json.dumps(b) and "Key (" not in json.dumps(b)


def test_concurrent_creates_with_one_key_replay(server, world):
    bodies = [station("race-2")] * N
    res = _burst(server, "POST", "/stations", bodies, [{"Idempotency-Key": "k-race-2"}] * N)
    assert Counter(s for s, _, _ in res) == {201: N}
    assert sum(1 for _, _, replay in res if replay == "true") == N - 1
    assert len({b["id"] for _, b, _ in res}) == 1
    assert counts(world)["stations"] == 3


def test_incident_post_honours_idempotency_key(client, world):
    h = {"Idempotency-Key": "inc-key-1"}
    a = client.post("/incidents", json=incident("i-1"), headers=h)
    assert a.status_code == 201, a.text
    b = client.post("/incidents", json=incident("i-1"), headers=h)
    assert b.status_code == 201 and b.headers["Idempotent-Replayed"] == "true" and b.json() == a.json()
    # the same key for another request: 409, nothing written
    c = client.post("/incidents", json=incident("i-2"), headers=h)
    assert_problem(c, 409, words=["different request"])
    assert counts(world)["incidents"] == 1


def test_bulk_and_transition_honour_idempotency_key(client, world):
    h = {"Idempotency-Key": "bulk-1"}
    a = client.post("/incidents/bulk", json=[incident("b-1"), incident("b-2")], headers=h)
    assert a.status_code == 200 and a.json()["inserted"] == 2
    b = client.post("/incidents/bulk", json=[incident("b-1"), incident("b-2")], headers=h)
    assert b.json() == a.json() and b.headers["Idempotent-Replayed"] == "true"
    inc = client.get("/incidents").json()["items"][0]["id"]
    t = {"action": "dispatch", "actor": "王五"}
    first = client.post(f"/incidents/{inc}/transitions", json=t, headers={"Idempotency-Key": "t-1"})
    assert first.status_code == 200, first.text
    again = client.post(f"/incidents/{inc}/transitions", json=t, headers={"Idempotency-Key": "t-1"})
    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    with world.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM incident_events WHERE incident_id = :i"),
                            {"i": inc}).scalar_one() == 2  # report + one dispatch
