"""Each role's allowed and forbidden actions (the permission table, written out here on its own),
writes outside the caller's areas (403, nothing written), a grid worker's own grids, and the
personal fields each role sees."""

from __future__ import annotations

import itertools

import pytest
from sqlalchemy import text

from tests.api.auth.conftest import GRID_A1, GRID_A2
from tests.support.towns import T1, T2

_seq = itertools.count(1)

#: role's user -> the actions it may take (the issue's table, independent of api/auth/roles.py)
MAY = {
    "root": {"read", "report", "handle", "edit", "admin"},
    "plan1": {"read", "edit"},
    "off1": {"read", "report", "handle"},
    "worker1": {"read", "report", "handle"},
    "ana1": {"read"},
    "feed1": {"report"},
}


def _point(towns, town: str, grid: str | None = None) -> tuple[float, float]:
    d = towns.layers[town]["dwellings"]
    if grid is not None:
        d = d[d["grid_code"] == grid]
    p = d.geometry.iloc[0]
    return float(p.x), float(p.y)


def _incident(towns, town: str, grid: str | None = None) -> dict:
    x, y = _point(towns, town, grid)
    return {"type": "Feature", "geometry": {"type": "Point", "coordinates": [x, y]},
            "properties": {"external_id": f"auth-{next(_seq)}", "category": "street_light",
                           "reported_at": "2025-03-01T08:30:00+08:00"}}


def _station(towns, town: str) -> dict:
    x, y = _point(towns, town)
    return {"type": "Feature", "geometry": {"type": "Point", "coordinates": [x, y]},
            "properties": {"source_id": f"auth-st-{next(_seq)}", "name": "测试站点", "kind": "grid_station",
                           "community_code": f"{town}001"}}


def _open_incident(engine, grid: str) -> int:
    """A T1 incident of ``grid`` in status reported (made so, for the workflow requests)."""
    with engine.begin() as conn:
        iid = conn.execute(text("SELECT min(id) FROM incidents WHERE grid_code = :g"), {"g": grid}).scalar_one()
        conn.execute(text("UPDATE incidents SET status = 'reported', closed_at = NULL, close_reason = NULL "
                          "WHERE id = :i"), {"i": iid})
    return iid


def _request(api, engine, towns, action: str):
    if action == "read":
        return "GET", "/collections/grids/items", None
    if action == "report":
        return "POST", "/incidents", _incident(towns, T1, GRID_A1)
    if action == "handle":
        return "POST", f"/incidents/{_open_incident(engine, GRID_A1)}/transitions", {"action": "dispatch", "actor": "t"}
    if action == "edit":
        return "POST", "/stations", _station(towns, T1)
    return "GET", "/audit", None


@pytest.mark.parametrize("user", sorted(MAY))
@pytest.mark.parametrize("action", ["read", "report", "handle", "edit", "admin"])
def test_role_permissions(api, engine, towns, as_user, user, action):
    method, url, body = _request(api, engine, towns, action)
    r = api.request(method, url, json=body, headers=as_user(user))
    if action in MAY[user]:
        assert r.status_code in (200, 201), (user, action, r.status_code, r.text[:300])
    else:
        assert r.status_code == 403, (user, action, r.status_code, r.text[:300])
        assert r.json()["type"] == "/problems/not-permitted"


def _count(engine, sql: str, **p) -> int:
    with engine.connect() as conn:
        return conn.execute(text(sql), p).scalar_one()


def test_station_outside_the_planners_town_is_403(api, engine, towns, as_user):
    body = _station(towns, T2)
    r = api.post("/stations", json=body, headers=as_user("plan1"))
    assert r.status_code == 403, r.text
    assert _count(engine, "SELECT count(*) FROM stations WHERE source_id = :s", s=body["properties"]["source_id"]) == 0
    assert api.post("/stations", json=body, headers=as_user("plan2")).status_code == 201


def test_incidents_outside_the_callers_town_are_403(api, engine, towns, as_user):
    one = _incident(towns, T2)
    r = api.post("/incidents", json=one, headers=as_user("off1"))
    assert r.status_code == 403, r.text
    bulk = [_incident(towns, T1), _incident(towns, T2)]
    r2 = api.post("/incidents/bulk", json=bulk, headers=as_user("feed1"))
    assert r2.status_code == 403 and r2.json()["outside"] == [bulk[1]["properties"]["external_id"]]
    ids = [one["properties"]["external_id"]] + [b["properties"]["external_id"] for b in bulk]
    assert _count(engine, "SELECT count(*) FROM incidents WHERE external_id = ANY(:i)", i=ids) == 0
    assert api.post("/incidents/bulk", json=bulk[:1], headers=as_user("feed1")).status_code == 200
    assert _count(engine, "SELECT count(*) FROM incidents WHERE external_id = ANY(:i)", i=ids) == 1


def test_grid_worker_handles_only_its_own_grids(api, engine, towns, as_user):
    mine, theirs = _open_incident(engine, GRID_A1), _open_incident(engine, GRID_A2)
    h = as_user("worker1")
    assert api.get(f"/incidents/{theirs}", headers=h).status_code == 200  # reads its community
    r = api.post(f"/incidents/{theirs}/transitions", json={"action": "dispatch", "actor": "w"}, headers=h)
    assert r.status_code == 404, r.text
    assert _count(engine, "SELECT count(*) FROM incidents WHERE id = :i AND status = 'reported'", i=theirs) == 1
    r = api.post(f"/incidents/{mine}/transitions", json={"action": "dispatch", "actor": "w"}, headers=h)
    assert r.status_code == 200 and r.json()["status"] == "dispatched"
    assert api.post(f"/incidents/{theirs}/transitions", json={"action": "dispatch", "actor": "o"},
                    headers=as_user("off1")).status_code == 200


@pytest.mark.parametrize("user, personal", [("root", True), ("off1", True), ("worker1", True),
                                            ("plan1", False), ("ana1", False)])
def test_personal_fields_only_for_roles_that_need_them(api, engine, as_user, user, personal):
    from api.auth import accounts
    from api.db.export import layer_frame

    h = as_user(user)
    grids = api.get("/collections/grids/items", headers=h).json()["features"]
    dwell = api.get("/collections/dwellings/items?limit=50", headers=h).json()["features"]
    one = api.get(f"/collections/dwellings/items/{dwell[0]['id']}", headers=h).json()
    assert grids and dwell
    # the OGC collections are public views: no personal field for anyone, whatever the role
    for props, field in [(g["properties"], "phone") for g in grids] + [(d["properties"], "address") for d in dwell] \
            + [(one["properties"], "address")]:
        assert field not in props, (user, field)
    doc = api.get("/collections/grids", headers=h).json()
    assert "phone" not in doc["properties"] and "chief" in doc["properties"]
    # the exports keep them for the roles that need them
    role, areas = {"root": ("admin", ()), "off1": ("official", (T1,)), "worker1": ("grid_worker", (GRID_A1,)),
                   "plan1": ("planner", (T1,)), "ana1": ("analyst", (T1,))}[user]
    with engine.connect() as conn:
        scope = accounts.jurisdiction_of(conn, role, areas)
        assert ("phone" in layer_frame(conn, "grids", scope).columns) == personal
        assert ("address" in layer_frame(conn, "dwellings", scope).columns) == personal


def test_me_says_role_areas_and_personal_fields(api, as_user):
    me = api.get("/me", headers=as_user("worker1")).json()
    assert me["role"] == "grid_worker" and me["own_grids"] == [GRID_A1] and me["areas"] == [f"{T1}001"]
    assert me["personal_fields"] is True
    me = api.get("/me", headers=as_user("ana1")).json()
    assert me["own_grids"] is None and me["personal_fields"] is False and T1 in me["areas"]
    assert f"{T1}001" in me["areas"]  # a town's jurisdiction holds its communities
    assert api.get("/me", headers=as_user("root")).json()["areas"] is None  # everywhere
