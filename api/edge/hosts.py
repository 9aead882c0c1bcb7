"""The ``Host`` header allow-list (DNS rebinding: a page on an attacker's name that resolves to
127.0.0.1 must not reach a loopback gridmap).

Allowed: the loopback names (``localhost``, ``127.0.0.1``, ``::1``; ``testserver``, the in-process
test client's name, which no DNS can hand out) and the names in ``GRIDMAP_ALLOWED_HOSTS``
(``*.example.org`` matches the subdomains).  Any other host is 421 Misdirected Request.
"""

from __future__ import annotations

from api.edge.respond import send_problem

LOOPBACK = ("localhost", "127.0.0.1", "::1", "testserver")


def host_name(raw: str) -> str:
    """``Host`` header value without the port, lower case (``[::1]:8000`` -> ``::1``)."""
    raw = raw.strip().lower()
    if raw.startswith("["):
        return raw[1:raw.find("]")] if "]" in raw else raw
    return raw.rsplit(":", 1)[0] if raw.count(":") == 1 else raw


class HostGuard:
    """Pure ASGI middleware: answer 421 to a request whose ``Host`` is not allowed."""

    def __init__(self, app, allowed: list[str] | tuple[str, ...] = ()):
        self.app = app
        names = [h.strip().lower() for h in (*LOOPBACK, *allowed) if h.strip()]
        self.exact = {n for n in names if not n.startswith("*.")}
        self.suffixes = tuple(n[1:] for n in names if n.startswith("*."))
        self.any = "*" in self.exact

    def allows(self, host: str) -> bool:
        name = host_name(host)
        return self.any or name in self.exact or (bool(self.suffixes) and name.endswith(self.suffixes))

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        host = dict(scope.get("headers") or []).get(b"host", b"").decode("latin-1")
        if not self.allows(host):
            return await send_problem(send, scope, 421, "misdirected-request", "Host not served here",
                                      f"This server does not answer for the host {host[:100]!r}; add it to "
                                      "GRIDMAP_ALLOWED_HOSTS if it is one of its names.")
        return await self.app(scope, receive, send)
