"""``gridmap db backup FILE`` / ``gridmap db restore FILE``: a round trip gives back exactly the data
backed up (every table's rows compared by checksum), and a bad file changes nothing."""

from __future__ import annotations

from sqlalchemy import text

from tests.api.hardening.conftest import station
from tests.support.cli import run_cli

TABLES = ("areas", "grids", "stations", "dwellings", "incidents", "incident_events", "incident_categories",
          "alembic_version")


def _state(engine) -> dict:
    with engine.connect() as conn:
        return {t: tuple(conn.execute(text(
            f"SELECT count(*), md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), '')) FROM {t} x")).one())
            for t in TABLES}


def test_backup_restore_round_trip(client, world, db, pg_url, monkeypatch, tmp_path):
    assert client.post("/incidents", json={"external_id": "b-1", "category": "dispute", "lon": 120.281,
                                           "lat": 31.901, "reported_at": "2025-02-01T09:00:00+08:00"}).status_code == 201
    before = _state(db)
    file = tmp_path / "gridmap.backup"
    r = run_cli(pg_url, monkeypatch, ["db", "backup", str(file)])
    assert r.exit_code == 0, r.output
    assert file.read_bytes()[:5] == b"PGDMP" and not (tmp_path / "gridmap.backup.partial").exists()

    # change everything a restore must undo
    assert client.post("/stations", json=station("after-backup")).status_code == 201
    with db.begin() as conn:
        conn.execute(text("DELETE FROM incident_events"))
        conn.execute(text("DELETE FROM incidents"))
        conn.execute(text("UPDATE grids SET name = 'changed'"))
    assert _state(db) != before

    r = run_cli(pg_url, monkeypatch, ["db", "restore", str(file)])
    assert r.exit_code == 0, r.output
    db.dispose()  # connections from before the restore point at dropped objects
    assert _state(db) == before


def test_restore_of_a_bad_file_changes_nothing(world, db, pg_url, monkeypatch, tmp_path):
    before = _state(db)
    bad = tmp_path / "not-a-backup"
    bad.write_bytes(b"hello")
    r = run_cli(pg_url, monkeypatch, ["db", "restore", str(bad)])
    assert r.exit_code == 2 and "not a pg_dump" in r.output
    truncated = tmp_path / "truncated"
    good = tmp_path / "good"
    assert run_cli(pg_url, monkeypatch, ["db", "backup", str(good)]).exit_code == 0
    truncated.write_bytes(good.read_bytes()[: len(good.read_bytes()) // 2])
    r = run_cli(pg_url, monkeypatch, ["db", "restore", str(truncated)])
    assert r.exit_code == 1, r.output
    db.dispose()
    assert _state(db) == before
