"""Logging in and out: the OAuth2 password flow (``POST /token``), the page login with a session
cookie (``GET``/``POST /login``, ``/logout``) and who the caller is (``GET /me``).

Only translation here: checking the password is :func:`api.auth.accounts.authenticate`, signing
the token :func:`api.auth.tokens.issue`, building the caller :func:`api.auth.authorize`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.security import OAuth2PasswordRequestForm

from api import deps, i18n
from api.auth import SESSION_COOKIE, Caller, accounts, tokens
from api.errors import Unauthorized
from api.pages.login import login_html, safe_next

router = APIRouter(tags=["auth"])


def _check(request: Request, username: str, password: str):
    def run():
        with request.app.state.engine.begin() as conn:
            return accounts.authenticate(conn, username, password)

    return run_in_threadpool(run)


@router.post("/token", summary="Log in (OAuth2 password flow): a signed bearer token",
             responses={401: {"description": "Wrong user name or password, or the user is disabled."}})
async def token(request: Request, form: Annotated[OAuth2PasswordRequestForm, Depends()]) -> dict:
    """Send ``username`` and ``password`` as a form; use the ``access_token`` as
    ``Authorization: Bearer <token>`` until it expires (``expires_in`` seconds, GRIDMAP_TOKEN_MINUTES)."""
    user = await _check(request, form.username, form.password)
    if user is None:
        raise Unauthorized("Wrong user name or password, or the user is disabled.")
    value, life_s = tokens.issue(request.app.state.settings, user.id, "access")
    return {"access_token": value, "token_type": "bearer", "expires_in": life_s}


@router.get("/login", response_class=HTMLResponse, tags=["pages"], summary="Login page (HTML; ?lang=zh|en)")
def login_page(request: Request, settings: deps.SettingsDep, next: str | None = None) -> HTMLResponse:
    lang = i18n.request_lang(request, settings.language)
    message = "login.logged_out" if request.query_params.get("out") else ("login.expired" if next else None)
    return HTMLResponse(login_html(lang, next, message))


@router.post("/login", response_class=HTMLResponse, tags=["pages"], summary="Log in from the page: session cookie")
async def login_submit(request: Request, settings: deps.SettingsDep, username: Annotated[str, Form()],
                       password: Annotated[str, Form()], next: Annotated[str | None, Form()] = None):
    lang = i18n.request_lang(request, settings.language)
    user = await _check(request, username, password)
    if user is None:
        return HTMLResponse(login_html(lang, next, "login.failed", error=True), status_code=401,
                            headers=dict(Unauthorized.headers))
    value, life_s = tokens.issue(settings, user.id, "session")
    resp = RedirectResponse(safe_next(next), status_code=303)
    resp.set_cookie(SESSION_COOKIE, value, max_age=life_s, httponly=True, samesite="lax",
                    secure=settings.cookie_secure, path="/")
    return resp


def _logout(request: Request) -> RedirectResponse:
    resp = RedirectResponse(f"/login?out=1&lang={i18n.request_lang(request)}", status_code=303)
    resp.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax")
    return resp


@router.post("/logout", tags=["pages"], summary="Log out (ends the page session)")
def logout(request: Request) -> RedirectResponse:
    return _logout(request)


@router.get("/logout", tags=["pages"], summary="Log out from a link (ends the page session)")
def logout_link(request: Request) -> RedirectResponse:
    return _logout(request)


@router.get("/me", summary="Who the caller is: name, role, areas, whether personal fields are shown")
def me(caller: deps.CallerDep) -> dict:
    return caller.as_dict()
