"""A corrected re-import is not silently ignored (issue 12 §3): without --update the import says how
many records differ and which fields; with --update the reporter's fields are written, the grid is
attributed again and one 'correct' event per changed case records before and after."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
import shapely
from sqlalchemy import text

from tests.support.cli import run_cli
from tests.support.incidents import CHANGE, GRIDS, make_world

HEAD = "external_id,category,reported_at,lon,lat\n"
# c1: lon mistyped (120.015 instead of 120.005) puts it in G4 rather than G3;
# c3: reported_at a month early (old G1 version) and the wrong category; c2 is right from the start
WRONG = HEAD + ("c1,parking,2025-04-01T09:00:00+08:00,120.015,31.915\n"
                "c2,parking,2025-04-01T09:00:00+08:00,120.002,31.905\n"
                "c3,parking,2025-02-15T09:00:00+08:00,120.007,31.905\n")
FIXED = HEAD + ("c1,parking,2025-04-01T09:00:00+08:00,120.005,31.915\n"
                "c2,parking,2025-04-01T09:00:00+08:00,120.002,31.905\n"
                "c3,dispute,2025-03-15T09:00:00+08:00,120.007,31.905\n")


def _expected_grid(lon: float, lat: float, t: datetime) -> str | None:
    """Grid of a point at time t by shapely on the test world's grid versions (independent of SQL)."""
    for g, _c, vf, vt, wkt in sorted(GRIDS, key=lambda r: r[0]):
        if (vf is None or vf <= t) and (vt is None or t < vt) and \
                shapely.intersects(shapely.from_wkt(wkt), shapely.Point(lon, lat)):
            return g
    return None


def _stored(db) -> dict:
    with db.connect() as conn:
        return {r.external_id: r for r in conn.execute(text(
            "SELECT i.id, i.external_id, i.category, i.reported_at, i.grid_code, i.due_at, i.status, "
            "ST_X(i.geom) AS lon, ST_Y(i.geom) AS lat, c.sla_hours FROM incidents i "
            "JOIN incident_categories c ON c.code = i.category"))}


def _corrections(db) -> list:
    with db.connect() as conn:
        return conn.execute(text(
            "SELECT i.external_id, e.action, e.from_status, e.to_status, e.note FROM incident_events e "
            "JOIN incidents i ON i.id = e.incident_id WHERE e.action = 'correct' ORDER BY i.external_id")).all()


@pytest.fixture
def files(db, tmp_path):
    make_world(db)
    wrong, fixed = tmp_path / "wrong.csv", tmp_path / "fixed.csv"
    wrong.write_text(WRONG, encoding="utf-8")
    fixed.write_text(FIXED, encoding="utf-8")
    return wrong, fixed


def test_reimport_without_update_says_what_differs_and_changes_nothing(db, files, pg_url, monkeypatch):
    wrong, fixed = files
    assert run_cli(pg_url, monkeypatch, ["import", "incidents", str(wrong)]).exit_code == 0
    before = _stored(db)
    r = run_cli(pg_url, monkeypatch, ["import", "incidents", str(fixed)])
    assert r.exit_code == 0, r.output
    out = " ".join(r.output.split())
    assert "0 inserted, 3 duplicate(s) skipped" in out
    assert "2 record(s) differ from the stored ones" in out
    assert "category" in out and "reported_at" in out and "geometry" in out
    assert f"gridmap import incidents {fixed} --update" in out
    assert _stored(db) == before and _corrections(db) == []


def test_update_applies_corrections_regrids_and_records_one_event_each(db, files, pg_url, monkeypatch):
    wrong, fixed = files
    assert run_cli(pg_url, monkeypatch, ["import", "incidents", str(wrong)]).exit_code == 0
    old = _stored(db)
    assert old["c1"].grid_code == "G4" and old["c3"].grid_code == "G1"
    r = run_cli(pg_url, monkeypatch, ["import", "incidents", str(fixed), "--update"])
    assert r.exit_code == 0, r.output
    out = " ".join(r.output.split())
    assert "2 record(s) updated" in out and "2 moved to another grid" in out
    new = _stored(db)
    t1 = datetime(2025, 4, 1, 1, tzinfo=timezone.utc)
    t3 = datetime(2025, 3, 15, 1, tzinfo=timezone.utc)
    assert (new["c1"].lon, new["c1"].lat) == pytest.approx((120.005, 31.915), abs=1e-12)
    assert new["c1"].grid_code == _expected_grid(120.005, 31.915, t1) == "G3"
    assert new["c3"].reported_at == t3 and new["c3"].category == "dispute"
    assert t3 > CHANGE and new["c3"].grid_code == _expected_grid(120.007, 31.905, t3) == "G2"
    assert new["c3"].due_at == t3 + timedelta(hours=new["c3"].sla_hours)  # the new category's SLA
    assert new["c2"] == old["c2"]  # unchanged record untouched
    assert all(new[k].id == old[k].id and new[k].status == old[k].status for k in new)
    ev = _corrections(db)
    assert [e.external_id for e in ev] == ["c1", "c3"]
    assert all(e.from_status == e.to_status == "reported" for e in ev)
    n1, n3 = (json.loads(e.note)["corrected"] for e in ev)
    assert set(n1) == {"geometry", "grid_code"}
    assert n1["geometry"]["before"] == pytest.approx([120.015, 31.915]) and n1["grid_code"] == {"before": "G4",
                                                                                                 "after": "G3"}
    assert set(n3) == {"category", "reported_at", "grid_code"}
    assert n3["category"] == {"before": "parking", "after": "dispute"}
    assert datetime.fromisoformat(n3["reported_at"]["after"]) == t3
    # applying the same file again changes nothing and records nothing more
    again = run_cli(pg_url, monkeypatch, ["import", "incidents", str(fixed), "--update"])
    assert again.exit_code == 0 and "differ" not in again.output and "updated" not in again.output
    assert _stored(db) == new and len(_corrections(db)) == 2


def test_update_never_changes_workflow_state(db, files, pg_url, monkeypatch, tmp_path):
    wrong, _ = files
    assert run_cli(pg_url, monkeypatch, ["import", "incidents", str(wrong)]).exit_code == 0
    f = tmp_path / "status.csv"
    f.write_text("external_id,category,reported_at,lon,lat,status\n"
                 "c2,parking,2025-04-01T09:00:00+08:00,120.002,31.905,dispatched\n", encoding="utf-8")
    r = run_cli(pg_url, monkeypatch, ["import", "incidents", str(f), "--update"])
    assert r.exit_code == 0, r.output
    assert "status" in r.output and "workflow state is not changed" in " ".join(r.output.split())
    assert _stored(db)["c2"].status == "reported" and _corrections(db) == []
    assert run_cli(pg_url, monkeypatch, ["import", "grids", str(f), "--update"]).exit_code == 2
