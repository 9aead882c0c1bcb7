"""Bulk intake: attribution at grid-history boundaries, outside-grid incidents, idempotency,
bad inputs leaving the database unchanged, and reconstructed events of historical imports."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import text

from api.incidents.intake import ingest_frame
from geo.errors import InvalidInput

from tests.support.incidents import CHANGE, REGION, incident_frame, make_world

US = timedelta(microseconds=1)


def _row(eid, lon, lat, at, **kw):
    return {"external_id": eid, "category": "parking", "reported_at": at, "lon": lon, "lat": lat, **kw}


def _ingest(engine, rows, **kw):
    with engine.begin() as conn:
        return ingest_frame(conn, incident_frame(rows), region_code=REGION, **kw)


def _attrib(engine):
    with engine.connect() as conn:
        return {r.external_id: r for r in conn.execute(text(
            "SELECT i.external_id, i.grid_code, i.grid_id, g.valid_from, g.valid_to, i.community_code, "
            "i.town_code, i.outside_grid, i.region_code, i.due_at - i.reported_at AS sla "
            "FROM incidents i LEFT JOIN grids g ON g.id = i.grid_id"))}


def test_attribution_follows_grid_history(db):
    make_world(db)
    # lon 120.007 lies in G1's first version and in G2's second one.
    rows = [
        _row("before", 120.007, 31.905, CHANGE - US),
        _row("at", 120.007, 31.905, CHANGE),
        _row("after", 120.007, 31.905, CHANGE + timedelta(days=30)),
        _row("north", 120.007, 31.915, CHANGE),
        _row("west-outside", 119.995, 31.905, CHANGE),
        _row("far-outside", 121.5, 31.0, CHANGE),
    ]
    rep = _ingest(db, rows)
    assert (rep.inserted, rep.duplicates, rep.outside_grid, rep.rejected) == (6, 0, 2, [])
    a = _attrib(db)
    assert a["before"].grid_code == "G1" and a["before"].valid_to == CHANGE
    assert a["at"].grid_code == "G2" and a["at"].valid_from == CHANGE
    assert a["after"].grid_code == "G2" and a["after"].community_code == "C2"
    assert a["north"].grid_code == "G3"
    for eid in ("before", "at", "after", "north"):
        assert a[eid].town_code == "T1" and not a[eid].outside_grid  # town from the areas hierarchy
    w = a["west-outside"]
    assert w.outside_grid and w.grid_code is None and (w.community_code, w.town_code) == ("C1", "T1")
    f = a["far-outside"]
    assert f.outside_grid and f.community_code is None and f.town_code is None and f.region_code == REGION
    assert a["at"].sla == timedelta(hours=24)  # parking SLA


def test_same_external_id_twice_is_a_duplicate(db):
    make_world(db)
    rows = [_row(f"e{i}", 120.002, 31.905, CHANGE) for i in range(5)]
    first = _ingest(db, rows)
    again = _ingest(db, rows[2:] + [_row("new", 120.003, 31.905, CHANGE)])
    assert (first.inserted, first.duplicates) == (5, 0)
    assert (again.inserted, again.duplicates) == (1, 3)
    assert again.duplicate_ids == ["e2", "e3", "e4"]
    with db.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM incidents")).scalar() == 6
        assert conn.execute(text("SELECT count(*) FROM incident_events")).scalar() == 6


def test_concurrent_bulk_retries_never_duplicate(db):
    make_world(db)
    rows = [_row(f"c{i}", 120.001 + (i % 17) * 1e-3, 31.901 + (i % 13) * 1e-3, CHANGE) for i in range(400)]
    reports, errors = [], []
    barrier = threading.Barrier(3)

    def worker():
        try:
            barrier.wait()
            reports.append(_ingest(db, rows))
        except Exception as exc:  # pragma: no cover - surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sum(r.inserted for r in reports) == 400
    assert sum(r.duplicates for r in reports) == 800
    with db.connect() as conn:
        assert conn.execute(text("SELECT count(DISTINCT external_id), count(*) FROM incidents")).one() == (400, 400)


BAD = [
    (_row("b1", 200.0, 31.9, CHANGE), "geometry"),
    (_row("b2", 120.0, 95.0, CHANGE), "geometry"),
    (_row("b3", 120.001, 31.905, CHANGE, category="ufo"), "category"),
    (_row("b4", 120.001, 31.905, "2999-01-01T00:00:00Z"), "reported_at"),
    (_row("b5", 120.001, 31.905, "yesterday-ish"), "reported_at"),
    (_row("b6", 120.001, 31.905, CHANGE, status="resolved"), "closed_at"),
    (_row("b7", 120.001, 31.905, CHANGE, status="closed_other", closed_at=CHANGE + US), "close_reason"),
    (_row("", 120.001, 31.905, CHANGE), "external_id"),
    (_row("b9", 120.001, 31.905, CHANGE, status="lost"), "status"),
    (_row("b10", None, None, CHANGE), "geometry"),
]


def test_bad_rows_all_or_nothing_writes_nothing(db):
    make_world(db)
    good = [_row("g1", 120.001, 31.905, CHANGE), _row("g2", 120.011, 31.905, CHANGE)]
    rows = good[:1] + [r for r, _ in BAD] + good[1:] + [_row("g1", 120.0, 31.9, CHANGE)]
    with pytest.raises(InvalidInput) as exc:
        _ingest(db, rows)
    got = {(p.row, p.field) for p in exc.value.problems}
    want = {(i + 2, fld) for i, (_, fld) in enumerate(BAD)} | {(len(rows), "external_id")}
    assert want <= got and {p.row for p in exc.value.problems} == {r for r, _ in want}
    cat = next(p for p in exc.value.problems if p.field == "category")
    assert "parking" in cat.reason and "ufo" in cat.reason  # lists the known categories
    with db.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM incidents")).scalar() == 0


def test_bad_rows_partial_writes_the_good(db):
    make_world(db)
    rows = [_row("g1", 120.001, 31.905, CHANGE)] + [r for r, _ in BAD] + [_row("g2", 120.011, 31.905, CHANGE)]
    rep = _ingest(db, rows, all_or_nothing=False)
    assert rep.inserted == 2 and {p.row for p in rep.rejected} == set(range(2, 2 + len(BAD)))
    with db.connect() as conn:
        assert sorted(conn.execute(text("SELECT external_id FROM incidents")).scalars()) == ["g1", "g2"]


def test_historical_import_reconstructs_events(db):
    make_world(db)
    closed = CHANGE + timedelta(hours=30)
    rows = [
        _row("h-res", 120.001, 31.905, CHANGE, status="resolved", closed_at=closed, escalation_level="community"),
        _row("h-dup", 120.001, 31.905, CHANGE, status="closed_other", closed_at=closed, close_reason="duplicate"),
        _row("h-acc", 120.001, 31.905, CHANGE, status="accepted"),
    ]
    _ingest(db, rows, actor="history")
    with db.connect() as conn:
        ev = conn.execute(text(
            "SELECT i.external_id, e.action, e.from_status, e.to_status, e.at, e.actor FROM incident_events e "
            "JOIN incidents i ON i.id = e.incident_id ORDER BY i.external_id, e.id")).all()
        got = {}
        for r in ev:
            got.setdefault(r.external_id, []).append(r)
        inc = {r.external_id: r for r in conn.execute(text("SELECT * FROM incidents"))}
    assert [e.action for e in got["h-res"]] == ["report", "escalate", "dispatch", "accept", "start", "resolve"]
    assert got["h-res"][-1].at == closed and got["h-res"][-1].to_status == "resolved"
    assert [e.action for e in got["h-dup"]] == ["report", "close"]
    assert [e.to_status for e in got["h-acc"]] == ["reported", "dispatched", "accepted"]
    assert all(e.actor == "history" for e in ev)
    assert inc["h-dup"].close_reason == "duplicate" and inc["h-res"].closed_at == closed
    assert inc["h-acc"].closed_at is None and inc["h-res"].escalation_level == "community"
