"""gridmap's error hierarchy and its one mapping to RFC 9457 problem details.

Raise a :class:`GridmapError` subclass anywhere in ``api``; ``geo.errors.InvalidInput`` from the
pure layer is mapped here too.  :func:`install` registers the handlers on the app once.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from geo.errors import InvalidInput, Problem

PROBLEM_JSON = "application/problem+json"


class GridmapError(Exception):
    """Base of every error gridmap reports to a caller."""

    status = 500
    slug = "internal-error"
    title = "Internal error"

    def __init__(self, detail: str, problems: list[Problem] | None = None, **extra: Any):
        super().__init__(detail)
        self.detail = detail
        self.problems = list(problems or [])
        self.extra = extra


class BadRequest(GridmapError):
    status, slug, title = 400, "bad-request", "Bad request"


class Forbidden(GridmapError):
    status, slug, title = 403, "forbidden", "Outside your jurisdiction"


class NotFound(GridmapError):
    status, slug, title = 404, "not-found", "Not found"


class Conflict(GridmapError):
    status, slug, title = 409, "conflict", "Conflict"


class PayloadTooLarge(GridmapError):
    status, slug, title = 413, "payload-too-large", "Payload too large"


class UnsupportedMedia(GridmapError):
    status, slug, title = 415, "unsupported-media-type", "Unsupported media type"


class ValidationFailed(GridmapError):
    status, slug, title = 422, "validation-failed", "Validation failed"


class DatabaseUnavailable(GridmapError):
    status, slug, title = 503, "database-unavailable", "Database unavailable"


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
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON)


def install(app: FastAPI) -> None:
    """Map every error gridmap can raise onto problem+json, once, for the whole app."""

    @app.exception_handler(GridmapError)
    async def _gridmap(request: Request, exc: GridmapError):
        return problem_response(exc.status, exc.slug, exc.title, exc.detail, request.url.path,
                                exc.problems, **exc.extra)

    @app.exception_handler(InvalidInput)
    async def _invalid(request: Request, exc: InvalidInput):
        return problem_response(422, ValidationFailed.slug, ValidationFailed.title, str(exc),
                                request.url.path, exc.problems)

    @app.exception_handler(RequestValidationError)
    async def _request(request: Request, exc: RequestValidationError):
        problems = [
            Problem(reason=e.get("msg", "invalid"), field=".".join(str(x) for x in e.get("loc", ())))
            for e in exc.errors()
        ]
        return problem_response(422, ValidationFailed.slug, ValidationFailed.title,
                                "The request does not match the expected shape.", request.url.path, problems)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception):
        # a bug or an outage, not the caller's fault: log the traceback, tell the caller in problem+json
        logging.getLogger("gridmap").exception("unexpected error on %s %s", request.method, request.url.path)
        return problem_response(500, "internal-error", "Internal error",
                                "gridmap hit an unexpected error; nothing was changed by this request "
                                "(writes run in one transaction). The server log has the details.",
                                request.url.path)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        return problem_response(exc.status_code, f"http-{exc.status_code}", str(exc.detail),
                                str(exc.detail), request.url.path)
