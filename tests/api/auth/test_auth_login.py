"""Logging in: the OAuth2 password flow, API keys, the page session cookie and login page, logout;
what is refused (401 with WWW-Authenticate); open mode while no user exists."""

from __future__ import annotations

import time

import pytest

from tests.api.auth.conftest import PASSWORD


def test_open_mode_without_users(client):
    """No user in the database: every caller is an admin, with no credentials."""
    r = client.get("/me")
    assert r.status_code == 200 and r.json()["role"] == "admin" and r.json()["via"] == "open"
    assert client.get("/audit").status_code == 200


def test_password_flow_token(api):
    r = api.post("/token", data={"username": "off1", "password": PASSWORD})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["token_type"] == "bearer" and body["expires_in"] == 480 * 60
    me = api.get("/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200 and me.json()["name"] == "off1" and me.json()["role"] == "official"
    assert me.json()["via"] == "token"


@pytest.mark.parametrize("user, password", [("off1", "wrong password"), ("nobody", PASSWORD), ("off1", "")])
def test_wrong_password_is_401(api, user, password):
    r = api.post("/token", data={"username": user, "password": password})
    assert r.status_code in (401, 422)
    if r.status_code == 401:
        assert r.headers["www-authenticate"].startswith("Bearer")
        assert r.headers["content-type"].startswith("application/problem+json")


def test_no_or_bad_credentials_is_401(api):
    for headers in ({}, {"Authorization": "Bearer not-a-token"}, {"X-API-Key": "gm_unknown"},
                    {"Authorization": "Basic b2ZmMTp4"}):
        r = api.get("/collections", headers=headers)
        assert r.status_code == 401, (headers, r.text)
        assert "Bearer" in r.headers["www-authenticate"]
    assert api.get("/health").status_code == 200  # public


def test_expired_and_foreign_tokens_are_refused(api, settings, users):
    import jwt

    from api.auth import tokens

    old, _ = tokens.issue(settings, users["off1"], minutes=-1)
    assert api.get("/me", headers={"Authorization": f"Bearer {old}"}).status_code == 401
    forged = jwt.encode({"sub": str(users["root"]), "iat": int(time.time()), "exp": int(time.time()) + 600,
                         "typ": "access"}, "another secret, long enough for HS256!", algorithm="HS256")
    assert api.get("/me", headers={"Authorization": f"Bearer {forged}"}).status_code == 401
    session, _ = tokens.issue(settings, users["off1"], kind="session")  # a cookie's token is not a bearer token
    assert api.get("/me", headers={"Authorization": f"Bearer {session}"}).status_code == 401


def test_api_key_create_use_revoke(api, engine):
    from api.auth import accounts

    with engine.begin() as conn:
        kid, key = accounts.create_key(conn, "feed1", "12345-hotline")
    assert key.startswith("gm_")
    with engine.connect() as conn:  # stored hashed only
        from sqlalchemy import text

        stored = conn.execute(text("SELECT token_hash, prefix FROM api_tokens WHERE id = :i"), {"i": kid}).one()
    assert key not in stored.token_hash and stored.prefix == key[:10]
    for headers in ({"X-API-Key": key}, {"Authorization": f"Bearer {key}"}):
        me = api.get("/me", headers=headers)
        assert me.status_code == 200 and me.json()["name"] == "feed1" and me.json()["via"] == "key:12345-hotline"
    with engine.begin() as conn:
        accounts.revoke_key(conn, kid)
    assert api.get("/me", headers={"X-API-Key": key}).status_code == 401


def test_disable_and_passwd_end_tokens(api, engine, settings, users):
    from api.auth import accounts, tokens

    with engine.begin() as conn:
        accounts.add_user(conn, "temp", PASSWORD, "analyst", ["320281001"])
    tok = api.post("/token", data={"username": "temp", "password": PASSWORD}).json()["access_token"]
    h = {"Authorization": f"Bearer {tok}"}
    assert api.get("/me", headers=h).status_code == 200
    time.sleep(1.05)  # tokens carry whole seconds; the change must be in a later second than the token
    with engine.begin() as conn:
        accounts.change_password(conn, "temp", "another pass 2")
    assert api.get("/me", headers=h).status_code == 401
    assert api.post("/token", data={"username": "temp", "password": PASSWORD}).status_code == 401
    tok = api.post("/token", data={"username": "temp", "password": "another pass 2"}).json()["access_token"]
    assert api.get("/me", headers={"Authorization": f"Bearer {tok}"}).status_code == 200
    time.sleep(1.05)
    with engine.begin() as conn:
        accounts.disable_user(conn, "temp")
    assert api.get("/me", headers={"Authorization": f"Bearer {tok}"}).status_code == 401
    assert api.post("/token", data={"username": "temp", "password": "another pass 2"}).status_code == 401


@pytest.mark.parametrize("lang, words", [("zh", ["登录", "用户名", "密码"]), ("en", ["Log in", "User name", "Password"])])
def test_login_page_in_both_languages(api, lang, words):
    r = api.get(f"/login?lang={lang}")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert all(w in r.text for w in words)
    assert f'<html lang="{lang}">' in r.text and "http://" not in r.text and "https://" not in r.text


def test_page_session_cookie(api):
    api.cookies.clear()
    # a browser without a session is sent to the login page, an API client gets 401
    r = api.get("/map", headers={"Accept": "text/html"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login?next=%2Fmap"
    assert api.get("/map").status_code == 401
    bad = api.post("/login", data={"username": "off1", "password": "nope", "next": "/map"}, follow_redirects=False)
    assert bad.status_code == 401 and "不正确" in bad.text
    ok = api.post("/login", data={"username": "off1", "password": PASSWORD, "next": "/map"}, follow_redirects=False)
    assert ok.status_code == 303 and ok.headers["location"] == "/map"
    cookie = ok.headers["set-cookie"]
    assert "gridmap_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie.replace("Lax", "lax")
    page = api.get("/map")
    assert page.status_code == 200 and "<html" in page.text
    assert api.get("/me").json()["via"] == "session"
    # a session only reads: no write rides on the cookie (nothing another site could forge)
    r = api.post("/incidents/bulk", json=[])
    assert r.status_code == 401 and "only reads" in r.json()["detail"]
    out = api.post("/logout", follow_redirects=False)
    assert out.status_code == 303
    api.cookies.clear()  # the client keeps a cookie the server deleted only if it ignores Max-Age=0
    assert api.get("/me").status_code == 401


def test_login_does_not_redirect_off_site(api):
    for target in ("https://evil.example/", "//evil.example/x", "/\\evil.example"):
        r = api.post("/login", data={"username": "off1", "password": PASSWORD, "next": target},
                     follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/map"
    api.cookies.clear()


def test_secure_cookie_setting(engine, settings, users):
    from fastapi.testclient import TestClient

    from api.app import create_app

    with TestClient(create_app(settings.model_copy(update={"cookie_secure": True}))) as c:
        r = c.post("/login", data={"username": "off1", "password": PASSWORD}, follow_redirects=False)
        assert r.status_code == 303 and "Secure" in r.headers["set-cookie"]
