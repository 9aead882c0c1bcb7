"""The caller of a request, built in ONE place: who (user or open mode), role, jurisdiction.

:func:`authorize` is a dependency of every route (:func:`install` adds it to the app): it reads the
credentials (``Authorization: Bearer`` with a signed token or an API key, ``X-API-Key``, or the
page session cookie), refuses what is missing or invalid (401 with ``WWW-Authenticate``; a page
asked for by a browser is redirected to ``/login``), checks the route's action against the
role's permissions (:mod:`api.auth.roles`; 403), and records the caller for the audit log
(:mod:`api.db.audit`).  ``api.deps.jurisdiction`` returns the jurisdiction of the caller it built.

With no user in the database gridmap is **open**: every caller is an admin (``gridmap serve``
refuses to listen on a non-loopback address then).  Once a user exists every request needs
credentials.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from fastapi import Depends, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse
from fastapi.security import APIKeyHeader, OAuth2PasswordBearer

from api.auth import accounts, tokens
from api.auth.roles import PUBLIC_ROUTES, Action, Role, action_for, allowed
from api.db import audit
from api.db import users as udb
from api.errors import LoginRequired, NotPermitted, Unauthorized
from api.jurisdiction import EVERYWHERE, Jurisdiction
from api.negotiation import prefers_html

__all__ = ["Caller", "OPEN", "SESSION_COOKIE", "LoginRequired", "authorize", "install", "is_public"]

SESSION_COOKIE = "gridmap_session"


@dataclass(frozen=True)
class Caller:
    """Who is calling.

    Attributes
    ----------
    name : str
        The user's name (``open`` in open mode).
    role : Role
    scope : Jurisdiction
        Where the caller reads and writes.
    handling : Jurisdiction
        Where it updates cases (a grid worker: its own grids).
    via : str
        ``open``, ``token``, ``session`` or ``key:<key name>``.
    user_id : int or None
    """

    name: str
    role: Role
    scope: Jurisdiction
    handling: Jurisdiction
    via: str
    user_id: int | None = None

    def scope_for(self, action: Action) -> Jurisdiction:
        return self.handling if action == Action.HANDLE else self.scope

    @property
    def actor(self) -> str:
        """How the audit log names the caller."""
        return self.name if not self.via.startswith("key:") else f"{self.name} ({self.via})"

    def as_dict(self) -> dict:
        codes = None if self.scope.codes is None else sorted(self.scope.codes)
        return {"name": self.name, "role": self.role.value, "via": self.via, "areas": codes,
                "own_grids": None if self.handling.grids is None else sorted(self.handling.grids),
                "personal_fields": self.scope.personal}


OPEN = Caller("open", Role.ADMIN, EVERYWHERE, EVERYWHERE, "open")

# declared for OpenAPI (the "Authorize" button of /docs); read by hand below
_bearer = OAuth2PasswordBearer(tokenUrl="/token", auto_error=False)
_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="A long-lived API key (gridmap token create).")


def is_public(path: str) -> bool:
    return path in PUBLIC_ROUTES or path.startswith("/static")


def _route_path(request: Request) -> str:
    route = request.scope.get("route")
    return getattr(route, "path", None) or request.url.path


def _users_exist(request: Request, conn) -> bool:
    state = request.app.state
    if getattr(state, "auth_closed", False):  # once a user exists gridmap stays closed (users are never deleted)
        return True
    closed = udb.any_users(conn)
    if closed:
        state.auth_closed = True
    return closed


def _caller_of(conn, user: udb.UserRow, via: str) -> Caller:
    scope, handling = accounts.jurisdictions_of(conn, user.role, user.areas)
    return Caller(user.name, Role(user.role), scope, handling, via, user.id)


def _resolve(request: Request, bearer: str | None, key: str | None) -> Caller:
    settings = request.app.state.settings
    with request.app.state.engine.connect() as conn:
        if not _users_exist(request, conn):
            return OPEN
        cookie = request.cookies.get(SESSION_COOKIE)
        secret_key = key or (bearer if bearer and tokens.is_api_key(bearer) else None)
        if secret_key:
            found = udb.user_by_key(conn, tokens.key_hash(secret_key))
            if found is None or found[0].disabled:
                raise Unauthorized("The API key is unknown, revoked or expired.")
            return _caller_of(conn, found[0], f"key:{found[1]}")
        raw, kind = (bearer, "access") if bearer else (cookie, "session")
        if kind == "session" and raw and request.method not in ("GET", "HEAD"):
            # the pages only read: a cookie never authorises a change, so no other site can forge one (CSRF)
            raise Unauthorized("A page session only reads; send a token (POST /token) or an API key to change data.")
        if not raw:
            raise Unauthorized("Log in first: send a token (POST /token) as 'Authorization: Bearer ...', "
                               "an API key as 'X-API-Key', or use the login page (/login).")
        claims = tokens.decode(settings, raw, kind)
        user = udb.user_by_id(conn, claims.user_id) if claims else None
        if user is None or user.disabled or claims.issued_at < int(user.tokens_valid_after.timestamp()):
            raise Unauthorized("The token or session is invalid or has expired; log in again.")
        return _caller_of(conn, user, "token" if kind == "access" else "session")


def _wants_page(request: Request) -> bool:
    return request.method in ("GET", "HEAD") and prefers_html(request.headers.get("accept"))


async def authorize(request: Request, bearer: str | None = Depends(_bearer),
                    key: str | None = Depends(_key)) -> Caller:
    """The caller of this request, checked against the route's action (a dependency of every route).

    Raises
    ------
    Unauthorized
        401: credentials missing or not accepted (a browser asking for a page: sent to /login).
    NotPermitted
        403: the caller's role may not take the route's action.
    """
    path = _route_path(request)
    if is_public(path):
        return OPEN if not getattr(request.app.state, "auth_closed", False) else \
            Caller("anonymous", Role.ANALYST, Jurisdiction(frozenset()), Jurisdiction(frozenset()), "none")
    try:
        caller = await run_in_threadpool(_resolve, request, bearer, key)
    except Unauthorized as exc:
        if _wants_page(request):
            raise LoginRequired(exc.detail) from None
        raise
    action = action_for(request.method, path)
    if not allowed(caller.role, action):
        raise NotPermitted(f"A user with role {caller.role.value} may not {action.value.replace('_', ' ')} "
                           f"({request.method} {path}).", role=caller.role.value, action=action.value)
    request.state.caller = caller
    request.state.action = action
    audit.set_context(caller.actor, f"{request.method} {request.url.path}")
    return caller


def install(app: FastAPI) -> None:
    """Put :func:`authorize` in front of every route (call before the routers are included) and
    send browsers without a session to the login page."""
    app.router.dependencies.append(Depends(authorize))

    @app.exception_handler(LoginRequired)
    async def _login(request: Request, exc: LoginRequired):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)
