"""Query parameters and paths the app can use as text.

Starlette decodes a query string leniently (bytes that are not UTF-8 become U+FFFD) and passes NUL
and other control characters through; PostgreSQL then refuses a NUL in a bound parameter and the
request crashed.  Every query parameter is checked here once, before any route: not UTF-8, or a
control character (C0 except tab/CR/LF, DEL, C1), is 422 naming ``query.<name>``.  A path with
a control character names nothing gridmap has: 404.
"""

from __future__ import annotations

import re
from urllib.parse import unquote_to_bytes

from api.edge.respond import send_problem
from api.errors import NotFound, ValidationFailed, status_of
from geo.errors import Problem

_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def query_problems(raw: bytes) -> list[Problem]:
    """The faults of a raw query string, one per bad parameter (``field`` ``query.<name>``)."""
    problems = []
    for part in raw.split(b"&"):
        if not part:
            continue
        name_b, _, value_b = part.partition(b"=")
        name = unquote_to_bytes(name_b.replace(b"+", b" ")).decode("utf-8", "replace")
        shown = _CONTROL.sub("?", name)[:64]
        for what, chunk in (("name", name_b), ("value", value_b)):
            data = unquote_to_bytes(chunk.replace(b"+", b" "))
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError as exc:
                problems.append(Problem(f"the {what} of query parameter {shown!r} is not UTF-8 "
                                        f"(byte {exc.start + 1} of the decoded {what})", field=f"query.{shown}"))
                break
            m = _CONTROL.search(text)
            if m:
                problems.append(Problem(f"the {what} of query parameter {shown!r} contains the control character "
                                        f"U+{ord(m.group()):04X} at character {m.start() + 1}",
                                        field=f"query.{shown}"))
                break
    return problems


class QueryGuard:
    """Pure ASGI middleware: 422 for unusable query parameters, 404 for a path with control characters."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        if _CONTROL.search(scope.get("path", "")):
            return await send_problem(send, {**scope, "path": _CONTROL.sub("?", scope["path"])},
                                      status_of(NotFound), NotFound.slug, NotFound.title,
                                      "No resource has a control character in its path.")
        problems = query_problems(scope.get("query_string") or b"")
        if problems:
            return await send_problem(send, scope, status_of(ValidationFailed), ValidationFailed.slug,
                                      ValidationFailed.title, "A query parameter cannot be read as text.", problems)
        return await self.app(scope, receive, send)
