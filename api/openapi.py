"""The OpenAPI document, completed once for every route: what gridmap really answers.

FastAPI documents each route's success as ``application/json`` and its 422 as its own validation
shape.  gridmap answers every error as an RFC 9457 ``application/problem+json`` document
(:mod:`api.errors`, the edge in :mod:`api.edge`), tables and layers in the format asked for
(``format=csv|xlsx|geojson|gpkg``), pages in HTML.  :func:`install` replaces the app's
``openapi()`` with one that declares, on every operation:

- the problem answers it can give (:func:`problem_statuses`: 401/403 where credentials are read,
  404 where something is looked up, 400/413/415 where a body is read, 409/429 on writes, 412 with
  ``If-Match``, 421 for a foreign ``Host``, 422, 500 and 503 everywhere), each with the
  :data:`PROBLEM_SCHEMA` (``type``, ``title``, ``status``, ``detail``; ``errors`` naming the field);
- the media types of its success by its ``format`` parameter (:data:`FORMAT_MEDIA`), and HTML for
  the pages (routes tagged ``pages``, which also answer errors as HTML to browsers).

Anonymous access to the public routes (:data:`api.auth.roles.PUBLIC_ROUTES`) is declared as an
empty security requirement.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from api.auth.roles import PUBLIC_ROUTES
from api.errors import PROBLEM_JSON
from api.sheets import XLSX_MEDIA

__all__ = ["GEOJSON", "GPKG", "GeoJSONResponse", "FORMAT_MEDIA", "PROBLEM_SCHEMA", "problem_statuses", "complete", "install"]

GEOJSON = "application/geo+json"
GPKG = "application/geopackage+sqlite3"
HTML = "text/html"


class GeoJSONResponse(JSONResponse):
    """A JSON answer that is GeoJSON: ``response_class=GeoJSONResponse`` documents it as such."""

    media_type = GEOJSON


#: ``format=`` value -> the media type of the answer.
FORMAT_MEDIA: dict[str, str] = {
    "json": "application/json", "geojson": GEOJSON, "csv": "text/csv", "xlsx": XLSX_MEDIA, "gpkg": GPKG,
}

#: RFC 9457 problem details as gridmap writes them (:func:`api.errors.problem_response`).
PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "description": "A URI reference naming the kind of problem."},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string", "description": "What went wrong, in words a user can act on."},
        "instance": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["reason"],
                "properties": {
                    "reason": {"type": "string"},
                    "field": {"type": "string", "description": "The field, `query.<name>` or `body`."},
                    "row": {"type": "integer", "description": "The row of a bulk body or file."},
                },
            },
        },
    },
}

_REASONS = {
    400: "The body is not UTF-8 (the problem names the byte).",
    401: "No credentials, or credentials gridmap does not accept.",
    403: "Not permitted for the caller's role, or outside its jurisdiction.",
    404: "No such thing in the caller's jurisdiction.",
    409: "The current state does not allow it (a duplicate key, a concurrent write, a refused move).",
    412: "`If-Match` names a version that is not the stored one any more.",
    413: "More data than a limit allows (`GRIDMAP_MAX_UPLOAD_MB`, bulk size).",
    415: "A body in a format gridmap does not read.",
    421: "The `Host` is not one this server answers for (`GRIDMAP_ALLOWED_HOSTS`).",
    422: "Input that cannot be used as it is; `errors` name each field.",
    429: "Too many requests from this client; see `Retry-After`.",
    500: "An unexpected error; nothing was changed.",
    503: "The database cannot be reached or took too long; nothing was changed.",
}

_WRITES = {"post", "put", "patch", "delete"}


def problem_statuses(method: str, path: str, operation: dict) -> set[int]:
    """The problem statuses an operation can answer (see the module docstring)."""
    params = operation.get("parameters", [])
    statuses = {421, 422, 500, 503}
    if path not in PUBLIC_ROUTES:
        statuses |= {401, 403}
    else:
        statuses.add(401)  # credentials sent to a public route are still checked
    if params or "requestBody" in operation:
        statuses.add(404)
    if "requestBody" in operation:
        statuses |= {400, 413, 415}
    if method in _WRITES:
        statuses |= {409, 429}
    if any(p.get("in") == "header" and p.get("name", "").lower() == "if-match" for p in params):
        statuses.add(412)
    return statuses


def _formats(operation: dict) -> list[str]:
    """The values of an operation's ``format`` query parameter (an enum or a ``^(a|b)$`` pattern)."""
    for p in operation.get("parameters", []):
        if p.get("in") == "query" and p.get("name") == "format":
            schema = p.get("schema", {})
            values = list(schema.get("enum", []))
            for alt in schema.get("anyOf", []):
                values += alt.get("enum", [])
            m = re.fullmatch(r"\^\(([\w|]+)\)\$", schema.get("pattern", ""))
            if m:
                values += m.group(1).split("|")
            return [v for v in values if v in FORMAT_MEDIA]
    return []


def _complete_operation(method: str, path: str, operation: dict) -> None:
    responses = operation.setdefault("responses", {})
    page = "pages" in (operation.get("tags") or ())
    formats = _formats(operation)
    for code, answer in responses.items():
        if not code.startswith("2") or code == "204":
            continue
        content = answer.setdefault("content", {})
        if formats:
            json_schema = content.get("application/json", {})
            answer["content"] = content = {FORMAT_MEDIA[f]: (json_schema if f == "json" else {}) for f in formats}
        if page:
            content.setdefault(HTML, {})
    problem = {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    if page:
        problem[HTML] = {}
    for status in sorted(problem_statuses(method, path, operation)):
        answer = responses.setdefault(str(status), {})
        if status == 422 or not answer.get("description"):  # FastAPI's 422 says "Validation Error"
            answer["description"] = _REASONS[status]
        answer["content"] = dict(problem)
    if path in PUBLIC_ROUTES and operation.get("security"):
        operation["security"] = [{}, *operation["security"]]  # anonymous callers too


def complete(schema: dict) -> dict:
    """Complete FastAPI's document in place (and return it)."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["Problem"] = PROBLEM_SCHEMA
    for name in ("HTTPValidationError", "ValidationError"):  # FastAPI's 422 shape, never sent
        components.pop(name, None)
    for path, item in schema.get("paths", {}).items():
        for method, operation in item.items():
            if method in {"get", "put", "post", "delete", "patch", "head", "options"}:
                _complete_operation(method, path, operation)
    return schema


def install(app: FastAPI) -> None:
    """Serve the completed document at ``/openapi.json`` (built once, on first use)."""
    generate = app.openapi

    def openapi() -> dict:
        if not getattr(app.state, "openapi_completed", False):
            complete(generate())
            app.state.openapi_completed = True
        return app.openapi_schema

    app.openapi = openapi
