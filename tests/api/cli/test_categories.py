"""Incident categories can be listed and added from the CLI, and an unknown category's refusal
names the command (issue 12 §3)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import text

from geo.layers import INCIDENT_CATEGORIES

from tests.support.cli import run_cli
from tests.support.incidents import make_world

NOISE = "external_id,category,reported_at,lon,lat\nn1,noise,2025-04-01T09:00:00Z,120.002,31.905\n"


@pytest.fixture
def no_noise(db):
    """Categories survive the per-test truncation: take the added one away again."""
    yield db
    with db.begin() as conn:
        conn.execute(text("DELETE FROM incidents WHERE category = 'noise'"))
        conn.execute(text("DELETE FROM incident_categories WHERE code = 'noise'"))


def _categories(db) -> dict:
    with db.connect() as conn:
        return {r.code: tuple(r)[1:] for r in conn.execute(text(
            "SELECT code, name_zh, name_en, sla_hours FROM incident_categories"))}


def test_list_shows_every_category(db, pg_url, monkeypatch):
    r = run_cli(pg_url, monkeypatch, ["categories", "list"])
    assert r.exit_code == 0, r.output
    for code, (zh, en, sla) in INCIDENT_CATEGORIES.items():
        line = next(ln for ln in r.output.splitlines() if f" {code} " in ln)
        assert zh in line and en.split()[0] in line and str(sla) in line
    assert f"{len(_categories(db))} incident categories" in r.output


def test_unknown_category_names_the_command_then_add_makes_it_usable(db, no_noise, client, pg_url, monkeypatch, tmp_path):
    make_world(db)
    f = tmp_path / "noise.csv"
    f.write_text(NOISE, encoding="utf-8")
    refused = run_cli(pg_url, monkeypatch, ["import", "incidents", str(f)])
    assert refused.exit_code == 2 and "gridmap categories add" in " ".join(refused.output.split())
    r = client.get("/incidents/stats", params={"category": "noise"})
    assert r.status_code == 422 and "gridmap categories add" in r.json()["detail"]

    added = run_cli(pg_url, monkeypatch, ["categories", "add", "noise", "--zh", "噪音扰民", "--en", "Noise",
                                          "--sla-hours", "12"])
    assert added.exit_code == 0, added.output
    assert _categories(db)["noise"] == ("噪音扰民", "Noise", 12)
    assert {"code": "noise", "name_zh": "噪音扰民", "name_en": "Noise", "sla_hours": 12} in \
        client.get("/incidents/categories").json()
    ok = run_cli(pg_url, monkeypatch, ["import", "incidents", str(f)])
    assert ok.exit_code == 0 and "1 inserted" in ok.output, ok.output
    with db.connect() as conn:
        due = conn.execute(text("SELECT due_at FROM incidents WHERE external_id = 'n1'")).scalar_one()
    assert due == datetime(2025, 4, 1, 9, tzinfo=timezone.utc) + timedelta(hours=12)


def test_add_refuses_a_duplicate_or_a_bad_code_and_writes_nothing(db, pg_url, monkeypatch):
    before = _categories(db)
    dup = run_cli(pg_url, monkeypatch, ["categories", "add", "parking", "--zh", "停车", "--en", "Parking"])
    assert dup.exit_code == 2 and "exists already" in dup.output
    bad = run_cli(pg_url, monkeypatch, ["categories", "add", "Noise!", "--zh", "噪音", "--en", "Noise"])
    assert bad.exit_code == 2 and "'Noise!'" in bad.output
    zero = run_cli(pg_url, monkeypatch, ["categories", "add", "noise", "--zh", "噪音", "--en", "Noise",
                                         "--sla-hours", "0"])
    assert zero.exit_code == 2 and "sla_hours" in zero.output
    assert _categories(db) == before
