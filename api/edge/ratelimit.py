"""Request rate limits on writes: a token bucket per client address, in the process.

Each client (its address as the server sees it) has ``burst`` tokens, refilled at ``rate_per_s``;
a write (POST, PUT, PATCH, DELETE) takes one; without one it is 429 problem+json with
``Retry-After``.  Reads are not limited.  ``rate_per_s = 0`` turns the limit off.  Per process:
with several workers each counts its own.
"""

from __future__ import annotations

import math
import threading
import time

from api.edge.respond import send_problem
from api.errors import TooManyRequests, status_of

WRITES = {"POST", "PUT", "PATCH", "DELETE"}


class TokenBuckets:
    """Token buckets by key: ``take(key)`` -> seconds to wait (0 when a token was taken)."""

    def __init__(self, rate_per_s: float, burst: int, max_keys: int = 10_000):
        self.rate, self.burst, self.max_keys = float(rate_per_s), max(1, int(burst)), max_keys
        self.buckets: dict[str, tuple[float, float]] = {}
        self.lock = threading.Lock()

    def take(self, key: str, now: float | None = None) -> float:
        now = time.monotonic() if now is None else now
        with self.lock:
            tokens, last = self.buckets.get(key, (float(self.burst), now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens >= 1:
                self.buckets[key] = (tokens - 1, now)
                wait = 0.0
            else:
                self.buckets[key] = (tokens, now)
                wait = (1 - tokens) / self.rate
            if len(self.buckets) > self.max_keys:  # forget the fullest (idlest) buckets
                for k in sorted(self.buckets, key=lambda k: -self.buckets[k][0])[: self.max_keys // 10]:
                    del self.buckets[k]
            return wait


class WriteRateLimit:
    """Pure ASGI middleware: 429 when a client writes faster than its bucket allows."""

    def __init__(self, app, rate_per_s: float, burst: int):
        self.app = app
        self.buckets = TokenBuckets(rate_per_s, burst) if rate_per_s > 0 else None

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or self.buckets is None or scope.get("method") not in WRITES:
            return await self.app(scope, receive, send)
        client = (scope.get("client") or ("?", 0))[0]
        wait = self.buckets.take(client)
        if wait > 0:
            return await send_problem(send, scope, status_of(TooManyRequests), TooManyRequests.slug,
                                      TooManyRequests.title,
                                      f"More writes than GRIDMAP_WRITE_RATE_PER_S allows from {client}; "
                                      f"retry in {math.ceil(wait)} s.", headers={"Retry-After": str(math.ceil(wait))})
        return await self.app(scope, receive, send)
