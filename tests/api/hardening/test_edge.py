"""The edge: Host allow-list, 405 with Allow, security headers on pages, no server banner, CORS
off by default, write rate limits."""

from __future__ import annotations

import http.client

from fastapi.testclient import TestClient

from api.app import create_app
from api.edge import TokenBuckets
from tests.api.hardening.conftest import assert_problem, station


def test_host_allow_list(client, world, settings):
    assert client.get("/health", headers={"host": "127.0.0.1:8000"}).status_code == 200
    assert client.get("/health", headers={"host": "[::1]:8000"}).status_code == 200
    r = client.get("/health", headers={"host": "evil.example.com"})
    assert_problem(r, 421, words=["GRIDMAP_ALLOWED_HOSTS"])
    named = settings.model_copy(update={"allowed_hosts": "grid.example.org, *.town.example.org"})
    with TestClient(create_app(named)) as c:
        for host, ok in (("grid.example.org", True), ("a.town.example.org:443", True), ("town.example.org.evil", False)):
            assert (c.get("/health", headers={"host": host}).status_code == 200) is ok, host


def test_405_has_allow(client, world):
    r = client.patch("/incidents/categories")
    assert_problem(r, 405)
    assert "GET" in r.headers["allow"]


def test_pages_carry_security_headers_and_no_cors(client, world):
    r = client.get("/docs", headers={"Origin": "http://evil.example.com"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    csp = r.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp and "http" not in csp
    assert r.headers["x-content-type-options"] == "nosniff" and r.headers["x-frame-options"] == "DENY"
    assert "access-control-allow-origin" not in r.headers
    j = client.get("/incidents/categories", headers={"Origin": "http://evil.example.com"})
    assert j.headers["x-content-type-options"] == "nosniff" and "access-control-allow-origin" not in j.headers
    pre = client.options("/stations", headers={"Origin": "http://evil.example.com",
                                               "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in pre.headers


def test_no_server_banner(world, settings):
    from tests.api.hardening.servers import serving

    with serving(settings) as port:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", "/health")
        r = conn.getresponse()
        r.read()
        assert r.getheader("server") is None
        conn.close()
    # and gridmap serve runs uvicorn the same way
    import inspect

    from api.cli import serve

    assert "server_header=False" in inspect.getsource(serve)


def test_write_rate_limit(world, settings):
    tight = settings.model_copy(update={"write_rate_per_s": 0.05, "write_burst": 3})
    with TestClient(create_app(tight)) as c:
        codes = [c.post("/stations", json=station(f"rl-{i}")).status_code for i in range(5)]
        assert codes[:3] == [201, 201, 201] and codes[3:] == [429, 429], codes
        r = c.post("/stations", json=station("rl-x"))
        assert_problem(r, 429)
        assert int(r.headers["retry-after"]) >= 1
        assert c.get("/incidents/categories").status_code == 200  # reads are not limited


def test_token_bucket_refills_at_its_rate():
    b = TokenBuckets(rate_per_s=2.0, burst=2)
    assert [b.take("a", now=0.0) for _ in range(3)] == [0.0, 0.0, 0.5]
    assert b.take("a", now=0.5) == 0.0 and b.take("b", now=0.5) == 0.0
