"""``GRIDMAP_MAX_UPLOAD_MB`` counted on the request body's bytes as they arrive.

A declared ``Content-Length`` over the limit is refused before the body is read.  A body without
one (``Transfer-Encoding: chunked``) or one that sends more than it declared is counted chunk by
chunk: the chunk that crosses the limit raises :class:`api.errors.PayloadTooLarge` in the route that
reads it, and whatever that route answers is replaced by the 413, so nothing is written (the
route's transaction is rolled back by the exception).
"""

from __future__ import annotations

from api.edge.respond import send_problem
from api.errors import PayloadTooLarge, status_of


class BodyLimit:
    """Pure ASGI middleware: refuse request bodies over ``limit_bytes`` (413 problem+json)."""

    def __init__(self, app, limit_bytes: int):
        self.app = app
        self.limit = int(limit_bytes)

    def _detail(self, size: str) -> str:
        return (f"The request body is {size}; the limit is {self.limit} bytes (GRIDMAP_MAX_UPLOAD_MB). "
                "Split the upload or ask the administrator to raise the limit.")

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope.get("headers") or []).get(b"content-length", b"").decode("latin-1")
        if length.isdigit() and int(length) > self.limit:
            return await send_problem(send, scope, status_of(PayloadTooLarge), PayloadTooLarge.slug,
                                      PayloadTooLarge.title, self._detail(f"{int(length)} bytes"),
                                      headers={"Connection": "close"})
        state = {"seen": 0, "over": False, "answered": False}

        async def counted_receive():
            message = await receive()
            if message["type"] == "http.request":
                state["seen"] += len(message.get("body", b""))
                if state["seen"] > self.limit:
                    state["over"] = True
                    raise PayloadTooLarge(self._detail(f"over {self.limit} bytes (counted as it arrived)"))
            return message

        async def guarded_send(message):
            if not state["over"]:
                return await send(message)
            if message["type"] == "http.response.start" and not state["answered"]:
                state["answered"] = True
                await send_problem(send, scope, status_of(PayloadTooLarge), PayloadTooLarge.slug,
                                   PayloadTooLarge.title, self._detail(f"over {self.limit} bytes"),
                                   headers={"Connection": "close"})

        try:
            await self.app(scope, counted_receive, guarded_send)
        except Exception:
            if not state["over"]:
                raise
            if not state["answered"]:
                state["answered"] = True
                await send_problem(send, scope, status_of(PayloadTooLarge), PayloadTooLarge.slug,
                                   PayloadTooLarge.title, self._detail(f"over {self.limit} bytes"),
                                   headers={"Connection": "close"})
