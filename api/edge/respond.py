"""Sending a whole problem+json response from ASGI middleware (no route, no Request)."""

from __future__ import annotations

from api.errors import problem_response


async def send_problem(send, scope, status: int, slug: str, title: str, detail: str, problems=None,
                       headers: dict[str, str] | None = None) -> None:
    response = problem_response(status, slug, title, detail, scope.get("path", ""), problems)
    for k, v in (headers or {}).items():
        response.headers[k] = v
    await send({"type": "http.response.start", "status": response.status_code,
                "headers": response.raw_headers})
    await send({"type": "http.response.body", "body": response.body})
