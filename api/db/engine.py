"""Which database gridmap talks to, and the SQLAlchemy engine for it."""

from __future__ import annotations

from functools import lru_cache

from sqlalchemy import Engine, create_engine

from api.db.embedded import EmbeddedPostgres
from api.settings import Settings, get_settings


def embedded_for(settings: Settings) -> EmbeddedPostgres:
    return EmbeddedPostgres(settings.home, pg_bin=settings.pg_bin, port=settings.pg_port)


def resolve_url(settings: Settings | None = None, start: bool = True) -> str:
    """The database URL: ``GRIDMAP_DATABASE_URL`` if set, else the embedded cluster's.

    With ``start`` the embedded cluster is initialised and started on demand.
    """
    settings = settings or get_settings()
    if settings.database_url:
        url = settings.database_url
        if url.startswith("postgresql://") or url.startswith("postgres://"):
            url = "postgresql+psycopg2://" + url.split("://", 1)[1]
        return url
    pg = embedded_for(settings)
    return pg.start() if start else pg.url()


def make_engine(url: str, *, connect_timeout_s: int = 2, pool_timeout_s: float = 10.0,
                statement_timeout_s: float | None = None) -> Engine:
    """An engine whose waits are bounded: connecting (libpq's ``connect_timeout``, at least 2 s),
    waiting for a pooled connection (``pool_timeout_s``) and, when given, every statement
    (``statement_timeout`` of each session, seconds).  A wait that runs out raises, and the API
    answers 503 (:mod:`api.errors`) instead of hanging."""
    options = f"-c statement_timeout={int(statement_timeout_s * 1000)}" if statement_timeout_s else None
    connect_args = {"connect_timeout": max(2, int(connect_timeout_s))}
    if options:
        connect_args["options"] = options
    from api.db.audit import attach  # writes carry who and what into audit_log (migration 0007)

    return attach(create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10, pool_timeout=pool_timeout_s,
                         connect_args=connect_args, future=True))


@lru_cache
def _engine_for(url: str, statement_timeout_s: float | None = None, pool_timeout_s: float = 10.0) -> Engine:
    return make_engine(url, statement_timeout_s=statement_timeout_s, pool_timeout_s=pool_timeout_s)


def get_engine(settings: Settings | None = None) -> Engine:
    """The process-wide engine for the configured database (started on demand), with the
    settings' statement and pool timeouts."""
    settings = settings or get_settings()
    return _engine_for(resolve_url(settings), settings.statement_timeout_s, settings.pool_timeout_s)
