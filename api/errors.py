"""gridmap's error hierarchy and its one mapping to RFC 9457 problem details.

The error classes say what went wrong in the domain's terms (a ``slug`` and a ``title``) and carry
no HTTP status: the service layer, the database layer and the CLI raise them without knowing about
the web.  :data:`STATUS` is the one table from each class (and ``geo.errors.InvalidInput`` from
the pure layer) to an HTTP status code; :func:`status_of` reads it (the nearest class in the
table wins) and :func:`install` registers the handlers on the app once.  Invalid input is 422
everywhere.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from api.negotiation import prefers_html
from geo.errors import InvalidInput, Problem

PROBLEM_JSON = "application/problem+json"


class GridmapError(Exception):
    """Base of every error gridmap reports to a caller: ``detail`` (what happened, in words a user
    can act on), ``problems`` (each fault with its field or row) and ``extra`` members of the
    problem document."""

    slug = "internal-error"
    title = "Internal error"

    def __init__(self, detail: str, problems: list[Problem] | None = None, **extra: Any):
        super().__init__(detail)
        self.detail = detail
        self.problems = list(problems or [])
        self.extra = extra


class Forbidden(GridmapError):
    """The data asked for lies outside the caller's jurisdiction."""

    slug, title = "forbidden", "Outside your jurisdiction"


class Unauthorized(GridmapError):
    """No credentials, or credentials gridmap does not accept (wrong, expired, revoked, disabled).
    ``headers`` go onto the response (the ``WWW-Authenticate`` challenge of RFC 9110)."""

    slug, title = "unauthorized", "Authentication required"
    headers = {"WWW-Authenticate": 'Bearer realm="gridmap"'}


class LoginRequired(Unauthorized):
    """A browser asked for a page without a session (``api.auth`` sends it to the login page)."""

    slug, title = "login-required", "Log in first"


class NotPermitted(Forbidden):
    """The caller's role may not take this action, whatever the area."""

    slug, title = "not-permitted", "Not permitted for your role"


class NotFound(GridmapError):
    """No such thing (an id, a code) in the caller's scope."""

    slug, title = "not-found", "Not found"


class Conflict(GridmapError):
    """The request is well formed but the current state does not allow it."""

    slug, title = "conflict", "Conflict"


class PayloadTooLarge(GridmapError):
    """More data in one request than a limit allows."""

    slug, title = "payload-too-large", "Payload too large"


class UnsupportedMedia(GridmapError):
    """A body in a format gridmap does not read."""

    slug, title = "unsupported-media-type", "Unsupported media type"


class ValidationFailed(GridmapError):
    """Input that cannot be used as it is (a parameter, a body, a filter); ``problems`` name the
    field of each fault."""

    slug, title = "validation-failed", "Validation failed"


class DatabaseUnavailable(GridmapError):
    """The database cannot be reached."""

    slug, title = "database-unavailable", "Database unavailable"


# --- plans (api.plans) ---
class MoveRefused(Conflict):
    """A plan edit the grids do not allow (it would split a grid, detach a piece, empty or touch a
    locked grid); ``extra`` names the ``unit`` and ``grid`` and the refusal's ``reason`` code."""

    slug, title = "move-refused", "Move refused"


class StalePlan(Conflict):
    """A plan made from data that changed since (dwellings, grids, a community boundary); ``problems``
    say what changed."""

    slug, title = "stale-plan", "The plan is out of date"


class PlanClosed(Conflict):
    """An edit or publish of a plan that is no longer a draft (published or discarded)."""

    slug, title = "plan-closed", "The plan is not a draft"


class StaleVersion(GridmapError):
    """The caller's copy (``If-Match``) is not the stored version any more: someone changed it."""

    slug, title = "stale-version", "Changed since you read it"


class TooManyRequests(GridmapError):
    """More requests from one client than the rate limit allows."""

    slug, title = "too-many-requests", "Too many requests"


#: The one mapping of error classes to HTTP status codes.
STATUS: dict[type[Exception], int] = {
    GridmapError: 500,
    Unauthorized: 401,
    LoginRequired: 401,
    Forbidden: 403,
    NotPermitted: 403,
    NotFound: 404,
    Conflict: 409,
    PayloadTooLarge: 413,
    UnsupportedMedia: 415,
    ValidationFailed: 422,
    InvalidInput: 422,
    DatabaseUnavailable: 503,
    # plans
    MoveRefused: 409,
    StalePlan: 409,
    PlanClosed: 409,
    StaleVersion: 412,
    TooManyRequests: 429,
}


def status_of(exc: BaseException | type[BaseException]) -> int:
    """HTTP status of an error (class or instance): that of the nearest class in :data:`STATUS`."""
    cls = exc if isinstance(exc, type) else type(exc)
    for klass in cls.__mro__:
        if klass in STATUS:
            return STATUS[klass]
    return 500


def problem_response(
    status: int, slug: str, title: str, detail: str, instance: str,
    problems: list[Problem] | None = None, **extra: Any,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": f"/problems/{slug}",
        "title": title,
        "status": status,
        "detail": detail,
        "instance": instance,
    }
    if problems:
        body["errors"] = [p.as_dict() for p in problems]
    body.update(extra)
    return _ProblemResponse(body, status_code=status, media_type=PROBLEM_JSON)


class _ProblemResponse(JSONResponse):
    """JSON as UTF-8; a problem quoting text that has no UTF-8 form (a lone surrogate a caller
    sent) is written with ASCII escapes instead of failing."""

    def render(self, content: Any) -> bytes:
        try:
            return super().render(content)
        except UnicodeEncodeError:
            return json.dumps(content, ensure_ascii=True, allow_nan=False, separators=(",", ":")).encode()


#: What a caller is told about an unexpected error (the server log has the traceback).
INTERNAL_DETAIL = ("gridmap hit an unexpected error; nothing was changed by this request "
                   "(writes run in one transaction). The server log has the details.")


def _body_fault(exc: BaseException) -> tuple[int, str, Problem] | None:
    """The status, detail and problem of a request body FastAPI could not parse, by its cause."""
    cause = exc.__cause__
    if isinstance(cause, UnicodeDecodeError):
        why = (f"the body is not UTF-8: byte {cause.start} (0-based offset) is 0x{cause.object[cause.start]:02x}; "
               "send UTF-8 text (GBK and other encodings are not read in a JSON body)")
        return 400, why, Problem(why, field="body")
    if isinstance(cause, RecursionError):
        why = "the body's JSON is nested too deep (arrays or objects inside each other beyond what gridmap reads)"
        return 422, why, Problem(why, field="body")
    if isinstance(cause, ValueError):  # e.g. a number too long to convert
        why = f"the body cannot be read as JSON: {cause}"
        return 422, why, Problem(why, field="body")
    return None


def _lang(request: Request) -> str:
    from api import i18n

    settings = getattr(request.app.state, "settings", None)
    return i18n.request_lang(request, getattr(settings, "language", None))


def _is_page(request: Request) -> bool:
    """A browser (an ``Accept`` preferring ``text/html`` to JSON, as browsers send) asked for one of the HTML pages (a
    route tagged ``pages``); other clients (``*/*``, JSON) get problem+json."""
    route = request.scope.get("route")
    if "pages" not in (getattr(route, "tags", None) or ()):
        return False
    return prefers_html(request.headers.get("accept")) and request.query_params.get("f") != "json"


def respond(request: Request, status: int, slug: str, title: str, detail: str,
            problems: list[Problem] | None = None, **extra: Any):
    """The response for an error: problem+json whose ``title`` and ``detail`` are in the language the
    client asks for (``?lang=``, ``Accept-Language``; English when it names none), or, for a browser
    on a page, an HTML page in the shell with the same status and message in the page's language
    (``?lang=``, ``Accept-Language``, ``GRIDMAP_LANGUAGE``)."""
    from api import i18n

    page = _is_page(request)
    # pages speak GRIDMAP_LANGUAGE unless the browser asks otherwise; an API client gets the language
    # it asks for (?lang=, Accept-Language), else English, the language of the API's documentation
    lang = _lang(request) if page else i18n.request_lang(request, "en")
    title = i18n.error_title(slug, title, lang)
    detail = i18n.detail(detail, lang)
    if page:
        from api.pages.base import error_page

        return error_page(status, title, detail, lang, problems=problems, back=request.url.path)
    return problem_response(status, slug, title, detail, request.url.path, problems, **extra)


def install(app: FastAPI) -> None:
    """Map every error gridmap can raise onto problem+json (HTML on the pages), once, for the whole app."""

    @app.exception_handler(GridmapError)
    async def _gridmap(request: Request, exc: GridmapError):
        resp = respond(request, status_of(exc), exc.slug, exc.title, exc.detail, exc.problems, **exc.extra)
        resp.headers.update(getattr(exc, "headers", None) or {})  # e.g. Unauthorized's WWW-Authenticate
        return resp

    @app.exception_handler(InvalidInput)
    async def _invalid(request: Request, exc: InvalidInput):
        return respond(request, status_of(exc), ValidationFailed.slug, ValidationFailed.title, str(exc),
                       exc.problems)

    @app.exception_handler(RequestValidationError)
    async def _request(request: Request, exc: RequestValidationError):
        problems = []
        for e in exc.errors():
            reason = e.get("msg", "invalid")
            if e.get("type") == "json_invalid" and (e.get("ctx") or {}).get("error"):
                loc = e.get("loc", ())
                at = f" at character {loc[1]} (0-based)" if len(loc) > 1 else ""
                reason = f"the body is not JSON: {e['ctx']['error']}{at}"
            problems.append(Problem(reason=reason, field=".".join(str(x) for x in e.get("loc", ()))))
        return respond(request, STATUS[ValidationFailed], ValidationFailed.slug, ValidationFailed.title,
                       "The request does not match the expected shape.", problems)

    @app.exception_handler(SQLAlchemyTimeout)
    @app.exception_handler(OperationalError)
    async def _database(request: Request, exc: Exception):
        # the database refused, dropped or timed out (connect, pool, statement_timeout): the caller's
        # request may be fine; a retry later may work.  The driver's text stays in the log.
        logging.getLogger("gridmap").warning("database unavailable on %s %s: %s", request.method,
                                             request.url.path, str(exc).splitlines()[0] if str(exc) else exc)
        code = getattr(getattr(exc, "orig", None), "pgcode", None)
        if code == "57014":
            detail = "The request took longer than the database allows (GRIDMAP_STATEMENT_TIMEOUT_S); nothing was changed."
        else:
            detail = "The database cannot be reached right now; nothing was changed. Retry in a moment."
        return problem_response(STATUS[DatabaseUnavailable], DatabaseUnavailable.slug, DatabaseUnavailable.title,
                                detail, request.url.path)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception):
        # a bug or an outage, not the caller's fault: log the traceback, tell the caller in problem+json
        logging.getLogger("gridmap").exception("unexpected error on %s %s", request.method, request.url.path)
        return respond(request, 500, "internal-error", "Internal error", INTERNAL_DETAIL)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        fault = _body_fault(exc) if exc.status_code == 400 else None
        if fault:
            status, why, problem = fault
            return respond(request, status, ValidationFailed.slug, ValidationFailed.title, why, [problem])
        response = respond(request, exc.status_code, f"http-{exc.status_code}", str(exc.detail), str(exc.detail))
        for k, v in (getattr(exc, "headers", None) or {}).items():  # 405's Allow, 401's WWW-Authenticate
            response.headers[k] = v
        if exc.status_code == 405:
            response.headers["Allow"] = allowed_methods(request)
        return response


def allowed_methods(request: Request) -> str:
    """The ``Allow`` of a 405: every method some route on the request's path takes (Starlette names
    only the first route that matched the path, so ``GET /login`` hid ``POST /login``)."""
    found = []
    for method in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"):
        probe = {**request.scope, "method": method}
        if any(route.matches(probe)[0] == Match.FULL for route in request.app.router.routes):
            found.append(method)
    return ", ".join(found)
