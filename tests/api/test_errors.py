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


def _subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def test_every_error_class_has_a_status_in_the_one_table_and_none_of_its_own():
    import api.errors as errors
    from geo.errors import InvalidInput

    classes = [errors.GridmapError, *_subclasses(errors.GridmapError)]
    assert {c.__name__ for c in classes} >= {"NotFound", "Conflict", "Forbidden", "ValidationFailed",
                                             "PayloadTooLarge", "UnsupportedMedia", "DatabaseUnavailable"}
    assert not hasattr(errors, "BadRequest")
    for c in classes:
        assert c in errors.STATUS, c
        assert "status" not in vars(c), c  # the domain class carries no HTTP status
        assert c.slug and c.title
    assert errors.STATUS[InvalidInput] == errors.STATUS[errors.ValidationFailed] == 422
    assert errors.status_of(errors.NotFound("x")) == 404


def test_a_former_400_is_a_422_naming_the_field(client):
    r = client.post("/incidents/bulk", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
    assert [e["field"] for e in r.json()["errors"]] == ["body"]
    r = client.post("/incidents/bulk", json={"not": "a list"})
    assert r.status_code == 422 and [e["field"] for e in r.json()["errors"]] == ["body"]
    r = client.get("/incidents", params={"status": "lost"})
    assert r.status_code == 422 and [e["field"] for e in r.json()["errors"]] == ["status"]
