"""Every error, expected or not, reaches the caller as RFC 9457 problem+json."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.errors import NotFound, install


def _app() -> FastAPI:
    app = FastAPI()
    install(app)

    @app.get("/boom")
    def boom():
        raise RuntimeError("secret internals /etc/passwd")

    @app.get("/missing")
    def missing():
        raise NotFound("no such grid")

    return app


def test_an_unexpected_error_is_a_500_problem_without_internals():
    r = TestClient(_app(), raise_server_exceptions=False).get("/boom")
    assert r.status_code == 500
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["status"] == 500 and body["instance"] == "/boom" and body["title"]
    assert "secret" not in r.text and "Traceback" not in r.text


def test_a_gridmap_error_keeps_its_status():
    r = TestClient(_app()).get("/missing")
    assert r.status_code == 404 and r.headers["content-type"].startswith("application/problem+json")
