"""Idempotent writes: an ``Idempotency-Key`` header makes a retried request safe.

The first request with a key runs and its response (status + JSON body) is stored in
``idempotency_keys`` in the same transaction as the write.  A retry with the same key and the
same request gets the stored response back and writes nothing; the same key with a different
method, path or body is a 409.  Concurrent requests with one key are serialised by a
transaction-scoped advisory lock on the key, so exactly one of them writes.

Usage, inside the write's transaction::

    with engine.begin() as conn:
        replay = idempotency.begin(conn, key, "POST", "/stations", body)
        if replay:
            return replay.status_code, replay.body
        ... write ...
        idempotency.save(conn, key, "POST", "/stations", body, 201, response_body)
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Callable

from sqlalchemy import Connection, Engine, delete, func, select, text
from sqlalchemy.dialects.postgresql import insert

from api.db.models import idempotency_keys
from api.errors import Conflict, ValidationFailed

MAX_KEY_LENGTH = 255
#: Stored responses older than this may be purged (:func:`purge`); a retry after that runs again.
RETENTION = timedelta(hours=24)


@dataclass(frozen=True)
class Stored:
    """A response stored under a key."""

    status_code: int
    body: object


def request_hash(method: str, path: str, body: object) -> str:
    """SHA-256 of the method, path and the body's canonical JSON (key order and spacing ignored)."""
    canon = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(f"{method.upper()} {path}\n{canon}".encode()).hexdigest()


def _check_key(key: str) -> None:
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise ValidationFailed(f"Idempotency-Key must be 1-{MAX_KEY_LENGTH} printable characters.")


def begin(conn: Connection, key: str | None, method: str, path: str, body: object) -> Stored | None:
    """Lock ``key`` for this transaction and return its stored response, if any.

    Returns ``None`` (go ahead and write) when there is no key or it is new.

    Raises
    ------
    api.errors.Conflict
        The key was used for a different request (method, path or body).
    api.errors.ValidationFailed
        The key is empty, too long or has control characters.
    """
    if key is None:
        return None
    _check_key(key)
    conn.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 7))"), {"k": key})
    row = conn.execute(
        select(idempotency_keys.c.method, idempotency_keys.c.path, idempotency_keys.c.request_hash,
               idempotency_keys.c.status_code, idempotency_keys.c.response)
        .where(idempotency_keys.c.key == key)
    ).one_or_none()
    if row is None:
        return None
    if row.request_hash != request_hash(method, path, body):
        raise Conflict(
            f"Idempotency-Key {key!r} was already used for a different request ({row.method} {row.path}); "
            "use a new key for a new request.",
        )
    return Stored(int(row.status_code), row.response)


def save(conn: Connection, key: str | None, method: str, path: str, body: object,
         status_code: int, response: object) -> None:
    """Store the response of a successful write under ``key`` (no-op without a key)."""
    if key is None:
        return
    conn.execute(
        insert(idempotency_keys).values(
            key=key, method=method.upper()[:8], path=path, request_hash=request_hash(method, path, body),
            status_code=status_code, response=response,
        )
    )


def run_once(engine: Engine, key: str | None, method: str, path: str, body: object,
             write: Callable[[Connection], tuple[int, object]]) -> tuple[int, object, bool]:
    """Run ``write(conn)`` -> ``(status, response)`` in one transaction with ``key`` honoured:
    ``(status, response, replayed)``; a retry with the same key returns the stored response
    (``replayed`` True) and writes nothing.  Without a key it just runs the write."""
    with engine.begin() as conn:
        stored = begin(conn, key, method, path, body)
        if stored:
            return stored.status_code, stored.body, True
        status, response = write(conn)
        if status < 400:
            save(conn, key, method, path, body, status, response)
        return status, response, False


def purge(conn: Connection, older_than: timedelta = RETENTION) -> int:
    """Delete stored responses older than ``older_than``; how many went."""
    res = conn.execute(
        delete(idempotency_keys).where(idempotency_keys.c.created_at < func.now() - older_than)
    )
    return res.rowcount
