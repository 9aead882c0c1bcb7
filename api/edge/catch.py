"""The last resort: an unexpected error is answered with the 500 problem inside the app.

Starlette's outermost error middleware answers an unhandled exception and then re-raises it, and
the server closes the connection after a re-raised exception: a client's next request on the same
keep-alive connection then fails too.  Answering here (and not re-raising) keeps the connection.
"""

from __future__ import annotations

import logging

from api.edge.respond import send_problem
from api.errors import INTERNAL_DETAIL

log = logging.getLogger("gridmap")


class CatchAll:
    """Pure ASGI middleware: log an unexpected exception and answer 500 problem+json."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = False

        async def watched_send(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, watched_send)
        except Exception:
            log.exception("unexpected error on %s %s", scope.get("method"), scope.get("path"))
            if started:  # half a response is out: only closing the connection tells the client
                raise
            await send_problem(send, scope, 500, "internal-error", "Internal error", INTERNAL_DETAIL)
