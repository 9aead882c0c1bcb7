"""``GRIDMAP_MAX_UPLOAD_MB`` holds for bodies without a Content-Length (chunked) too: counted as the
bytes arrive, 413 problem+json, nothing written."""

from __future__ import annotations

import http.client
import json

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from tests.api.hardening.conftest import assert_problem, counts, incident, station


@pytest.fixture
def small(settings):
    return settings.model_copy(update={"max_upload_mb": 1.0})


def _ndjson_chunks(n_bytes: int, start: int = 0):
    """NDJSON incidents, one a line, ~n_bytes in total, yielded in ~64 KiB chunks."""
    sent, k, buf = 0, start, []
    while sent < n_bytes:
        line = (json.dumps(incident(f"big-{k}", description="x" * 400)) + "\n").encode()
        buf.append(line)
        sent += len(line)
        k += 1
        if sum(map(len, buf)) > 65536:
            yield b"".join(buf)
            buf = []
    if buf:
        yield b"".join(buf)


def test_chunked_bulk_over_the_limit_is_413_and_writes_nothing(world, small):
    with TestClient(create_app(small)) as c:
        before = counts(world)
        r = c.post("/incidents/bulk?mode=partial", content=_ndjson_chunks(4 * 1024 * 1024),
                   headers={"content-type": "application/x-ndjson"})
        assert "content-length" not in r.request.headers  # really chunked
        assert_problem(r, 413, words=["limit", "1048576"])
        assert counts(world) == before


def test_chunked_json_route_over_the_limit_is_413(world, small):
    body = json.dumps(station(name="站" * 300_000)).encode()  # ~1.8 MB; the name limit is not the point
    with TestClient(create_app(small)) as c:
        before = counts(world)
        r = c.post("/stations", content=iter([body[i:i + 65536] for i in range(0, len(body), 65536)]),
                   headers={"content-type": "application/json"})
        assert_problem(r, 413)
        assert counts(world) == before


def test_chunked_under_the_limit_is_read(world, small):
    with TestClient(create_app(small)) as c:
        r = c.post("/incidents/bulk", content=_ndjson_chunks(200_000),
                   headers={"content-type": "application/x-ndjson"})
        assert r.status_code == 200, r.text
        assert r.json()["inserted"] == counts(world)["incidents"] > 300


def test_declared_length_over_the_limit_is_refused_before_reading(world, small):
    with TestClient(create_app(small)) as c:
        r = c.post("/incidents/bulk", content=b"[" + b" " * (2 * 1024 * 1024) + b"]",
                   headers={"content-type": "application/json"})
        assert_problem(r, 413)


def test_real_server_chunked_upload(world, small):
    """Over a real socket (uvicorn): a chunked 4 MB body against a 1 MB limit gets 413."""
    from tests.api.hardening.servers import serving

    with serving(small) as port:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.putrequest("POST", "/incidents/bulk?mode=partial")
        conn.putheader("Content-Type", "application/x-ndjson")
        conn.putheader("Transfer-Encoding", "chunked")
        conn.endheaders()
        try:
            for chunk in _ndjson_chunks(4 * 1024 * 1024):
                conn.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            conn.send(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may answer and close before the whole body is sent
        r = conn.getresponse()
        assert r.status == 413, r.read()
        assert r.getheader("content-type") == "application/problem+json"
        conn.close()
    assert counts(world)["incidents"] == 0
