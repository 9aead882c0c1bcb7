"""Who and what a connection's writes are recorded as in ``audit_log``.

The audit rows are written by the triggers of migration ``0007_auth`` in the same transaction as
the change; they read the session settings ``gridmap.actor`` and ``gridmap.request``.  This module
keeps the current values in a context variable (set per request by ``api.auth``, per command by
the CLI) and :func:`attach` makes every engine copy them onto each connection it checks out, so
no write path has to pass an actor down.  Outside any request or command the actor is ``system``.
"""

from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # sqlalchemy only when an engine is attached: the CLI sets the context before --help
    from sqlalchemy import Engine

__all__ = ["SYSTEM", "current", "set_context", "acting", "attach", "cli_context"]

SYSTEM = ("system", None)
_CONTEXT: ContextVar[tuple[str, str | None]] = ContextVar("gridmap_audit", default=SYSTEM)


def current() -> tuple[str, str | None]:
    """``(actor, request)`` that writes are recorded as now."""
    return _CONTEXT.get()


def set_context(actor: str, request: str | None) -> None:
    """Record the writes of this context (request, command) as ``actor`` doing ``request``."""
    _CONTEXT.set((actor, request))


@contextmanager
def acting(actor: str, request: str | None):
    token = _CONTEXT.set((actor, request))
    try:
        yield
    finally:
        _CONTEXT.reset(token)


def _on_checkout(dbapi_connection, record, proxy) -> None:
    want = current()
    if record.info.get("gridmap_audit") == want:
        return
    cur = dbapi_connection.cursor()
    try:
        cur.execute("SELECT set_config('gridmap.actor', %s, false), set_config('gridmap.request', %s, false)",
                    (want[0], want[1] or ""))
    finally:
        cur.close()
    if not dbapi_connection.autocommit:
        dbapi_connection.commit()  # a session setting; commit so that a rollback does not undo it
    record.info["gridmap_audit"] = want


def attach(engine: "Engine") -> "Engine":
    """Make ``engine``'s connections carry the current audit context (idempotent)."""
    from sqlalchemy import event

    if not event.contains(engine, "checkout", _on_checkout):
        event.listen(engine, "checkout", _on_checkout)
    return engine


def cli_context(*words: str | None) -> tuple[str, str]:
    """``(actor, request)`` of a ``gridmap`` command: the operating-system user, and the command's
    name (``gridmap`` + ``words``), never its arguments (a password could be among them)."""
    import getpass

    try:
        user = getpass.getuser()
    except Exception:  # no user name in this environment
        user = "unknown"
    return f"cli:{user}", " ".join(["gridmap", *(w for w in words if w)])
