"""The audit log: every write's who, what, when, before and after, in the same transaction as the
change (a failed write leaves no row), readable by admins (GET /audit, gridmap audit)."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from tests.support.towns import T1, T2


def _rows(engine, table: str, key: str | None = None) -> list[dict]:
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(text(
            "SELECT * FROM audit_log WHERE table_name = :t AND (CAST(:k AS text) IS NULL OR row_key = :k) ORDER BY id"),
            {"t": table, "k": key}).mappings()]


def _station_feature(api, as_user, sid: int) -> dict:
    f = api.get(f"/collections/stations/items/{sid}", headers=as_user("root")).json()
    return {"type": "Feature", "geometry": f["geometry"], "properties": dict(f["properties"])}


def _t1_station(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT min(id) FROM stations WHERE community_code LIKE :l"),
                            {"l": T1 + "%"}).scalar_one()


def test_import_is_audited_as_system(engine, towns):
    """The fixture's import ran outside any request or command: the actor is 'system'; one row
    per written row, the after image holding the row (geometry as GeoJSON), no before image."""
    with engine.connect() as conn:
        n = conn.execute(text("SELECT count(*) FROM stations")).scalar_one()
        rows = conn.execute(text("SELECT actor, operation, before, after, ST_GeometryType(after_geom) AS g, "
                                 "before_geom FROM audit_log WHERE table_name = 'stations'")).all()
        same = conn.execute(text("SELECT count(*) FROM audit_log a JOIN stations s ON a.row_key = s.id::text "
                                 "WHERE a.table_name = 'stations' AND ST_Equals(a.after_geom, s.geom) "
                                 "AND a.after->>'name' = s.name")).scalar_one()
    assert len(rows) == n and all(r.actor == "system" and r.operation == "insert" and r.before is None for r in rows)
    assert {r.g for r in rows} == {"ST_Point"} and all(r.before_geom is None and "geom" not in r.after for r in rows)
    assert same == n  # the after image is the stored row


def test_after_image_is_every_column_but_geom(engine, towns):
    """Each imported station's after image is the stored row as JSON without its geometry, checked
    against PostgreSQL's own whole-row ``to_jsonb`` of the table (independent of the trigger's
    column list), and an update's before image is the row as it was."""
    with engine.connect() as conn:
        n = conn.execute(text("SELECT count(*) FROM stations")).scalar_one()
        same = conn.execute(text("SELECT count(*) FROM audit_log a JOIN stations s ON a.row_key = s.id::text "
                                 "WHERE a.table_name = 'stations' AND a.operation = 'insert' "
                                 "AND a.after = to_jsonb(s) - 'geom'")).scalar_one()
    assert n > 0 and same == n
    with engine.begin() as conn:
        sid = conn.execute(text("SELECT max(id) FROM stations")).scalar_one()  # one no other test writes
        was = conn.execute(text("SELECT to_jsonb(s) - 'geom' FROM stations s WHERE id = :i"), {"i": sid}).scalar_one()
        conn.execute(text("UPDATE stations SET name = name || ' 2' WHERE id = :i"), {"i": sid})
        now = conn.execute(text("SELECT to_jsonb(s) - 'geom' FROM stations s WHERE id = :i"), {"i": sid}).scalar_one()
        row = conn.execute(text("SELECT before, after FROM audit_log WHERE table_name = 'stations' AND row_key = :k "
                                "AND operation = 'update' ORDER BY id DESC LIMIT 1"), {"k": str(sid)}).one()
        conn.execute(text("UPDATE stations SET name = :n WHERE id = :i"), {"n": was["name"], "i": sid})
    assert (row.before, row.after) == (was, now) and was != now


def test_put_records_before_and_after(api, engine, towns, as_user):
    sid = _t1_station(engine)
    feature = _station_feature(api, as_user, sid)
    old = feature["properties"]["name"]
    feature["properties"]["name"] = old + "（新）"
    r = api.put(f"/stations/{sid}", json=feature, headers=as_user("plan1"))
    assert r.status_code == 200, r.text
    rows = [x for x in _rows(engine, "stations", str(sid)) if x["operation"] == "update"]
    assert len(rows) == 1
    row = rows[0]
    assert row["actor"] == "plan1" and row["request"] == f"PUT /stations/{sid}"
    assert row["before"]["name"] == old and row["after"]["name"] == old + "（新）"
    with engine.connect() as conn:  # the audit row's time is the write's transaction time
        upd = conn.execute(text("SELECT updated_at FROM stations WHERE id = :i"), {"i": sid}).scalar_one()
    assert abs((row["at"] - upd).total_seconds()) < 5
    # the same PUT again changes nothing, so it records nothing
    assert api.put(f"/stations/{sid}", json=feature, headers=as_user("plan1")).status_code == 200
    assert len([x for x in _rows(engine, "stations", str(sid)) if x["operation"] == "update"]) == 1


def test_failed_writes_leave_no_audit_row(api, engine, towns, as_user):
    with engine.connect() as conn:
        before = conn.execute(text("SELECT count(*) FROM audit_log")).scalar_one()
    sid = _t1_station(engine)
    bad = _station_feature(api, as_user, sid)
    bad["properties"]["opened_on"] = "not a date"
    assert api.put(f"/stations/{sid}", json=bad, headers=as_user("plan1")).status_code == 422
    # rows written, then refused in the same transaction (one of the two incidents lies in T2)
    x, y = towns.layers[T2]["dwellings"].geometry.iloc[0].coords[0]
    x1, y1 = towns.layers[T1]["dwellings"].geometry.iloc[0].coords[0]
    bulk = [{"type": "Feature", "geometry": {"type": "Point", "coordinates": list(c)},
             "properties": {"external_id": f"audit-fail-{i}", "category": "street_light",
                            "reported_at": "2025-03-01T08:30:00+08:00"}} for i, c in enumerate([(x1, y1), (x, y)])]
    assert api.post("/incidents/bulk", json=bulk, headers=as_user("off1")).status_code == 403
    with pytest.raises(RuntimeError), engine.begin() as conn:  # any failure after the write rolls both back
        conn.execute(text("UPDATE stations SET name = 'rolled back' WHERE id = :i"), {"i": sid})
        assert conn.execute(text("SELECT count(*) FROM audit_log WHERE row_key = :k AND after->>'name' = "
                                 "'rolled back'"), {"k": str(sid)}).scalar_one() == 1  # written with it...
        raise RuntimeError("fail after the write")
    with engine.connect() as conn:  # ...and gone with it
        assert conn.execute(text("SELECT count(*) FROM audit_log")).scalar_one() == before


def test_workflow_and_intake_are_audited(api, engine, towns, as_user):
    x, y = towns.layers[T1]["dwellings"].geometry.iloc[0].coords[0]
    body = {"type": "Feature", "geometry": {"type": "Point", "coordinates": [x, y]},
            "properties": {"external_id": "audit-ok-1", "category": "street_light",
                           "reported_at": "2025-03-01T08:30:00+08:00"}}
    r = api.post("/incidents", json=body, headers=as_user("off1"))
    assert r.status_code == 201, r.text
    iid = r.json()["id"]
    t = api.post(f"/incidents/{iid}/transitions", json={"action": "dispatch", "actor": "张三"}, headers=as_user("off1"))
    assert t.status_code == 200
    rows = _rows(engine, "incidents", str(iid))
    assert [(x["operation"], x["actor"], x["request"]) for x in rows] == [
        ("insert", "off1", "POST /incidents"), ("update", "off1", f"POST /incidents/{iid}/transitions")]
    assert rows[1]["before"]["status"] == "reported" and rows[1]["after"]["status"] == "dispatched"
    with engine.connect() as conn:  # the report's event names the caller
        assert conn.execute(text("SELECT actor FROM incident_events WHERE incident_id = :i AND action = 'report'"),
                            {"i": iid}).scalar_one() == "off1"


def test_get_audit_for_admins(api, engine, towns, as_user):
    r = api.get("/audit?table=incidents&limit=5", headers=as_user("root"))
    assert r.status_code == 200
    body = r.json()
    assert body["numberReturned"] <= 5 and body["numberMatched"] >= body["numberReturned"] > 0
    assert all(i["table_name"] == "incidents" for i in body["items"])
    assert all(i["after_geom"]["type"] == "Point" for i in body["items"])  # geometry as GeoJSON
    ids = [i["id"] for i in body["items"]]
    assert ids == sorted(ids, reverse=True)
    mine = api.get("/audit?actor=off1", headers=as_user("root")).json()
    assert mine["numberMatched"] > 0 and {i["actor"] for i in mine["items"]} == {"off1"}
    late = api.get("/audit?since=2199-01-01T00:00:00", headers=as_user("root")).json()
    assert late["numberMatched"] == 0
    # times are read as the incident filters read them: any offset, the years gridmap takes
    odd = api.get("/audit?since=2025-01-01T00:00:00%2B18:23", headers=as_user("root"))
    assert odd.status_code == 200 and odd.json()["numberMatched"] > 0, odd.text
    far = api.get("/audit?since=2999-01-01T00:00:00", headers=as_user("root"))
    assert far.status_code == 422 and far.json()["errors"][0]["field"] == "query.since", far.text
    assert api.get("/audit", headers=as_user("off1")).status_code == 403


def test_secrets_never_reach_the_audit_log(engine, towns, users):
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT after FROM audit_log WHERE table_name IN ('users', 'api_tokens')")).scalars().all()
    assert rows and all("password_hash" not in r and "token_hash" not in r for r in rows)


def test_the_application_role_writes_the_log_through_its_changes_and_cannot_forge_it(engine, towns):
    """The trigger runs as the schema owner: the application's least-privilege role (the session's
    engine) writes audit rows through its changes, and none by hand, and cannot edit or empty the log."""
    from sqlalchemy.exc import ProgrammingError

    with engine.connect() as conn:
        tx = conn.begin()
        try:
            assert conn.execute(text("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")).scalar_one() \
                is False
            conn.execute(text("SELECT set_config('gridmap.actor', 'probe', true)"))
            sid = conn.execute(text("SELECT max(id) FROM stations")).scalar_one()  # one no other test writes
            conn.execute(text("UPDATE stations SET name = name || '!' WHERE id = :i"), {"i": sid})
            assert conn.execute(text("SELECT actor FROM audit_log WHERE row_key = :k AND table_name = 'stations' "
                                     "ORDER BY id DESC LIMIT 1"), {"k": str(sid)}).scalar_one() == "probe"
            for forge in ("INSERT INTO audit_log (actor, operation, table_name) VALUES ('x', 'insert', 'x')",
                          "UPDATE audit_log SET actor = 'x'", "DELETE FROM audit_log", "TRUNCATE audit_log"):
                with pytest.raises(ProgrammingError, match="permission denied"):
                    with conn.begin_nested():
                        conn.execute(text(forge))
        finally:
            tx.rollback()
