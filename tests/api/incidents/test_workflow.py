"""The case workflow: every allowed transition through the API, forbidden ones answer 409 with the
allowed actions, every change writes an event, closed_at set and cleared, SLA and overdue."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from api.incidents import workflow

from tests.support.incidents import make_world

# The workflow as the domain describes it, written out by hand (independent of workflow.py's tables).
STATUS_RULES = {  # status -> {action: new status}; the level does not change these
    "reported": {"dispatch": "dispatched", "close": "closed_other"},
    "dispatched": {"accept": "accepted", "decline": "reported", "close": "closed_other"},
    "accepted": {"start": "in_progress", "close": "closed_other"},
    "in_progress": {"resolve": "resolved", "close": "closed_other"},
    "resolved": {"reopen": "in_progress"},
    "closed_other": {"reopen": "reported"},
}
UP = {"grid": "community", "community": "town", "town": "department"}
DOWN = {v: k for k, v in UP.items()}
OPEN = ("reported", "dispatched", "accepted", "in_progress")
# How to reach each state from a fresh report.
ROUTE = {
    ("reported", "grid"): [],
    ("dispatched", "grid"): ["dispatch"],
    ("accepted", "grid"): ["dispatch", "accept"],
    ("in_progress", "grid"): ["dispatch", "accept", "start"],
    ("resolved", "grid"): ["dispatch", "accept", "start", "resolve"],
    ("closed_other", "grid"): ["close"],
    ("in_progress", "community"): ["escalate", "accept", "start"],
    ("resolved", "community"): ["escalate", "accept", "start", "resolve"],
    ("dispatched", "community"): ["escalate"],
    ("dispatched", "town"): ["escalate", "escalate"],
    ("dispatched", "department"): ["escalate", "escalate", "escalate"],
}


def _expected(status: str, level: str) -> dict:
    out = {(status, level, a): (to, level) for a, to in STATUS_RULES[status].items()}
    if status in OPEN and level in UP:
        out[(status, level, "escalate")] = ("dispatched", UP[level])
    if status in OPEN and level in DOWN:
        out[(status, level, "deescalate")] = ("dispatched", DOWN[level])
    return out


EXPECTED = {k: v for state in ROUTE for k, v in _expected(*state).items()}


def test_pure_table_is_exactly_the_expected_one():
    got = {}
    for (status, level) in ROUTE:
        for action in workflow.allowed_actions(status, level):
            t = workflow.apply(status, level, action, "duplicate" if action == "close" else None)
            got[(status, level, action)] = (t.to_status, t.to_level)
    assert got == EXPECTED


_n = 0


def _new(client) -> int:
    global _n
    _n += 1
    r = client.post("/incidents", json={"external_id": f"wf-{_n}", "category": "parking", "lon": 120.002,
                                        "lat": 31.905, "reported_at": "2025-01-10T08:00:00Z"})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def _act(client, iid, action, **kw):
    body = {"action": action, "actor": "worker-7", "note": f"{action} note", **kw}
    if action == "close" and "close_reason" not in kw:
        body["close_reason"] = "not_responsible"
    return client.post(f"/incidents/{iid}/transitions", json=body)


@pytest.fixture
def world(client, db):
    make_world(db)
    return client


@pytest.mark.parametrize("key", sorted(EXPECTED), ids=lambda k: "-".join(k))
def test_every_allowed_transition(world, key):
    status, level, action = key
    iid = _new(world)
    for step in ROUTE[(status, level)]:
        assert _act(world, iid, step).status_code == 200
    before = world.get(f"/incidents/{iid}").json()
    assert (before["status"], before["escalation_level"]) == (status, level)
    r = _act(world, iid, action)
    assert r.status_code == 200, r.text
    inc = r.json()
    assert (inc["status"], inc["escalation_level"]) == EXPECTED[key]
    ev = inc["events"][-1]
    assert (ev["action"], ev["actor"], ev["from_status"], ev["to_status"]) == (action, "worker-7", status, inc["status"])
    assert ev["note"].endswith(f"{action} note")
    assert len(inc["events"]) == len(before["events"]) + 1
    if inc["status"] in ("resolved", "closed_other"):
        assert inc["closed_at"] is not None
    else:
        assert inc["closed_at"] is None and inc["close_reason"] is None
    if action == "close":
        assert inc["close_reason"] == "not_responsible"


@pytest.mark.parametrize("status, level, action", [
    ("reported", "grid", "accept"), ("reported", "grid", "resolve"), ("dispatched", "grid", "start"),
    ("in_progress", "grid", "dispatch"), ("resolved", "grid", "close"), ("resolved", "grid", "escalate"),
    ("closed_other", "grid", "resolve"), ("reported", "grid", "deescalate"),
    ("dispatched", "department", "escalate"),
])
def test_forbidden_transition_is_409_with_allowed(world, status, level, action):
    iid = _new(world)
    for step in ROUTE[(status, level)]:
        _act(world, iid, step)
    n_events = len(world.get(f"/incidents/{iid}").json()["events"])
    r = _act(world, iid, action)
    assert r.status_code == 409 and r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    allowed = sorted(a for (s, lv, a) in EXPECTED if (s, lv) == (status, level))
    assert sorted(body["allowed"]) == allowed and body["status"] == 409
    after = world.get(f"/incidents/{iid}").json()
    assert (after["status"], after["escalation_level"]) == (status, level)
    assert len(after["events"]) == n_events


@pytest.mark.parametrize("body, field, allowed", [
    ({"action": "fly"}, "action", list(STATUS_RULES["reported"]) + ["accept", "decline", "start", "resolve",
                                                                    "reopen", "escalate", "deescalate"]),
    ({"action": "close"}, "close_reason", ["duplicate", "not_responsible", "no_action_possible"]),
    ({"action": "close", "close_reason": "bogus"}, "close_reason",
     ["duplicate", "not_responsible", "no_action_possible"]),
    ({"action": "dispatch", "close_reason": "duplicate"}, "close_reason", []),
])
@pytest.mark.parametrize("state", [("reported", "grid"), ("resolved", "grid")])
def test_malformed_request_is_422_with_errors_whatever_the_state(world, body, field, allowed, state):
    iid = _new(world)
    for step in ROUTE[state]:
        _act(world, iid, step)
    n_events = len(world.get(f"/incidents/{iid}").json()["events"])
    r = world.post(f"/incidents/{iid}/transitions", json={"actor": "a", **body})
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json"), r.text
    got = r.json()
    assert [e["field"] for e in got["errors"]] == [field] and got["errors"][0]["reason"]
    assert sorted(got["allowed_values"][field]) == sorted(allowed)
    assert "allowed" not in got  # 'allowed' is the 409's list of actions possible now
    assert len(world.get(f"/incidents/{iid}").json()["events"]) == n_events
    # the same request on an unknown incident is still a request error, not a 404
    assert world.post("/incidents/999999/transitions", json={"actor": "a", **body}).status_code == 422


def test_close_needs_a_valid_reason_and_resolve_refuses_one(world):
    iid = _new(world)
    r = world.post(f"/incidents/{iid}/transitions", json={"action": "close", "actor": "a"})
    assert r.status_code == 422 and "close_reason" in r.json()["detail"]
    assert _act(world, iid, "close", close_reason="bored").status_code == 422
    assert _act(world, iid, "close", close_reason="duplicate").json()["close_reason"] == "duplicate"
    again = _act(world, iid, "close", close_reason="duplicate")  # valid request, impossible now
    assert again.status_code == 409 and again.json()["allowed"] == ["reopen"]
    assert world.post("/incidents/999999/transitions", json={"action": "dispatch", "actor": "a"}).status_code == 404


def test_overdue_visible_in_list(world):
    now = datetime.now(timezone.utc)
    rows = [
        {"external_id": "late", "category": "parking", "reported_at": (now - timedelta(hours=30)).isoformat(),
         "lon": 120.002, "lat": 31.905},  # 24 h SLA: overdue
        {"external_id": "fresh", "category": "parking", "reported_at": (now - timedelta(hours=2)).isoformat(),
         "lon": 120.002, "lat": 31.905},
        {"external_id": "late-done", "category": "parking", "reported_at": (now - timedelta(hours=40)).isoformat(),
         "lon": 120.002, "lat": 31.905, "status": "resolved", "closed_at": (now - timedelta(hours=1)).isoformat()},
    ]
    assert world.post("/incidents/bulk", json=rows).status_code == 200
    od = world.get("/incidents", params={"overdue": "true"}).json()
    assert [i["external_id"] for i in od["items"]] == ["late"] and od["items"][0]["overdue"] is True
    st = world.get("/incidents/stats", params={"level": "grid"}).json()
    assert st["totals"]["overdue"] == 1 and st["totals"]["closed_late"] == 1
