"""Write endpoints for stations and grids: round trips, grid versions, idempotency, and every bad
input answered with a clear problem and an unchanged database."""

from __future__ import annotations

import threading

import pytest
import shapely
from fastapi.testclient import TestClient
from shapely.geometry import box, mapping, shape
from sqlalchemy import text

from api import deps
from api.app import create_app
from api.jurisdiction import Jurisdiction
from geo.attribution import grid_index

from tests.support.features import CELL, REGION, X0, Y0, seed

INSIDE_C0 = (X0 + 0.001, Y0 + 0.001)


def station(source_id="st-1", lon=INSIDE_C0[0], lat=INSIDE_C0[1], **props):
    p = {"source_id": source_id, "name": "城东党群服务中心", "kind": "service_centre", **props}
    return {"type": "Feature", "geometry": {"type": "Point", "coordinates": [lon, lat]},
            "properties": {k: v for k, v in p.items() if v is not ...}}


def grid(code="G99", poly=None, **props):
    poly = poly or box(X0 + 0.0005, Y0 + 0.0005, X0 + 0.0035, Y0 + 0.0035)
    p = {"code": code, "name": "新网格", "community_code": "C0", "chief": "张三", **props}
    return {"type": "Feature", "geometry": mapping(poly), "properties": {k: v for k, v in p.items() if v is not ...}}


def snapshot(engine) -> dict:
    """Everything a write could touch, as text: any change shows."""
    with engine.connect() as conn:
        return {t: conn.execute(text(f"SELECT count(*), md5(coalesce(string_agg(x::text, '|' ORDER BY x.id), '')) "
                                     f"FROM {t} x")).one()
                for t in ("stations", "grids", "dwellings", "areas")} | {
            "keys": conn.execute(text("SELECT count(*) FROM idempotency_keys")).scalar_one()}


def assert_problem(r, status, field=None, words=()):
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    text_ = (body["detail"] + " " + " ".join(e.get("reason", "") for e in body.get("errors", []))).lower()
    if field:
        assert field in {e.get("field") for e in body.get("errors", [])}, body
    for w in words:
        assert w.lower() in text_, (w, body)
    return body


@pytest.fixture
def settings(settings):
    """The grids these tests write (G99) lie on the world's grid G00 of the same community: overlaps
    are tolerated here so that the tests see the write API alone (refused by default, see
    tests/api/db/load/test_grids.py)."""
    return settings.model_copy(update={"grid_overlap_m2": 1e12})


@pytest.fixture
def world(db):
    return seed(db, n_stations=5)


def test_station_round_trip_update_delete(client, world, db):
    r = client.post("/stations", json=station(capacity=30))
    assert r.status_code == 201, r.text
    f = r.json()
    assert r.headers["location"] == f"/collections/stations/items/{f['id']}"
    assert f["properties"]["source_id"] == "st-1" and f["properties"]["capacity"] == 30
    assert f["properties"]["region_code"] == REGION and f["properties"]["community_code"] == "C0"
    got = client.get(f"/collections/stations/items/{f['id']}").json()
    assert {k: got[k] for k in ("type", "id", "geometry", "properties")} == {k: f[k] for k in ("type", "id", "geometry", "properties")}

    moved = station(lon=INSIDE_C0[0] + 0.0002, name="新名称")
    r = client.put(f"/stations/{f['id']}", json=moved)
    assert r.status_code == 200, r.text
    g = r.json()
    assert g["id"] == f["id"] and g["properties"]["name"] == "新名称"
    assert shape(g["geometry"]).x == pytest.approx(INSIDE_C0[0] + 0.0002)
    assert g["properties"]["capacity"] is None  # PUT replaces: capacity not given any more

    assert client.delete(f"/stations/{f['id']}").status_code == 204
    assert client.get(f"/collections/stations/items/{f['id']}").status_code == 404
    assert client.delete(f"/stations/{f['id']}").status_code == 404


def test_user_defined_kind_allowed_empty_kind_refused(client, world, db):
    r = client.post("/stations", json=station("st-x", kind="elderly_canteen"))
    assert r.status_code == 201 and r.json()["properties"]["kind"] == "elderly_canteen"
    before = snapshot(db)
    for bad in ("", "   ", None):
        assert_problem(client.post("/stations", json=station("st-y", kind=bad)), 422, field="kind")
    assert snapshot(db) == before


def test_station_without_source_id_gets_one(client, world):
    r = client.post("/stations", json=station(source_id=...))
    assert r.status_code == 201 and len(r.json()["properties"]["source_id"]) == 32


@pytest.mark.parametrize("body, field, words", [
    (station(lon=31.9, lat=120.3), "geometry", ["swapped"]),
    (station(lon=200, lat=31.9), "geometry", ["out of range"]),
    (station(lon=120.3, lat=-95), "geometry", ["latitude"]),
    (station(name=...), "name", ["missing", "name"]),
    (station(name=""), "name", ["required"]),
    (station(capacity="lots"), "capacity", []),
    ({"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [[[120.3, 31.9], [120.31, 31.9],
      [120.31, 31.91], [120.3, 31.9]]]}, "properties": station()["properties"]}, "geometry", ["Point"]),
    ({"type": "Feature", "geometry": {"type": "Point", "coordinates": "here"},
      "properties": station()["properties"]}, "geometry", []),
    ({"type": "Feature", "geometry": None, "properties": station()["properties"]}, "geometry", ["no geometry"]),
    ({"type": "FeatureCollection", "features": []}, "type", ["Feature"]),
])
def test_bad_station_refused_database_unchanged(client, world, db, body, field, words):
    before = snapshot(db)
    assert_problem(client.post("/stations", json=body), 422, field=field, words=words)
    assert snapshot(db) == before


def test_duplicate_key_and_key_change_refused(client, world, db):
    sid = client.post("/stations", json=station()).json()["id"]
    before = snapshot(db)
    assert_problem(client.post("/stations", json=station()), 409, words=["already exists", f"/stations/{sid}"])
    assert_problem(client.put(f"/stations/{sid}", json=station("other")), 422, field="source_id")
    assert_problem(client.put(f"/stations/{sid + 999}", json=station()), 404)
    assert_problem(client.post("/stations", content=b"{not json", headers={"content-type": "application/json"}), 422)
    assert snapshot(db) == before


def test_oversized_body_is_413_database_unchanged(settings, world, db):
    small = settings.model_copy(update={"max_upload_mb": 0.001})  # ~1 KB
    with TestClient(create_app(small)) as c:
        before = snapshot(db)
        body = station(address="很长的地址" * 400)
        assert_problem(c.post("/stations", json=body), 413, words=["limit"])
        assert c.post("/stations", json=station()).status_code == 201  # a normal body still passes
    with db.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM stations WHERE address IS NOT NULL")).scalar_one() == 0
    assert snapshot(db)["stations"][0] == before["stations"][0] + 1


def test_idempotency_key_replays_and_refuses_other_bodies(client, world, db):
    headers = {"Idempotency-Key": "retry-123"}
    first = client.post("/stations", json=station(), headers=headers)
    assert first.status_code == 201
    body = station()
    body["properties"] = dict(reversed(list(body["properties"].items())))  # same content, other order
    again = client.post("/stations", json=body, headers=headers)
    assert again.status_code == 201 and again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    before = snapshot(db)
    assert_problem(client.post("/stations", json=station(name="别的"), headers=headers), 409, words=["retry-123"])
    assert_problem(client.put(f"/stations/{first.json()['id']}", json=station(), headers=headers), 409)
    assert snapshot(db) == before
    # without the key the same POST is a conflict, not a duplicate
    assert client.post("/stations", json=station()).status_code == 409
    with db.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM stations WHERE source_id='st-1'")).scalar_one() == 1


def test_concurrent_retries_write_once(client, world, db):
    headers = {"Idempotency-Key": "burst"}
    results: list = []
    barrier = threading.Barrier(4)

    def go():
        barrier.wait()
        results.append(client.post("/stations", json=station(source_id=...), headers=headers))

    threads = [threading.Thread(target=go) for _ in range(4)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert [r.status_code for r in results] == [201] * 4
    assert len({r.json()["id"] for r in results}) == 1
    assert sum(r.headers.get("idempotent-replayed") == "true" for r in results) == 3
    with db.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM stations")).scalar_one() == 5 + 1


def _current(client, code):
    return client.get("/collections/grids/items", params={"code": code}).json()["features"]


def _covered_households(world, poly) -> int:
    """Households of the world's dwellings ``poly`` covers (plain shapely, not the attribution rule)."""
    return int(world.households[shapely.covers(poly, shapely.points(world.points))].sum())


def test_grid_create_update_version_retire(client, world, db):
    # A99 lies on the world's grid G00 (overlaps tolerated here); a dwelling in an overlap belongs to
    # the smallest code in byte order, so A99 holds every dwelling it covers ...
    r = client.post("/grids", json=grid(code="A99"))
    assert r.status_code == 201, r.text
    a99 = r.json()
    expect = _covered_households(world, shape(a99["geometry"]))
    assert expect > 0 and a99["properties"]["households"] == expect
    codes = [*world.grid_cells, "A99"]
    owner = grid_index(shapely.points(world.points), [*world.grid_cells.values(), shape(a99["geometry"])], codes)
    assert int(world.households[owner == len(codes) - 1].sum()) == expect  # the rule agrees
    with db.connect() as conn:  # ... and the table says so
        stored = conn.execute(text("SELECT sum(households) FROM dwellings WHERE grid_code = 'A99'")).scalar_one()
    assert stored == expect
    assert client.delete(f"/grids/{a99['id']}").status_code == 204
    # ... while G99, the same square, holds none of them (G00 < G99)
    r = client.post("/grids", json=grid())
    assert r.status_code == 201, r.text
    g1 = r.json()
    assert g1["properties"]["households"] == 0
    with db.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM dwellings WHERE grid_code = 'G99'")).scalar_one() == 0
    # same boundary, new chief: updated in place, same version
    r = client.put(f"/grids/{g1['id']}", json=grid(chief="李四"))
    assert r.status_code == 200 and r.json()["id"] == g1["id"] and r.json()["properties"]["chief"] == "李四"
    # a new boundary: a new version; the old one is history
    bigger = box(X0 + 0.0005, Y0 + 0.0005, X0 + 0.0038, Y0 + 0.0038)
    r = client.put(f"/grids/{g1['id']}", json=grid(poly=bigger, chief="李四"))
    assert r.status_code == 200, r.text
    g2 = r.json()
    assert g2["id"] != g1["id"] and shape(g2["geometry"]).area == pytest.approx(bigger.area)
    assert [f["id"] for f in _current(client, "G99")] == [g2["id"]]
    with db.connect() as conn:
        closed = conn.execute(text("SELECT valid_to FROM grids WHERE id=:i"), {"i": g1["id"]}).scalar_one()
        new_from = conn.execute(text("SELECT valid_from FROM grids WHERE id=:i"), {"i": g2["id"]}).scalar_one()
    assert closed is not None and closed == new_from
    old = client.get("/collections/grid_versions/items",
                     params={"code": "G99", "datetime": (closed - __import__("datetime").timedelta(seconds=1)).isoformat()})
    assert [f["id"] for f in old.json()["features"]] == [g1["id"]]
    # the old version cannot be edited
    before = snapshot(db)
    assert_problem(client.put(f"/grids/{g1['id']}", json=grid()), 409, words=[f"current version is {g2['id']}"])
    assert snapshot(db) == before
    # retire: gone from the current grids, history kept; the code can be used again
    assert client.delete(f"/grids/{g2['id']}").status_code == 204
    assert _current(client, "G99") == []
    with db.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM grids WHERE code='G99'")).scalar_one() == 2
    r = client.post("/grids", json=grid())
    assert r.status_code == 201, r.text


def test_a_grid_read_from_the_api_and_written_back_keeps_its_version(client, world, db):
    fine = box(X0 + 0.000512345678901, Y0 + 0.000498765432109, X0 + 0.003012345678901, Y0 + 0.002987654321098)
    g1 = client.post("/grids", json=grid(poly=fine)).json()
    served = client.get(f"/collections/grids/items/{g1['id']}").json()
    assert served["geometry"] != mapping(fine)  # the API rounds to 7 decimals
    r = client.put(f"/grids/{g1['id']}", json=grid(poly=shape(served["geometry"]), chief="王五"))
    assert r.status_code == 200, r.text
    assert r.json()["id"] == g1["id"] and r.json()["properties"]["chief"] == "王五"
    with db.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM grids WHERE code='G99'")).scalar_one() == 1
    # a real move (about 1 m) is still a new version
    moved = box(X0 + 0.000522345678901, Y0 + 0.000498765432109, X0 + 0.003012345678901, Y0 + 0.002987654321098)
    r = client.put(f"/grids/{g1['id']}", json=grid(poly=moved))
    assert r.status_code == 200 and r.json()["id"] != g1["id"]


@pytest.mark.parametrize("body, field, words", [
    (grid(poly=shape({"type": "Polygon", "coordinates": [[[X0, Y0], [X0 + CELL, Y0 + CELL], [X0 + CELL, Y0],
                                                          [X0, Y0 + CELL], [X0, Y0]]]})),
     "geometry", ["self-intersection", f"{X0 + CELL / 2:.3f}"]),
    (grid(poly=box(Y0, X0, Y0 + CELL, X0 + CELL)), "geometry", ["swapped"]),
    (grid(community_code="NOPE"), None, ["NOPE"]),
    (grid(poly=box(X0 + 3 * CELL, Y0, X0 + 4 * CELL, Y0 + CELL)), None, ["C0"]),  # inside C1, says C0
    (grid(name=...), "name", ["name"]),
    (grid(community_code=...), "community_code", ["community_code"]),
])
def test_bad_grid_refused_database_unchanged(client, world, db, body, field, words):
    before = snapshot(db)
    assert_problem(client.post("/grids", json=body), 422, field=field, words=words)
    assert snapshot(db) == before


def test_writes_respect_jurisdiction(client, world, db):
    in_c0 = client.post("/stations", json=station()).json()["id"]
    client.app.dependency_overrides[deps.jurisdiction] = lambda: Jurisdiction(frozenset({"C1"}))
    try:
        before = snapshot(db)
        assert_problem(client.post("/stations", json=station("st-2", community_code="C0")), 403)
        assert_problem(client.put(f"/stations/{in_c0}", json=station()), 404)
        assert_problem(client.delete(f"/stations/{in_c0}"), 404)
        assert snapshot(db) == before
        east = station("st-3", lon=X0 + 3.5 * CELL, community_code="C1")
        assert client.post("/stations", json=east).status_code == 201
    finally:
        client.app.dependency_overrides.clear()
