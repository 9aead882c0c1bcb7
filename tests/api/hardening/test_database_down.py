"""With the database refused or frozen, the API answers 503 problem+json quickly (no hang) and
``/health`` answers from the process with the database state in its body."""

from __future__ import annotations

import socket
import threading
import time

import pytest
from fastapi.testclient import TestClient
from starlette.requests import Request

from api.app import create_app
from tests.api.hardening.conftest import assert_problem


@pytest.fixture
def frozen_port():
    """A port that accepts connections and never answers (a frozen database)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(64)
    held = []
    stop = threading.Event()

    def accept():
        s.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(s.accept()[0])
            except OSError:
                pass

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    yield s.getsockname()[1]
    stop.set()
    t.join(2)
    for c in held:
        c.close()
    s.close()


def _refused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again: connecting is refused


@pytest.mark.parametrize("how", ["refused", "frozen"])
def test_database_down_is_503_fast_and_health_answers(settings, how, request):
    port = _refused_port() if how == "refused" else request.getfixturevalue("frozen_port")
    down = settings.model_copy(update={"database_url": f"postgresql://gridmap@127.0.0.1:{port}/gridmap"})
    with TestClient(create_app(down, migrate=False)) as c:
        for path in ("/incidents", "/collections/stations/items", "/incidents/categories"):
            t0 = time.perf_counter()
            r = c.get(path)
            took = time.perf_counter() - t0
            assert_problem(r, 503, words=["database"])
            assert "psycopg" not in r.text and "connection to server" not in r.text
            assert took < (1.0 if how == "refused" else 3.5), (path, took)
        t0 = time.perf_counter()
        h = c.get("/health")
        assert time.perf_counter() - t0 < 3.5
        assert h.status_code == 200 and h.json()["status"] == "degraded"
        assert h.json()["database"]["state"] == "unavailable"
        assert c.get("/docs").status_code == 200  # pages that need no database still answer


def test_health_when_up(client, db):
    h = client.get("/health").json()
    assert h["status"] == "ok" and h["database"]["state"] == "up" and h["postgis"]


def test_statement_timeout_cancels_a_long_statement(settings, db):
    """Every request session has statement_timeout: a statement over it is cancelled, answered 503."""
    from sqlalchemy import text

    from api.db.engine import get_engine

    quick = settings.model_copy(update={"statement_timeout_s": 0.5})

    def slow(request: Request):
        with get_engine(quick).connect() as conn:
            conn.execute(text("SELECT pg_sleep(5)"))

    app = create_app(quick)
    app.add_api_route("/slow", slow)
    with TestClient(app) as c:
        t0 = time.perf_counter()
        r = c.get("/slow")
        assert time.perf_counter() - t0 < 3
        assert_problem(r, 503, words=["longer than the database allows"])
