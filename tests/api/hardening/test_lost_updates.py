"""Lost updates: every updatable feature carries an ETag, If-Match is honoured (412 when stale),
concurrent boundary changes of one grid give one new version and 409s without database text;
the boundary comparison is linear in the vertex count."""

from __future__ import annotations

import json
import math
import time
from collections import Counter

import numpy as np
import pytest
from shapely.geometry import Polygon, box, mapping
from sqlalchemy import text

from tests.api.hardening.conftest import X0, Y0, assert_problem, grid, station
from tests.api.hardening.servers import serving
from tests.api.hardening.test_races import _burst


def test_get_put_carry_etags_and_if_match_is_honoured(client, world):
    r = client.post("/stations", json=station("e-1"))
    assert r.status_code == 201 and r.headers["etag"].startswith('"')
    fid, tag = r.json()["id"], r.headers["etag"]
    got = client.get(f"/collections/stations/items/{fid}")
    assert got.headers["etag"] == tag
    ok = client.put(f"/stations/{fid}", json=station("e-1", name="甲"), headers={"If-Match": tag})
    assert ok.status_code == 200 and ok.headers["etag"] != tag
    stale = client.put(f"/stations/{fid}", json=station("e-1", name="乙"), headers={"If-Match": tag})
    assert_problem(stale, 412, words=["changed since you read it"])
    assert stale.json()["etag"] == ok.headers["etag"]
    assert client.get(f"/collections/stations/items/{fid}").json()["properties"]["name"] == "甲"
    assert_problem(client.delete(f"/stations/{fid}", headers={"If-Match": tag}), 412)
    assert client.delete(f"/stations/{fid}", headers={"If-Match": ok.headers["etag"]}).status_code == 204


@pytest.fixture
def server(world, settings):
    with serving(settings) as port:
        yield port


def test_concurrent_property_puts_with_if_match_one_wins(server, client, world):
    gid = client.get("/collections/grids/items?code=G00").json()["features"][0]["id"]
    tag = client.get(f"/collections/grids/items/{gid}").headers["etag"]
    base = client.get(f"/collections/grids/items/{gid}").json()
    bodies = []
    for i in range(8):
        b = json.loads(json.dumps(base))
        b["properties"] = {"code": "G00", "name": f"改名{i}", "community_code": "C0", "chief": "张三"}
        bodies.append(b)
    res = _burst(server, "PUT", f"/grids/{gid}", bodies, [{"If-Match": tag}] * 8)
    assert Counter(s for s, _, _ in res) == {200: 1, 412: 7}, [b for s, b, _ in res if s not in (200, 412)]
    winner = next(b for s, b, _ in res if s == 200)["properties"]["name"]
    assert client.get(f"/collections/grids/items/{gid}").json()["properties"]["name"] == winner


def test_concurrent_boundary_puts_one_new_version_rest_409(server, client, world):
    gid = client.get("/collections/grids/items?code=G10").json()["features"][0]["id"]
    bodies = [grid("G10", poly=box(X0 + 0.004, Y0, X0 + 0.008 - 0.0001 * (i + 1), Y0 + 0.004), community_code="C1")
              for i in range(8)]
    res = _burst(server, "PUT", f"/grids/{gid}", bodies)
    statuses = Counter(s for s, _, _ in res)
    assert statuses == {200: 1, 409: 7}, (statuses, [b for s, b, _ in res if s not in (200, 409)][:2])
    for s, b, _ in res:
        said = json.dumps(b, ensure_ascii=False)
        assert "constraint" not in said and "Key (" not in said and "psycopg" not in said
    with world.connect() as conn:
        versions = conn.execute(text("SELECT count(*) FILTER (WHERE valid_to IS NULL), count(*) FROM grids "
                                     "WHERE code = 'G10'")).one()
    assert tuple(versions) == (1, 2)


def _circle(n: int, r: float, phase: float = 0.0) -> Polygon:
    cx, cy = X0 + 0.002, Y0 + 0.002
    return Polygon([(cx + r * math.cos(phase + 2 * math.pi * k / n), cy + r * math.sin(phase + 2 * math.pi * k / n))
                    for k in range(n)])


def test_same_boundary_comparison_is_linear(world):
    """The comparison PUT /grids uses, on 40k-vertex boundaries (Hausdorff took 54 s), checked
    against shapely: same within 1e-6 degree, moved, and one vertex moved."""
    from api.db.load.grids import same_boundary_sql

    a = _circle(40_000, 0.0015)
    near = Polygon([(x + 4e-7, y - 4e-7) for x, y in a.exterior.coords])
    moved = Polygon([(x + 3e-6, y) for x, y in a.exterior.coords])
    coords = list(a.exterior.coords)
    coords[17] = (coords[17][0] + 1e-5, coords[17][1])
    one = Polygon(coords)
    with world.connect() as conn:
        for other, same in ((a, True), (near, True), (moved, False), (one, False)):
            t0 = time.perf_counter()
            got = conn.execute(text(f"SELECT {same_boundary_sql('ST_GeomFromText(:a, 4326)', 'ST_GeomFromText(:b, 4326)')}"),
                               {"a": a.wkt, "b": other.wkt}).scalar_one()
            took = time.perf_counter() - t0
            assert got is same and took < 5, (same, took)
            # independently: the largest vertex-by-vertex move (numpy; Hausdorff itself is quadratic)
            d = np.abs(np.asarray(a.exterior.coords) - np.asarray(other.exterior.coords)).max()
            assert bool(d < 1e-6) is same
