"""Isolation of two towns: an official of town T1 gets nothing of town T2 from any route that
reads data (list, one item, map, statistics, heatmap, hotspots, coverage, what-if, export), and
every route has a scope decision (public, unscoped, or the caller's jurisdiction).

``CASES`` is table-driven over the app's routes: :func:`test_every_scoped_route_has_a_case` fails
when a route reading scoped data is added without an isolation case here.
"""

from __future__ import annotations

import json

import morecantile
import pytest
from sqlalchemy import text

from tests.support.towns import SHIFT_DEG, T1, T2


def _ids(engine) -> dict[str, dict[str, int]]:
    """Per town, one id of each table (the smallest)."""
    out: dict[str, dict] = {T1: {"town": T1}, T2: {"town": T2}}
    with engine.connect() as conn:
        for town in (T1, T2):
            like = town + "%"
            q = {
                "stations": "SELECT min(id) FROM stations WHERE community_code LIKE :l",
                "grids": "SELECT min(id) FROM grids WHERE community_code LIKE :l",
                "dwellings": "SELECT min(id) FROM dwellings WHERE community_code LIKE :l",
                "incidents": "SELECT min(id) FROM incidents WHERE town_code LIKE :l",
                "areas": "SELECT min(id) FROM areas WHERE code LIKE :l",
            }
            for k, sql in q.items():
                out[town][k] = conn.execute(text(sql), {"l": like}).scalar_one()
            # the z14 web-mercator tile over the middle of the town's dwellings
            lon, lat = conn.execute(text("SELECT ST_X(c), ST_Y(c) FROM (SELECT ST_Centroid(ST_Extent(geom)::geometry) c "
                                         "FROM dwellings WHERE community_code LIKE :l) s"), {"l": like}).one()
            t = morecantile.tms.get("WebMercatorQuad").tile(lon, lat, 14)
            out[town]["tile"] = f"{t.z}/{t.x}/{t.y}"
    return out


@pytest.fixture(scope="module")
def ids(engine, towns):
    return _ids(engine)


#: "METHOD /route/path" -> requests (method, url template, json body, what to expect).  ``{X}`` in
#: a url is filled from the other town's ids (must be 404), ``{O}`` from the caller's own (200).
#: expect: "own" (200, T1 data present, no T2), "none" (200, no T2 data), "404" (the other town's id).
CASES: dict[str, list[tuple[str, str, dict | None, str]]] = {
    "GET /coverage": [("GET", "/coverage?level=grid", None, "own"), ("GET", "/coverage?level=town&format=csv", None, "own"),
                      ("GET", "/coverage?level=community&format=geojson", None, "own")],
    "GET /coverage/map": [("GET", "/coverage/map", None, "none")],
    "GET /coverage/gaps": [("GET", "/coverage/gaps?link_m=50", None, "none")],
    "GET /stations/{station_id}/reach": [("GET", "/stations/{O.stations}/reach", None, "own"),
                                         ("GET", "/stations/{X.stations}/reach", None, "404")],
    "GET /coverage/stations": [("GET", "/coverage/stations", None, "own")],
    "GET /coverage/dwellings": [("GET", "/coverage/dwellings", None, "own")],
    "GET /coverage/areas": [("GET", "/coverage/areas", None, "none"), ("GET", "/coverage/areas?by=town", None, "own")],
    "POST /coverage/what-if": [("POST", "/coverage/what-if", {"action": "close", "station_id": "{O.stations}"}, "none"),
                               ("POST", "/coverage/what-if", {"action": "close", "station_id": "{X.stations}"}, "404"),
                               # several changes together (a siting proposal): one foreign station is enough
                               ("POST", "/coverage/what-if", {"action": "close", "station_ids": ["{O.stations}"]},
                                "none"),
                               ("POST", "/coverage/what-if", {"action": "change",
                                                              "station_ids": ["{O.stations}", "{X.stations}"]}, "404")],
    "GET /collections": [("GET", "/collections", None, "extent")],
    "GET /collections/{collectionId}": [("GET", f"/collections/{c}", None, "extent")
                                        for c in ("areas", "towns", "communities", "grids", "grid_versions",
                                                  "dwellings", "stations", "incidents")],
    "GET /collections/{collectionId}/items": [("GET", f"/collections/{c}/items?limit=1000", None, "own")
                                              for c in ("areas", "towns", "communities", "grids", "grid_versions",
                                                        "dwellings", "incidents")]
                                             + [("GET", "/collections/stations/items?limit=1000", None, "none"),
                                                ("GET", "/collections/streets/items", None, "none"),
                                                # a user filter cannot widen the scope (both towns share the county)
                                                ("GET", "/collections/dwellings/items?limit=1000&filter="
                                                 "region_code = '320281' OR households >= 0", None, "own"),
                                                ("GET", "/collections/grids/items?limit=1000&region_code=320281",
                                                 None, "own")],
    "GET /collections/{collectionId}/items/{itemId}": [
        x for c in ("areas", "grids", "dwellings", "stations", "incidents")
        for x in (("GET", f"/collections/{c}/items/{{O.{c}}}", None, "ok"),
                  ("GET", f"/collections/{c}/items/{{X.{c}}}", None, "404"))],
    "GET /collections/{collectionId}/queryables": [("GET", "/collections/dwellings/queryables", None, "none")],
    "GET /collections/{collectionId}/tiles": [("GET", "/collections/dwellings/tiles", None, "none")],
    "GET /collections/{collectionId}/tiles/{tileMatrixSetId}": [
        ("GET", "/collections/grids/tiles/WebMercatorQuad", None, "none")],
    # a tile over the other town holds none of its features; one over the caller's own holds them
    "GET /collections/{collectionId}/tiles/{tileMatrixSetId}/{z}/{x}/{y}": [
        x for c in ("dwellings", "grids", "incidents")
        for x in (("GET", f"/collections/{c}/tiles/WebMercatorQuad/{{O.tile}}", None, "own"),
                  ("GET", f"/collections/{c}/tiles/WebMercatorQuad/{{X.tile}}", None, "none"))],
    "GET /collections/{collectionId}/tiles/{tileMatrixSetId}/tilejson.json": [
        ("GET", "/collections/dwellings/tiles/WebMercatorQuad/tilejson.json", None, "none")],
    "GET /collections/{collectionId}/tiles/{tileMatrixSetId}/style.json": [
        ("GET", "/collections/dwellings/tiles/WebMercatorQuad/style.json", None, "none")],
    "GET /incidents": [("GET", "/incidents?limit=1000", None, "own"), ("GET", "/incidents?area={X.town}", None, "404")],
    "GET /incidents/stats": [("GET", f"/incidents/stats?level={lv}", None, "own") for lv in ("grid", "community", "town")]
                            + [("GET", "/incidents/stats?level=town&format=csv", None, "own"),
                               ("GET", "/incidents/stats?area={X.town}", None, "404")],
    "GET /incidents/{incident_id:int}": [("GET", "/incidents/{O.incidents}", None, "own"),
                                         ("GET", "/incidents/{X.incidents}", None, "404")],
    "POST /incidents/{incident_id:int}/transitions": [
        ("POST", "/incidents/{X.incidents}/transitions", {"action": "accept", "actor": "x"}, "404")],
    "GET /incidents/hotspots": [("GET", "/incidents/hotspots?min_incidents=5&level=h3&resolution=10", None, "none"),
                                ("GET", "/incidents/hotspots?area={X.town}", None, "404")],
    "GET /incidents/heatmap": [("GET", "/incidents/heatmap", None, "none")],
    "GET /incidents/hotspots/map": [("GET", "/incidents/hotspots/map?min_incidents=5&level=h3&resolution=10", None,
                                     "none")],
    "GET /map": [("GET", "/map", None, "none")],
    "GET /": [("GET", "/?f=json", None, "none"), ("GET", "/", None, "none")],
    "GET /export/{layer}": [("GET", f"/export/{x}?format=csv", None, "own")
                            for x in ("areas", "grids", "dwellings", "stations", "incidents")]
                           + [("GET", "/export/grids?format=xlsx", None, "none")],
    "POST /siting": [("POST", "/siting", {"k": 1, "minutes": 1, "method": "greedy", "curve": False, "job": False}, "none")],
    "GET /siting/map": [("GET", "/siting/map?method=greedy&minutes=1", None, "none")],
    "GET /siting/jobs/{job_id}": [],  # test_siting_jobs_belong_to_their_town
    "GET /plans": [("GET", "/plans", None, "none")],
    # a job's or a plan's id belongs to the jurisdiction that made it; a wider one's id is 404 to a
    # narrower caller: tests/api/siting/test_siting_api.py and tests/api/plans/test_plans_create.py
    "POST /plans": [], "GET /plans/{plan_id}": [], "POST /plans/{plan_id}/moves": [],
    "POST /plans/{plan_id}/lock": [], "POST /plans/{plan_id}/balance": [], "POST /plans/{plan_id}/split": [], "POST /plans/{plan_id}/merge": [], "GET /plans/{plan_id}/diff": [], "POST /plans/{plan_id}/publish": [],
    "DELETE /plans/{plan_id}": [], "GET /plans/{plan_id}/export": [],
    "GET /plans/jobs/{job_id}": [],
    "GET /grids/check": [("GET", "/grids/check", None, "none"), ("GET", "/grids/check?format=geojson", None, "none"),
                         ("GET", "/grids/check?format=csv", None, "none"), ("GET", "/grids/check?area={X.town}", None, "404")],  # test_large_create_runs_as_a_job (tests/api/plans/test_plans_create.py)
    # writes: the other town's ids are not found; writes placed there are 403 (test_auth_roles.py)
    "POST /incidents": [], "POST /incidents/bulk": [], "POST /stations": [], "POST /grids": [],
    "PUT /stations/{fid}": [("PUT", "/stations/{X.stations}", {"type": "Feature", "properties": {"name": "x"},
                                                                "geometry": {"type": "Point", "coordinates": [120.4, 31.875]}},
                             "404")],
    "DELETE /stations/{fid}": [("DELETE", "/stations/{X.stations}", None, "404")],
    "PUT /grids/{fid}": [("PUT", "/grids/{X.grids}", {"type": "Feature", "properties": {}, "geometry": {
        "type": "Polygon", "coordinates": [[[120.4, 31.87], [120.41, 31.87], [120.41, 31.88], [120.4, 31.87]]]}}, "404")],
    "DELETE /grids/{fid}": [("DELETE", "/grids/{X.grids}", None, "404")],
}


def _fill(value, ids, me, other):
    if isinstance(value, dict):
        return {k: _fill(v, ids, me, other) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, ids, me, other) for v in value]
    if isinstance(value, str) and "{" in value:
        for tag, town in (("O", me), ("X", other)):
            for k, v in ids[town].items():
                if value == f"{{{tag}.{k}}}":
                    return v
                value = value.replace(f"{{{tag}.{k}}}", str(v))
    return value


def _routes(app):
    from fastapi.routing import iter_route_contexts

    for r in iter_route_contexts(app.routes):
        for m in sorted(r.methods or {"*"}):
            if m != "HEAD":
                yield m, r.path, r


def _calls(dependant):
    yield dependant.call
    for d in dependant.dependencies:
        yield from _calls(d)


def test_every_route_has_a_scope_decision(api):
    """Public, unscoped (no area-bound data), or its answer built with the caller's jurisdiction;
    and every write route has its action in the permission table."""
    from api import deps
    from api.auth import PUBLIC_ROUTES, ROUTE_ACTIONS, UNSCOPED_ROUTES, is_public

    undecided, unlisted = [], []
    for method, path, route in _routes(api.app):
        if is_public(path):
            continue
        if method != "GET" and f"{method} {path}" not in ROUTE_ACTIONS:
            unlisted.append(f"{method} {path}")
        dependant = getattr(route, "dependant", None)
        scoped = dependant is not None and deps.jurisdiction in set(_calls(dependant))
        if not scoped and path not in UNSCOPED_ROUTES:
            undecided.append(f"{method} {path}")
    assert not undecided, f"routes without a scope decision (add ScopeDep, or list them in api/auth/roles.py): {undecided}"
    assert not unlisted, f"write routes without an action in ROUTE_ACTIONS (api/auth/roles.py): {unlisted}"
    assert {"/health", "/token", "/login"} <= PUBLIC_ROUTES


def test_every_scoped_route_has_a_case(api):
    from api.auth import UNSCOPED_ROUTES, is_public

    missing = [f"{m} {p}" for m, p, _ in _routes(api.app)
               if not is_public(p) and p not in UNSCOPED_ROUTES and f"{m} {p}" not in CASES]
    assert not missing, f"add an isolation case to CASES for: {missing}"


def _body_text(r) -> str:
    return r.text


@pytest.mark.parametrize("route", sorted(k for k, v in CASES.items() if v))
def test_town_official_sees_only_its_town(api, as_user, ids, towns, route):
    from api.auth import Action, action_for

    method0, path0 = route.split(" ", 1)
    users = ("plan1", "plan2") if action_for(method0, path0) == Action.EDIT_MAP else ("off1", "off2")
    for me, other, user in ((T1, T2, users[0]), (T2, T1, users[1])):
        h = as_user(user)
        for method, url, body, expect in CASES[route]:
            url = _fill(url, ids, me, other)
            body = _fill(body, ids, me, other)
            r = api.request(method, url, headers=h, json=body)
            where = f"{user} {method} {url}"
            if expect == "404":
                assert r.status_code == 404, (where, r.status_code, r.text[:300])
                continue
            assert r.status_code == 200, (where, r.status_code, r.text[:300])
            txt = _body_text(r)
            assert other not in txt, f"{where}: answer holds {other}'s data"
            for name in towns.markers[other][1:]:
                assert name not in txt and json.dumps(name)[1:-1] not in txt, f"{where}: answer names {name!r}"
            if expect == "own":
                assert any(m in txt or json.dumps(m)[1:-1] in txt for m in towns.markers[me]), \
                    f"{where}: answer holds none of {me}'s data"
            if expect == "extent":
                docs = r.json().get("collections", [r.json()])
                boxes = [d["extent"]["spatial"]["bbox"][0] for d in docs if "extent" in d]
                assert boxes, where
                split = towns.min_lon[T2] - 1e-6
                for b in boxes:
                    assert (b[2] < split) if me == T1 else (b[0] >= split - SHIFT_DEG / 2), (where, b)


def test_export_keeps_to_the_jurisdiction(engine, towns):
    from api.auth import accounts
    from api.db.export import layer_frame

    with engine.connect() as conn:
        scope = accounts.jurisdiction_of(conn, "official", (T1,))
        for layer in ("areas", "grids", "dwellings", "stations", "incidents"):
            frame = layer_frame(conn, layer, scope)
            codes = set()
            for c in ("code", "community_code", "town_code"):
                if c in frame:
                    codes |= {str(v) for v in frame[c].dropna()}
            assert len(frame) and codes and all(c.startswith(T1) for c in codes), layer


def test_admin_sees_both_towns(api, as_user):
    txt = api.get("/collections/areas/items?limit=1000", headers=as_user("root")).text
    assert T1 in txt and T2 in txt


def test_siting_jobs_belong_to_their_town(api, as_user):
    r = api.post("/siting", json={"k": 1, "minutes": 1, "method": "greedy", "curve": False, "job": True}, headers=as_user("off2"))
    assert r.status_code == 202, r.text
    where = r.headers["location"]
    assert api.get(where, headers=as_user("off2")).status_code == 200
    other = api.get(where, headers=as_user("off1"))
    assert other.status_code in (403, 404) and "320281002" not in other.text
