"""Security headers on every answer: ``nosniff`` always; on HTML pages a Content-Security-Policy
that loads only the app's own assets (plus the basemap tile server when ``GRIDMAP_TILE_URL`` is
set), forbids framing (``frame-ancestors 'none'``) and sends no referrer; no ``Server`` banner
beyond the name."""

from __future__ import annotations

from urllib.parse import urlsplit


def content_security_policy(tile_url: str | None) -> str:
    """The pages' CSP.  Inline script and style stay allowed: Folium writes its map as inline
    script; no other origin is (the pages work offline)."""
    tiles = ""
    if tile_url:
        parts = urlsplit(tile_url.replace("{s}", "a"))
        host = parts.netloc.replace("a.", "*.", 1) if "{s}" in tile_url else parts.netloc
        tiles = f" {parts.scheme}://{host}" if parts.scheme and host else ""
    return ("default-src 'self'; script-src 'self' 'unsafe-inline' 'unsafe-eval'; style-src 'self' 'unsafe-inline'; "
            f"img-src 'self' data: blob:{tiles}; font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; "
            "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'")


class SecurityHeaders:
    """Pure ASGI middleware adding the security headers to each response start."""

    def __init__(self, app, tile_url: str | None = None):
        self.app = app
        self.csp = content_security_policy(tile_url).encode()

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def with_headers(message):
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"server"]
                ctype = next((v for k, v in headers if k.lower() == b"content-type"), b"")
                headers.append((b"x-content-type-options", b"nosniff"))
                if ctype.startswith(b"text/html"):
                    headers += [(b"content-security-policy", self.csp), (b"x-frame-options", b"DENY"),
                                (b"referrer-policy", b"no-referrer")]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)
