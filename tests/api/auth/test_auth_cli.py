"""The CLI: gridmap user add|list|disable|passwd, token create|list|revoke, audit; the demo's admin;
serve refusing a non-loopback host while no user exists (open mode)."""

from __future__ import annotations

import re

from sqlalchemy import text

from tests.support.cli import run_cli


def _area(engine, code="320281001", level="town"):
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO areas (region_code, code, name, level, geom) VALUES ('320281', :c, '示例镇', :l, "
            "ST_Multi(ST_GeomFromText('POLYGON((120 31, 120.01 31, 120.01 31.01, 120 31))', 4326)))"),
            {"c": code, "l": level})


def _cli_with_input(pg_url, monkeypatch, args, stdin: str):
    """``run_cli`` with text on standard input (``--password -``)."""
    from typer.testing import CliRunner

    from api.cli import app
    from api.settings import get_settings

    monkeypatch.setenv("GRIDMAP_DATABASE_URL", pg_url)
    get_settings.cache_clear()
    try:
        return CliRunner().invoke(app, list(args), input=stdin, terminal_width=200)
    finally:
        get_settings.cache_clear()


def test_user_commands(db, pg_url, monkeypatch, client):
    _area(db)
    r = run_cli(pg_url, monkeypatch, ["user", "add", "boss", "--role", "admin"])
    assert r.exit_code == 0, r.output
    password = re.search(r"password \(shown once\): (\S+)", r.output).group(1)
    assert client.post("/token", data={"username": "boss", "password": password}).status_code == 200
    r = run_cli(pg_url, monkeypatch, ["user", "add", "zhang", "--role", "official", "--area", "320281001",
                                      "--password", "long enough 1"])
    assert r.exit_code == 0 and "shown once" not in r.output
    bad = [["user", "add", "x", "--role", "mayor", "--password", "long enough 1"],
           ["user", "add", "x", "--role", "official", "--area", "999", "--password", "long enough 1"],
           ["user", "add", "x", "--role", "official", "--password", "long enough 1"],
           ["user", "add", "x", "--role", "admin", "--password", "short"],
           ["user", "add", "zhang", "--role", "admin", "--password", "long enough 1"]]
    for args in bad:
        r = run_cli(pg_url, monkeypatch, args)
        assert r.exit_code == 2 and "error" in r.output, (args, r.output)
    r = run_cli(pg_url, monkeypatch, ["user", "list"])
    assert r.exit_code == 0 and "boss" in r.output and "zhang" in r.output and "320281001" in r.output
    r = _cli_with_input(pg_url, monkeypatch, ["user", "passwd", "zhang", "--password", "-"], "new password 2\n")
    assert r.exit_code == 0 and "shown once" not in r.output
    assert client.post("/token", data={"username": "zhang", "password": "long enough 1"}).status_code == 401
    assert client.post("/token", data={"username": "zhang", "password": "new password 2"}).status_code == 200
    assert run_cli(pg_url, monkeypatch, ["user", "disable", "zhang"]).exit_code == 0
    assert client.post("/token", data={"username": "zhang", "password": "new password 2"}).status_code == 401
    assert run_cli(pg_url, monkeypatch, ["user", "disable", "zhang", "--enable"]).exit_code == 0
    assert client.post("/token", data={"username": "zhang", "password": "new password 2"}).status_code == 200
    assert run_cli(pg_url, monkeypatch, ["user", "disable", "nobody"]).exit_code == 2
    # the commands' writes are audited as the command, by the operating-system user, without secrets
    with db.connect() as conn:
        rows = conn.execute(text("SELECT actor, request, operation, after FROM audit_log WHERE table_name = 'users' "
                                 "ORDER BY id")).all()
    assert [r.request for r in rows] == ["gridmap user add", "gridmap user add", "gridmap user passwd",
                                         "gridmap user disable", "gridmap user disable"]
    assert all(r.actor.startswith("cli:") and "password_hash" not in r.after for r in rows)
    r = run_cli(pg_url, monkeypatch, ["audit", "--table", "users"])
    assert r.exit_code == 0 and "gridmap user passwd" in r.output and "tokens_valid_after" in r.output
    assert run_cli(pg_url, monkeypatch, ["audit", "--since", "yesterday"]).exit_code == 2
    # an offset PostgreSQL refuses (beyond 15:59) is read as the instant it names; years outside 1900-2199: 2
    odd = run_cli(pg_url, monkeypatch, ["audit", "--table", "users", "--since", "2025-01-01T00:00:00+18:23"])
    assert odd.exit_code == 0 and "gridmap user passwd" in odd.output, odd.output
    assert run_cli(pg_url, monkeypatch, ["audit", "--since", "0844-03-29T14:39:00+18:23"]).exit_code == 2


def test_token_commands(db, pg_url, monkeypatch, client):
    _area(db)
    assert run_cli(pg_url, monkeypatch, ["user", "add", "hotline", "--role", "integration", "--area", "320281001",
                                         "--no-password"]).exit_code == 0
    r = run_cli(pg_url, monkeypatch, ["token", "create", "hotline", "--name", "12345", "--days", "30"])
    assert r.exit_code == 0, r.output
    key = re.search(r"(gm_\S+)", r.output).group(1)
    kid = int(re.search(r"API key (\d+)", r.output).group(1))
    me = client.get("/me", headers={"X-API-Key": key})
    assert me.status_code == 200 and me.json()["role"] == "integration"
    assert client.get("/collections", headers={"X-API-Key": key}).status_code == 403  # integration: no reads
    listing = run_cli(pg_url, monkeypatch, ["token", "list"])
    assert listing.exit_code == 0 and key[:10] in listing.output and key not in listing.output
    assert run_cli(pg_url, monkeypatch, ["token", "revoke", str(kid)]).exit_code == 0
    assert client.get("/me", headers={"X-API-Key": key}).status_code == 401
    assert run_cli(pg_url, monkeypatch, ["token", "revoke", str(kid)]).exit_code == 2
    assert run_cli(pg_url, monkeypatch, ["token", "create", "nobody", "--name", "x"]).exit_code == 2


def test_demo_creates_an_admin_once(db, capsys):
    from api.cli.demo import demo_admin

    password = demo_admin(db)
    assert password and password in capsys.readouterr().out
    assert demo_admin(db) is None  # users exist: nothing printed, nobody added
    with db.connect() as conn:
        assert conn.execute(text("SELECT name, role FROM users")).all() == [("admin", "admin")]


def test_serve_refuses_a_public_host_in_open_mode(db, pg_url, monkeypatch):
    from api.cli.serve import is_loopback, refuse_open_mode

    import uvicorn

    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: (_ for _ in ()).throw(AssertionError("served")))
    r = run_cli(pg_url, monkeypatch, ["serve", "--host", "0.0.0.0"])
    assert r.exit_code == 2 and "no user" in r.output and "gridmap user add" in r.output
    assert all(is_loopback(h) for h in ("127.0.0.1", "localhost", "::1", "[::1]", "127.0.0.2"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "192.168.1.5", "::", "example.org"))
    refuse_open_mode(db, "127.0.0.1")  # loopback: fine without users
    with db.begin() as conn:
        from api.auth import accounts

        accounts.add_user(conn, "boss", "long enough 1", "admin", [])
    refuse_open_mode(db, "0.0.0.0")  # a user exists: no refusal


def test_an_import_command_is_audited_as_the_command(db, pg_url, monkeypatch, tmp_path):
    import geopandas as gpd
    from shapely.geometry import box

    path = tmp_path / "areas.geojson"
    gpd.GeoDataFrame({"region_code": ["320281"], "code": ["320281009"], "name": ["示例镇"], "level": ["town"]},
                     geometry=[box(120.0, 31.0, 120.01, 31.01)], crs=4326).to_file(path, driver="GeoJSON")
    r = run_cli(pg_url, monkeypatch, ["import", "areas", str(path)])
    assert r.exit_code == 0, r.output
    with db.connect() as conn:
        rows = conn.execute(text("SELECT actor, request, operation, after->>'code' AS code FROM audit_log "
                                 "WHERE table_name = 'areas'")).all()
    assert len(rows) == 1 and rows[0].actor.startswith("cli:") and rows[0].code == "320281009"
    assert rows[0].request == "gridmap import" and rows[0].operation == "insert"
