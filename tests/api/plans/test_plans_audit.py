"""Plans are audited (migration 0010): creating, moving and publishing a plan write ``audit_log``
rows in the same transaction, with the actor of the context (set per request by api.auth, per
command by the CLI) and the rows before and after.  Checked against the plan tables themselves."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from api.db.audit import acting
from api.jurisdiction import EVERYWHERE
from api.plans import LivePlans, PlanSpec, create_plans, move_units, publish_plan
from tests.support.db import sql_rows, truncate
from tests.support.sample import load_sample


@pytest.fixture(scope="module")
def plan(engine, settings):
    truncate(engine)
    layers = load_sample(engine, 3000, seed=3)
    comm = sorted(layers["areas"].query("level == 'community'")["code"])[0]
    with acting("planner:ann", "POST /plans"):
        pid = create_plans(engine, settings, EVERYWHERE, PlanSpec(community=comm, target=280))[1]["plans"][0]["id"]
    return pid


def audit(engine, table, actor, op):
    return sql_rows(engine, "SELECT row_key, request, before, after FROM audit_log "
                     "WHERE table_name = :t AND actor = :a AND operation = :o ORDER BY id", t=table, a=actor, o=op)


def test_create_writes_one_insert_row_per_plan_unit_and_grid(engine, plan):
    for table in ("plans", "plan_units", "plan_grids"):
        ids = {str(r[0]) for r in sql_rows(engine, f"SELECT id FROM {table} WHERE plan_id = :p" if table != "plans"
                                    else "SELECT id FROM plans WHERE id = :p", p=plan)}
        rows = audit(engine, table, "planner:ann", "insert")
        assert ids and {r.row_key for r in rows} == ids, table
        assert all(r.request == "POST /plans" and r.before is None for r in rows)
    (p,) = audit(engine, "plans", "planner:ann", "insert")
    assert p.after["status"] == "draft" and p.after["id"] == plan


def test_a_move_records_the_unit_before_and_after(engine, plan):
    units = sql_rows(engine, "SELECT id, unit_id, grid_code, community_code FROM plan_units WHERE plan_id = :p "
                      "ORDER BY unit_id", p=plan)
    grids = sorted({u.grid_code for u in units})
    moved = None
    with acting("planner:bob", f"POST /plans/{plan}/moves"):
        for u in units:  # the first move the partition accepts (contiguity, band, locks)
            for g in grids:
                if g == u.grid_code:
                    continue
                try:
                    move_units(engine, LivePlans(), EVERYWHERE, plan, [u.unit_id], g)
                except Exception:  # noqa: BLE001 - a refused move: try another
                    continue
                moved = (u, g)
                break
            if moved:
                break
    assert moved, "no move was accepted"
    u, g = moved
    assert sql_rows(engine, "SELECT grid_code FROM plan_units WHERE id = :i", i=u.id)[0][0] == g
    rows = [r for r in audit(engine, "plan_units", "planner:bob", "update") if r.row_key == str(u.id)]
    assert len(rows) == 1
    assert rows[0].before["grid_code"] == u.grid_code and rows[0].after["grid_code"] == g
    # the two grids' households changed: their plan_grids rows are audited too
    changed = {r.after["code"] for r in audit(engine, "plan_grids", "planner:bob", "update")}
    assert {u.grid_code, g} <= changed


def test_publish_records_the_plan_and_the_new_grid_versions(engine, settings, plan):
    with acting("planner:cat", f"POST /plans/{plan}/publish"):
        status, _answer, _replayed = publish_plan(engine, settings, EVERYWHERE, plan)
    assert status == 200
    rows = audit(engine, "plans", "planner:cat", "update")
    assert [(r.row_key, r.before["status"], r.after["status"]) for r in rows] == [(str(plan), "draft", "published")]
    new = {str(r[0]) for r in sql_rows(engine, "SELECT g.id FROM grids g JOIN plan_grids p ON p.code = g.code "
                                        "WHERE p.plan_id = :p AND g.valid_to IS NULL", p=plan)}
    inserted = {r.row_key for r in audit(engine, "grids", "planner:cat", "insert")}
    assert new and new <= inserted
