"""Signed, expiring tokens (JWT, HS256, PyJWT) and long-lived API keys.

- A **token** (OAuth2 password flow ``POST /token``, and the page session cookie) is a JWT signed
  with the secret :func:`secret` returns, carrying ``sub`` (the user's id), ``iat``, ``exp`` and
  ``typ`` (``access`` or ``session``).  It is never stored; a user's ``tokens_valid_after`` (moved
  by a password change or a disable) ends those issued before.
- An **API key** (``gridmap token create``) is ``gm_`` + 32 random bytes in URL-safe base64; only
  its SHA-256 is stored (the key is high-entropy, so a fast hash suffices) with a short prefix to
  recognise it in listings.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

import jwt

from api.settings import Settings

__all__ = ["KEY_PREFIX", "Claims", "secret", "issue", "decode", "new_api_key", "key_hash", "is_api_key"]

ALGORITHM = "HS256"
KEY_PREFIX = "gm_"
SECRET_FILE = "auth_secret"


def secret(settings: Settings) -> str:
    """The signing secret: ``GRIDMAP_AUTH_SECRET``, else the one stored in ``<home>/auth_secret``
    (generated on first use, readable by its owner only)."""
    if settings.auth_secret:
        return settings.auth_secret
    path = Path(settings.home) / SECRET_FILE
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48)
    try:  # O_EXCL: two processes starting together keep the first one's secret
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as fh:
        fh.write(value + "\n")
    return value


@dataclass(frozen=True)
class Claims:
    user_id: int
    issued_at: int
    expires_at: int
    kind: str


def issue(settings: Settings, user_id: int, kind: str = "access", minutes: float | None = None) -> tuple[str, int]:
    """A signed token for ``user_id`` and its lifetime in seconds (``GRIDMAP_TOKEN_MINUTES``)."""
    life_s = int(60 * (minutes if minutes is not None else settings.token_minutes))
    now = int(time.time())
    token = jwt.encode({"sub": str(user_id), "iat": now, "exp": now + life_s, "typ": kind},
                       secret(settings), algorithm=ALGORITHM)
    return token, life_s


def decode(settings: Settings, token: str, kind: str | None = None) -> Claims | None:
    """The claims of a valid, unexpired token (of ``kind`` when given); None otherwise."""
    try:
        c = jwt.decode(token, secret(settings), algorithms=[ALGORITHM],
                       options={"require": ["sub", "iat", "exp"]})
        out = Claims(int(c["sub"]), int(c["iat"]), int(c["exp"]), str(c.get("typ", "access")))
    except (jwt.PyJWTError, ValueError, TypeError):
        return None
    if kind is not None and out.kind != kind:
        return None
    return out


def new_api_key() -> str:
    """A fresh API key (shown once; store :func:`key_hash` of it)."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def is_api_key(value: str) -> bool:
    return value.startswith(KEY_PREFIX)
