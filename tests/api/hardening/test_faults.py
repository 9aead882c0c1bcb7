"""Database faults: the database is stopped (``pg_ctl stop -m immediate``) in the middle of a bulk
import, a bulk incident POST and a plan publish; after the restart nothing is half-written and the
retried request (same ``Idempotency-Key``) completes exactly once.  While the database is down the
API answers 503 problem+json within a second and ``/health`` answers from the process; when the
database returns the same server recovers by itself.

All on a SEPARATE throwaway embedded cluster this module starts (the session's cluster is never
stopped).  "The middle of" is a real hook: a trigger installed in the throwaway database that
``pg_sleep``s inside the write's transaction (after its rows are inserted, before the commit); the
test sees the backend sleeping in ``pg_stat_activity`` and only then stops the cluster.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from pathlib import Path

import pytest
import requests
from sqlalchemy import text

from api.db.embedded import EmbeddedPostgres
from api.db.engine import make_engine
from api.db.migrate import upgrade
from sqlalchemy.engine import make_url
from api.imports import import_frame
from api.settings import Settings
from geo.sample import make_district
from tests.api.hardening.servers import serving

PAUSE = """
CREATE OR REPLACE FUNCTION gm_fault_pause() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN PERFORM pg_sleep(60); RETURN NULL; END $$;
CREATE TRIGGER gm_fault_pause AFTER INSERT OR UPDATE ON {table} FOR EACH STATEMENT EXECUTE FUNCTION gm_fault_pause();
"""


class Cluster:
    """The throwaway cluster: start/stop it, pause a table's writes, count rows."""

    def __init__(self):
        self.home = Path(tempfile.mkdtemp(prefix="gridmap-faults-"))
        self.home.chmod(0o755)  # the postgres user (when we are root) must reach its cluster
        self.pg = EmbeddedPostgres(self.home)
        self.url = self.pg.start()  # the application role, as the app connects
        self.engine = make_engine(self.url)
        self.owner = make_engine(self.pg.owner_url())  # migrations and the pause triggers (DDL)
        upgrade(self.owner, grant_to=make_url(self.url).username)

    def kill(self):
        """``pg_ctl stop -m immediate``: no shutdown checkpoint, in-flight transactions lost."""
        self.pg._run(str(self.pg.bin / "pg_ctl"), "-D", str(self.pg.data), "-m", "immediate", "-w", "stop")
        self.engine.dispose()
        self.owner.dispose()

    def start(self):
        self.pg.start()

    def pause(self, table: str):
        with self.owner.begin() as conn:
            conn.execute(text(PAUSE.format(table=table)))

    def unpause(self, table: str):
        with self.owner.begin() as conn:
            conn.execute(text(f"DROP TRIGGER IF EXISTS gm_fault_pause ON {table}"))

    def wait_paused(self, timeout_s: float = 60) -> None:
        """Until a backend sleeps in the trigger (the write's transaction is open, its rows inserted)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self.engine.connect() as conn:
                if conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'PgSleep' "
                                     "AND query NOT LIKE '%pg_stat_activity%'")).scalar_one():
                    return
            time.sleep(0.05)
        raise AssertionError("the write never reached the paused trigger")

    def rows(self) -> dict:
        with self.engine.connect() as conn:
            return {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one() for t in (
                "incidents", "incident_events", "dwellings", "grids", "plans", "plan_grids", "idempotency_keys")}

    def destroy(self):
        self.engine.dispose()
        self.owner.dispose()
        self.pg.destroy()
        shutil.rmtree(self.home, ignore_errors=True)


@pytest.fixture(scope="module")
def cluster():
    c = Cluster()
    layers = make_district(1200, seed=3, incidents=0)
    settings = Settings(_env_file=None, database_url=c.url, owner_database_url=c.pg.owner_url())
    with c.engine.begin() as conn:
        for layer in ("areas", "grids", "streets", "stations", "dwellings"):
            import_frame(conn, layer, layers[layer], settings)
    c.layers = layers
    yield c
    c.destroy()


@pytest.fixture(scope="module")
def api(cluster, tmp_path_factory):
    """A uvicorn server (open mode: no user) on the throwaway cluster; yields its base URL."""
    settings = Settings(home=tmp_path_factory.mktemp("faults"), database_url=cluster.url, _env_file=None, owner_database_url=cluster.pg.owner_url(),
                        pool_timeout_s=2.0)
    with serving(settings) as port:
        yield f"http://127.0.0.1:{port}"


def _in_thread(fn):
    """Run ``fn`` in a thread; returns ``(thread, box)`` where ``box`` gets its result or error."""
    box: dict = {}

    def run():
        try:
            box["result"] = fn()
        except Exception as exc:  # noqa: BLE001 - the test looks at it
            box["error"] = exc

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, box


def _down_checks(base: str) -> None:
    """With the database down: 503 problem+json within a second; /health answers degraded."""
    for path in ("/incidents", "/collections/grids/items"):
        t0 = time.perf_counter()
        r = requests.get(base + path, timeout=10)
        took = time.perf_counter() - t0
        assert r.status_code == 503, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        assert {"type", "title", "status", "detail"} <= set(r.json())
        assert took < 1.0, (path, took)
    h = requests.get(base + "/health", timeout=10)
    assert h.status_code == 200 and h.json()["database"]["state"] == "unavailable", h.text


def _recovered(base: str, timeout_s: float = 20) -> None:
    """The same server answers again once the database is back (no restart of the app)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if requests.get(base + "/health", timeout=10).json()["database"]["state"] == "up":
            r = requests.get(base + "/incidents", timeout=10)
            if r.status_code == 200:
                return
        time.sleep(0.2)
    raise AssertionError("the API did not recover after the database came back")


def _crash_during(cluster, table: str, write):
    """Pause ``table``'s writes, start ``write`` in a thread, stop the cluster while it sleeps in
    the trigger, and return ``(box, rows before)`` once the write has given up."""
    before = cluster.rows()
    cluster.pause(table)
    thread, box = _in_thread(write)
    cluster.wait_paused()
    cluster.kill()
    thread.join(60)
    assert not thread.is_alive(), "the write hung after the database went away"
    return box, before


def _restart(cluster, table: str):
    cluster.start()
    cluster.unpause(table)


def _incidents(cluster, n: int, prefix: str) -> list[dict]:
    d = cluster.layers["dwellings"].geometry
    return [{"external_id": f"{prefix}-{k}", "category": "dispute", "reported_at": "2025-05-01T09:00:00+08:00",
             "lon": float(d.iloc[k % len(d)].x), "lat": float(d.iloc[k % len(d)].y)} for k in range(n)]


def test_bulk_incident_post_killed_midway_writes_nothing_and_the_retry_lands_once(cluster, api):
    body = _incidents(cluster, 500, "bulk")
    key = {"Idempotency-Key": "fault-bulk-1"}
    box, before = _crash_during(cluster, "incidents",
                                lambda: requests.post(f"{api}/incidents/bulk", json=body, headers=key, timeout=30))
    r = box["result"]
    assert r.status_code == 503 and r.headers["content-type"].startswith("application/problem+json"), r.text
    _down_checks(api)
    _restart(cluster, "incidents")
    assert cluster.rows() == before  # nothing half-written: no incident, no event, no stored key
    _recovered(api)
    r = requests.post(f"{api}/incidents/bulk", json=body, headers=key, timeout=60)
    assert r.status_code == 200 and r.json()["inserted"] == 500, r.text
    again = requests.post(f"{api}/incidents/bulk", json=body, headers=key, timeout=60)
    assert again.status_code == 200 and again.headers.get("Idempotent-Replayed") == "true", again.text
    after = cluster.rows()
    assert after["incidents"] == before["incidents"] + 500
    assert after["idempotency_keys"] == before["idempotency_keys"] + 1
    with cluster.engine.connect() as conn:
        assert conn.execute(text("SELECT count(DISTINCT external_id) FROM incidents WHERE external_id LIKE 'bulk-%'")
                            ).scalar_one() == 500
        # no orphan: every event belongs to an incident
        assert conn.execute(text("SELECT count(*) FROM incident_events e LEFT JOIN incidents i "
                                 "ON i.id = e.incident_id WHERE i.id IS NULL")).scalar_one() == 0


def test_bulk_import_killed_midway_writes_nothing_and_the_rerun_lands_once(cluster, api):
    moved = cluster.layers["dwellings"].copy()
    moved["households"] = moved["households"] + 1  # every row changes: a real update of the whole layer
    settings = Settings(_env_file=None, database_url=cluster.url, owner_database_url=cluster.pg.owner_url())

    def run_import():
        engine = make_engine(cluster.url)
        try:
            with engine.begin() as conn:  # the import service: one transaction
                return import_frame(conn, "dwellings", moved, settings)
        finally:
            engine.dispose()

    with cluster.engine.connect() as conn:
        households = conn.execute(text("SELECT sum(households) FROM dwellings")).scalar_one()
    box, before = _crash_during(cluster, "dwellings", run_import)
    assert "error" in box, box  # the import failed ...
    _restart(cluster, "dwellings")
    with cluster.engine.connect() as conn:  # ... and changed nothing
        assert conn.execute(text("SELECT sum(households) FROM dwellings")).scalar_one() == households
    assert cluster.rows() == before
    run_import()
    run_import()  # the same file again: updates, never duplicates
    with cluster.engine.connect() as conn:
        assert conn.execute(text("SELECT sum(households) FROM dwellings")).scalar_one() == households + len(moved)
        assert conn.execute(text("SELECT count(*), count(DISTINCT source_id) FROM dwellings")).one() == (len(moved),
                                                                                                     len(moved))
    _recovered(api)


def test_plan_publish_killed_midway_writes_nothing_and_the_retry_publishes_once(cluster, api):
    comm = sorted(cluster.layers["areas"].query("level == 'community'")["code"])[0]
    r = requests.post(f"{api}/plans", json={"community": comm, "stay_close": False}, timeout=120)
    assert r.status_code == 201, r.text
    plan = r.json()["plans"][0]["id"]
    with cluster.engine.connect() as conn:
        grids_before = conn.execute(text("SELECT id, valid_to FROM grids ORDER BY id")).all()
    key = {"Idempotency-Key": "fault-publish-1"}
    box, before = _crash_during(cluster, "grids",
                                lambda: requests.post(f"{api}/plans/{plan}/publish", headers=key, timeout=60))
    r = box["result"]
    assert r.status_code == 503 and r.headers["content-type"].startswith("application/problem+json"), r.text
    _down_checks(api)
    _restart(cluster, "grids")
    with cluster.engine.connect() as conn:  # nothing half-written: the grids as they were, the plan a draft
        assert conn.execute(text("SELECT id, valid_to FROM grids ORDER BY id")).all() == grids_before
        assert conn.execute(text("SELECT status FROM plans WHERE id = :p"), {"p": plan}).scalar_one() == "draft"
    assert cluster.rows() == before
    _recovered(api)
    r = requests.post(f"{api}/plans/{plan}/publish", headers=key, timeout=60)
    assert r.status_code == 200, r.text
    again = requests.post(f"{api}/plans/{plan}/publish", headers=key, timeout=60)
    assert again.status_code == 200 and again.headers.get("Idempotent-Replayed") == "true", again.text
    with cluster.engine.connect() as conn:
        assert conn.execute(text("SELECT status FROM plans WHERE id = :p"), {"p": plan}).scalar_one() == "published"
        # published once: each current grid code exactly once, and the old versions closed once
        codes = conn.execute(text("SELECT code, count(*) FROM grids WHERE valid_to IS NULL GROUP BY code "
                                  "HAVING count(*) > 1")).all()
        assert codes == []
        assert conn.execute(text("SELECT count(*) FROM grids")).scalar_one() > len(grids_before)
