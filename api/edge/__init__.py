"""The app's edge: pure ASGI middleware that guards every request before a route sees it.

The public surface (``from api.edge import ...``; :func:`api.app.create_app` installs them):

- :class:`BodyLimit` (:mod:`api.edge.body`): ``GRIDMAP_MAX_UPLOAD_MB`` enforced on the bytes as they
  arrive (Content-Length or chunked): 413 problem+json, the route's answer discarded;
- :class:`QueryGuard` (:mod:`api.edge.query`): query parameters that are not UTF-8 or carry control
  characters (NUL...) are 422 naming ``query.<name>``; a path with a NUL is 404;
- :class:`CatchAll` (:mod:`api.edge.catch`): an unexpected error becomes the 500 problem here,
  so the server does not drop the keep-alive connection after it;
- :class:`HostGuard` (:mod:`api.edge.hosts`): the ``Host`` allow-list (loopback + ``GRIDMAP_ALLOWED_HOSTS``), 421;
- :class:`SecurityHeaders` (:mod:`api.edge.headers`): nosniff, and CSP/frame-ancestors on HTML pages;
- :class:`WriteRateLimit` (:mod:`api.edge.ratelimit`): a token bucket per client on writes, 429.
"""

from api.edge.body import BodyLimit
from api.edge.catch import CatchAll
from api.edge.headers import SecurityHeaders, content_security_policy
from api.edge.hosts import HostGuard
from api.edge.query import QueryGuard
from api.edge.ratelimit import TokenBuckets, WriteRateLimit

__all__ = ["BodyLimit", "CatchAll", "QueryGuard", "HostGuard", "SecurityHeaders", "content_security_policy",
           "WriteRateLimit", "TokenBuckets"]
