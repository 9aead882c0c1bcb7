"""Input that used to be accepted silently is refused with a clear message naming the field, with the
documented limits (geo.validate: text lengths, MAX_VERTICES, YEARS; api.limits), and nothing changes."""

from __future__ import annotations

import json

import pytest
from shapely.geometry import box, mapping

from geo.validate import MAX_VERTICES, text_limit
from tests.api.hardening.conftest import X0, Y0, assert_problem, counts, grid, incident, station


def _post(client, path, body):
    return client.post(path, content=json.dumps(body), headers={"content-type": "application/json"})


@pytest.mark.parametrize("body, field, words", [
    (station(colour="red"), "colour", ["unknown field"]),
    (station(capacity=[30]), "capacity", ["array"]),
    (station(source_id={"a": 1}), "source_id", ["object"]),
    (station(lon=str(X0 + 0.001)), "geometry", ["numbers"]),
    (station(lon=[X0 + 0.001]), "geometry", ["numbers"]),
    (station(lon=True), "geometry", ["numbers"]),
    (station(community_code="C0", lon=-60.0, lat=-30.0), "geometry", ["km from community c0"]),
    (station(opened_on="0001-01-01"), "opened_on", ["outside the years"]),
    (grid(colour="red"), "colour", ["unknown field"]),
    (grid(valid_from="0001-01-01T00:00:00Z"), "valid_from", ["outside the years"]),
])
def test_silently_accepted_feature_input_is_422(client, world, body, field, words):
    path = "/stations" if "source_id" in body["properties"] or "kind" in body["properties"] else "/grids"
    before = counts(world)
    assert_problem(_post(client, path, body), 422, field=field, words=words)
    assert counts(world) == before


def test_station_near_its_community_is_accepted(client, world):
    # just outside C0's boundary (a station serving it from across the road) is fine
    r = client.post("/stations", json=station(community_code="C0", lon=X0 - 0.002, lat=Y0 + 0.001))
    assert r.status_code == 201, r.text


def _unclosed(poly):
    g = mapping(poly)
    ring = [list(p) for p in g["coordinates"][0]][:-1]  # drop the closing position
    return {"type": "Polygon", "coordinates": [ring]}


def test_unclosed_ring_is_refused_in_put_and_post(client, world):
    r = client.post("/grids", json=grid("G50"))
    assert r.status_code == 201, r.text
    fid = r.json()["id"]
    before = counts(world)
    body = grid("G50")
    body["geometry"] = _unclosed(box(X0 + 0.0005, Y0 + 0.0005, X0 + 0.003, Y0 + 0.003))
    assert_problem(client.put(f"/grids/{fid}", json=body), 422, field="geometry", words=["not closed"])
    body["properties"]["code"] = "G51"
    assert_problem(client.post("/grids", json=body), 422, field="geometry", words=["not closed"])
    assert counts(world) == before


def test_a_polygon_over_the_vertex_cap_is_refused_fast(client, world):
    import math
    import time

    n = MAX_VERTICES + 1
    cx, cy, rad = X0 + 0.002, Y0 + 0.002, 0.0015
    ring = [[cx + rad * math.cos(2 * math.pi * k / n), cy + rad * math.sin(2 * math.pi * k / n)] for k in range(n)]
    ring.append(ring[0])
    body = grid("G60")
    body["geometry"] = {"type": "Polygon", "coordinates": [ring]}
    before = counts(world)
    t0 = time.perf_counter()
    r = client.post("/grids", json=body)
    took = time.perf_counter() - t0
    assert_problem(r, 422, field="geometry", words=[f"{MAX_VERTICES:,}"])
    assert counts(world) == before
    print(f"refused {n:,} vertices in {took:.2f} s")


def test_vertex_cap_holds_for_file_imports_too():
    import numpy as np
    import shapely

    from geo.validate import check_geometries

    poly = shapely.Polygon(np.column_stack([np.cos(np.linspace(0, 6.28, MAX_VERTICES + 5)) * 0.01 + 120.3,
                                            np.sin(np.linspace(0, 6.28, MAX_VERTICES + 5)) * 0.01 + 31.9]))
    res = check_geometries("MultiPolygon", np.array([poly], dtype=object), np.array([1]), np.array(["g"], dtype=object))
    assert any("vertices" in p.reason and p.field == "geometry" for p in res.problems)


@pytest.mark.parametrize("body, field, words", [
    (incident(reported_at="0001-01-01T00:00:00Z"), "reported_at", ["outside the years"]),
    (incident(description="说" * (15 * 1024 * 1024 // 3)), "description", [f"{text_limit('description'):,}"]),
    (incident(lon="120.281"), "geometry", ["not numbers"]),
    (incident(external_id=["a", "b"]), "external_id", ["array"]),
])
def test_silently_accepted_incident_input_is_422(client, world, body, field, words):
    before = counts(world)
    assert_problem(_post(client, "/incidents", body), 422, field=field, words=words)
    assert counts(world) == before


def test_the_limits_are_documented():
    readme = open("README.md", encoding="utf-8").read()
    for words in ("MAX_VERTICES", "100,000", "1900", "external_id", "10,000"):
        assert words in readme, words
