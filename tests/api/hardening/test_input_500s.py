"""Input that used to crash a request (500) is a 4xx problem naming the field, and the database is
unchanged; a 500 does not reset the keep-alive connection."""

from __future__ import annotations

import json

import pytest
from starlette.requests import Request

from tests.api.hardening.conftest import assert_problem, counts, grid, incident, station


# --- NUL characters and lone surrogates, in bodies and query parameters ---

@pytest.mark.parametrize("bad", ["a\x00b", "\ud800"], ids=["nul", "surrogate"])
@pytest.mark.parametrize("path, body, field", [
    ("/stations", lambda s: station(name=s), "name"),
    ("/stations", lambda s: station(source_id=s), "source_id"),
    ("/grids", lambda s: grid(chief=s), "chief"),
    ("/incidents", lambda s: incident(description=s), "description"),
    ("/incidents", lambda s: incident(external_id=s), "external_id"),
    ("/incidents/bulk", lambda s: [incident(description=s)], "description"),
])
def test_bad_characters_in_bodies_are_422(client, world, bad, path, body, field):
    before = counts(world)
    raw = json.dumps(body(bad))  # ensure_ascii: "\u0000" / "\ud800" escapes, as a client sends them
    r = client.post(path, content=raw, headers={"content-type": "application/json"})
    assert_problem(r, 422, field=field)
    assert counts(world) == before


@pytest.mark.parametrize("bad", ["%00", "%ED%A0%80"], ids=["nul", "surrogate-utf8"])
@pytest.mark.parametrize("url, param", [
    ("/incidents?area={}", "area"),
    ("/incidents?category={}", "category"),
    ("/incidents?grid={}", "grid"),
    ("/incidents/stats?area={}", "area"),
    ("/incidents/heatmap?category={}", "category"),
    ("/collections/grids/items?code={}", "code"),
    ("/coverage?kinds={}", "kinds"),
])
def test_bad_characters_in_query_parameters_are_422(client, world, bad, url, param):
    r = client.get(url.format("x" + bad))
    assert_problem(r, 422, field=f"query.{param}")


def test_nul_in_a_path_segment_is_4xx(client, world):
    r = client.get("/collections/gri%00ds/items")
    assert r.status_code in (404, 422), r.text
    assert r.headers["content-type"].startswith("application/problem+json")


# --- sizes and depths ---

def test_a_million_character_external_id_is_422(client, world):
    before = counts(world)
    r = client.post("/incidents", json=incident(external_id="x" * 1_000_000))
    assert_problem(r, 422, field="external_id")
    assert counts(world) == before


def test_a_million_character_source_id_is_422(client, world):
    before = counts(world)
    r = client.post("/stations", json=station(source_id="s" * 1_000_000))
    assert_problem(r, 422, field="source_id")
    assert counts(world) == before


@pytest.mark.parametrize("path", ["/incidents", "/incidents/bulk", "/stations"])
def test_json_nested_100000_deep_is_4xx(client, world, path):
    before = counts(world)
    deep = "[" * 100_000 + "]" * 100_000
    r = client.post(path, content=deep, headers={"content-type": "application/json"})
    assert_problem(r, 422, field="body", words=["deep"])
    assert counts(world) == before


def test_ndjson_line_nested_deep_is_that_rows_error(client, world):
    lines = json.dumps(incident("ok-1")) + "\n" + "[" * 100_000 + "]" * 100_000 + "\n"
    r = client.post("/incidents/bulk?mode=partial", content=lines, headers={"content-type": "application/x-ndjson"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["inserted"] == 1 and [p["row"] for p in body["rejected"]] == [2]


@pytest.mark.parametrize("url, param", [
    ("/incidents?offset=99999999999999999999", "offset"),
    ("/collections/stations/items?offset=99999999999999999999", "offset"),
    ("/incidents?limit=99999999999999999999", "limit"),
    ("/incidents/99999999999999999999", "incident_id"),
    ("/collections/stations/items/99999999999999999999", "feature_id"),
])
def test_integers_beyond_bigint_are_422(client, world, url, param):
    r = client.get(url)
    assert r.status_code in (404, 422), r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    if r.status_code == 422:
        assert any(param in e.get("field", "") for e in r.json().get("errors", [])), r.json()


@pytest.mark.parametrize("value", ["2025-01-01T00:00:00-18:42", "2025-01-01T00:00:00+23:59",
                                   "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-05:00"])
@pytest.mark.parametrize("path", ["/incidents", "/incidents/stats", "/incidents/heatmap", "/incidents/hotspots"])
def test_odd_time_offsets_in_filters_are_answered_or_422(client, world, value, path):
    r = client.get(path, params={"from": value})
    if value.startswith(("0001", "9999")):  # outside the years gridmap takes
        assert_problem(r, 422, field="query.from", words=["outside the years"])
    elif r.status_code != 200:  # hotspots: too few incidents in the (empty) world
        assert_problem(r, 422, words=["too few incidents"])


def test_odd_offset_means_the_instant_it_names(client, world):
    # 2025-02-01T09:00+08:00 = 01:00Z; -18:42 puts "2025-01-31T06:19-18:42" at 2025-02-01T01:01Z
    assert client.post("/incidents", json=incident("t-1")).status_code == 201
    before = client.get("/incidents", params={"from": "2025-01-31T06:17:00-18:42"}).json()
    after = client.get("/incidents", params={"from": "2025-01-31T06:19:00-18:42"}).json()
    assert (before["numberMatched"], after["numberMatched"]) == (1, 0)


# --- bodies that are not UTF-8 or not JSON: say where ---

def test_body_not_utf8_names_the_byte(client, world):
    raw = json.dumps(station(name="站"), ensure_ascii=False).encode().replace("站".encode(), b"\xff\xfe")
    r = client.post("/stations", content=raw, headers={"content-type": "application/json"})
    body = assert_problem(r, 400, field="body", words=["utf-8", "byte"])
    assert str(raw.index(b"\xff")) in body["detail"]


def test_body_not_json_names_the_position(client, world):
    r = client.post("/stations", content=b'{"type": "Feature", oops}', headers={"content-type": "application/json"})
    body = r.json()
    assert r.status_code in (400, 422) and r.headers["content-type"].startswith("application/problem+json")
    assert "20" in json.dumps(body), body  # the position of the fault


# --- a 500 keeps the connection usable ---

def test_after_a_500_the_connection_still_works(world, settings):
    """Against a real server (uvicorn, keep-alive): a request that fails with 500 does not reset the
    connection, so the client's next request on it succeeds."""
    import http.client

    from tests.api.hardening.servers import serving

    def boom(request: Request):
        raise RuntimeError("a bug")

    with serving(settings, extra_routes={"/boom": boom}) as port:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", "/boom")
        r = conn.getresponse()
        r.read()
        assert r.status == 500 and r.getheader("content-type") == "application/problem+json"
        assert (r.getheader("connection") or "").lower() != "close"
        conn.request("GET", "/incidents/categories")
        r2 = conn.getresponse()
        assert r2.status == 200, r2.read()
        r2.read()
        conn.close()
