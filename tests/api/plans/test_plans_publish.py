"""Publishing plans: a stale plan refused with what changed, a failed publish changing nothing, and
a publish keeping history consistent (old versions closed at publish time, incidents before it on
their old grid and after it on the new, dwellings re-attributed, coverage answers following), the
idempotent retry not publishing twice.  Checked in SQL against the stored rows."""

from __future__ import annotations

from datetime import datetime, timezone

import geopandas as gpd
import pytest
import shapely
from sqlalchemy import text

from api.imports import import_frame
from api.jurisdiction import EVERYWHERE
from api.plans import PlanSpec, create_plans, publish_plan
from api.errors import StalePlan
from tests.support.db import sql_rows, truncate
from tests.support.sample import load_sample


@pytest.fixture(scope="module")
def world(engine, settings):
    truncate(engine)
    layers = load_sample(engine, 3000, seed=2)
    comm = sorted(layers["areas"].query("level == 'community'")["code"])[0]
    d = layers["dwellings"]
    with engine.connect() as conn:
        pts = conn.execute(text("SELECT source_id, ST_X(geom) x, ST_Y(geom) y FROM dwellings "
                                "WHERE community_code = :c ORDER BY source_id"), {"c": comm}).all()
    inc = gpd.GeoDataFrame({"external_id": [f"old-{r.source_id}" for r in pts], "category": "other",
                            "reported_at": "2026-06-01T10:00:00+08:00"},
                           geometry=[shapely.Point(r.x, r.y) for r in pts], crs=4326)
    with engine.begin() as conn:
        import_frame(conn, "incidents", inc, settings)
    return {"community": comm, "points": pts, "dwellings": d}


def state(engine):
    """Everything a publish may change."""
    return {
        "grids": sql_rows(engine, "SELECT id, code, community_code, valid_from, valid_to, md5(ST_AsBinary(geom)) FROM grids ORDER BY id"),
        "dwellings": sql_rows(engine, "SELECT source_id, grid_code, community_code FROM dwellings ORDER BY source_id"),
        "incidents": sql_rows(engine, "SELECT id, grid_id, grid_code FROM incidents ORDER BY id"),
        "versions": sql_rows(engine, "SELECT layer, version FROM data_versions ORDER BY layer"),
        "plans": sql_rows(engine, "SELECT id, status, published_at FROM plans ORDER BY id"),
    }


def _plan(engine, settings, comm, **kw):
    return create_plans(engine, settings, EVERYWHERE, PlanSpec(community=comm, **kw))[1]["plans"][0]["id"]


def test_stale_plan_refused(engine, settings, world):
    pid = _plan(engine, settings, world["community"], target=280)
    p = world["points"][0]
    new = gpd.GeoDataFrame({"source_id": ["new-1"], "households": [12]}, geometry=[shapely.Point(p.x + 1e-5, p.y)],
                           crs=4326)
    with engine.begin() as conn:
        import_frame(conn, "dwellings", new, settings)
    before = state(engine)
    with pytest.raises(StalePlan) as exc:
        publish_plan(engine, settings, EVERYWHERE, pid)
    assert "dwellings changed" in exc.value.problems[0].reason
    assert state(engine) == before
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM dwellings WHERE source_id = 'new-1'"))


def test_failed_publish_changes_nothing(engine, settings, world):
    pid = _plan(engine, settings, world["community"])
    before = state(engine)

    def boom(conn):
        n = conn.execute(text("SELECT count(*) FROM grids WHERE valid_to IS NOT NULL")).scalar_one()
        assert n > 0  # the publish had written when it failed
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        publish_plan(engine, settings, EVERYWHERE, pid, before_commit=boom)
    assert state(engine) == before


def test_publish_keeps_history(api, engine, settings, world):
    comm = world["community"]
    pid = _plan(engine, settings, comm)
    other = _plan(engine, settings, comm, target=260)
    cov_before = {r["code"]: r for r in api.get("/coverage", params={"area": comm}).json()["rows"]}
    before = state(engine)
    old_inc = {r.id: (r.grid_id, r.grid_code) for r in before["incidents"]}
    r = api.post(f"/plans/{pid}/publish", headers={"Idempotency-Key": "pub-1"})
    assert r.status_code == 200, r.text
    ans = r.json()
    at = datetime.fromisoformat(ans["published_at"])
    assert ans["grids"]["new_versions"] + ans["grids"]["added"] > 0
    # current grids of the community are exactly the plan's grids, same polygons
    (ok,) = sql_rows(engine, """
        SELECT bool_and(g.id IS NOT NULL AND ST_HausdorffDistance(g.geom, pg.geom) < 1e-6)
        FROM plan_grids pg LEFT JOIN grids g ON g.code = pg.code AND g.valid_to IS NULL WHERE pg.plan_id = :p""", p=pid)
    assert ok[0]
    cur = {x.code for x in sql_rows(engine, "SELECT code FROM grids WHERE valid_to IS NULL AND community_code = :c", c=comm)}
    assert cur == {x.code for x in sql_rows(engine, "SELECT code FROM plan_grids WHERE plan_id = :p", p=pid)}
    # the versions it closed end at the publish, the ones it made start there
    old_ids = {x.id for x in before["grids"] if x.community_code == comm and x.valid_to is None}
    rows = sql_rows(engine, "SELECT id, valid_from, valid_to FROM grids WHERE community_code = :c", c=comm)
    closed = [x for x in rows if x.id in old_ids and x.valid_to is not None]
    made = [x for x in rows if x.id not in old_ids and x.valid_to is None]
    assert closed and made
    assert all(x.valid_to == at for x in closed) and all(x.valid_from == at for x in made)
    # incidents reported before the publish keep their grid version
    after_inc = {x.id: (x.grid_id, x.grid_code) for x in sql_rows(engine, "SELECT id, grid_id, grid_code FROM incidents")}
    assert after_inc == old_inc
    # dwellings: the grid covering them now (point-in-grid in SQL), which is the plan unit's grid
    rows = sql_rows(engine, """
        WITH u AS (SELECT grid_code, unnest(dwelling_ids) AS sid FROM plan_units WHERE plan_id = :p)
        SELECT d.source_id, d.grid_code, u.grid_code AS planned,
               (SELECT g.code FROM grids g WHERE g.valid_to IS NULL AND ST_Covers(g.geom, d.geom)
                ORDER BY g.code COLLATE "C", g.id LIMIT 1) AS covering
        FROM dwellings d JOIN u ON u.sid = d.source_id""", p=pid)
    assert rows and all(x.grid_code == x.covering for x in rows)
    assert all(x.grid_code == x.planned for x in rows)
    # an incident reported after the publish lands in the new version
    moved = next(x for x in rows if x.grid_code != dict((b.source_id, b.grid_code) for b in before["dwellings"])[x.source_id])
    p = next(pt for pt in world["points"] if pt.source_id == moved.source_id)
    inc = gpd.GeoDataFrame({"external_id": ["late-1"], "category": "other",
                            "reported_at": [datetime.now(timezone.utc).isoformat()]},
                           geometry=[shapely.Point(p.x, p.y)], crs=4326)
    with engine.begin() as conn:
        import_frame(conn, "incidents", inc, settings)
    (late,) = sql_rows(engine, """SELECT i.grid_code, g.valid_from FROM incidents i JOIN grids g ON g.id = i.grid_id
                           WHERE external_id = 'late-1'""")
    assert late.grid_code == moved.grid_code and late.valid_from == at
    # coverage answers follow the new grids
    cov_after = {r["code"]: r for r in api.get("/coverage", params={"area": comm}).json()["rows"]}
    plan_hh = dict(sql_rows(engine, "SELECT code, households FROM plan_grids WHERE plan_id = :p", p=pid))
    assert set(cov_after) == {c for c, h in plan_hh.items() if h}
    assert {c: r["households"] for c, r in cov_after.items()} == {c: h for c, h in plan_hh.items() if h}
    assert {c: r["households"] for c, r in cov_after.items()} != {c: r["households"] for c, r in cov_before.items()}
    # the retry answers the same and publishes nothing more
    n = sql_rows(engine, "SELECT count(*) FROM grids")[0][0]
    again = api.post(f"/plans/{pid}/publish", headers={"Idempotency-Key": "pub-1"})
    assert again.json() == ans and again.headers["Idempotent-Replayed"] == "true"
    assert sql_rows(engine, "SELECT count(*) FROM grids")[0][0] == n
    assert api.post(f"/plans/{pid}/publish").status_code == 409  # no longer a draft
    # a draft made before this publish is now stale: refused, naming the grids
    r = api.post(f"/plans/{other}/publish")
    assert r.status_code == 409 and r.json()["type"] == "/problems/stale-plan"
    assert "current grids changed" in r.json()["errors"][0]["reason"]
