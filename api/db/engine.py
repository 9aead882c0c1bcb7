"""Which database gridmap talks to, as which role, and the SQLAlchemy engines for it.

The one place that knows which connection does what (:mod:`api.db.roles`):

- the **app** URL (:func:`resolve_url`, :func:`get_engine`): ``GRIDMAP_DATABASE_URL``, or the
  embedded cluster's least-privilege ``gridmap_app``; ``gridmap serve``, the CLI, the notebooks;
- the **owner** URL (:func:`owner_url`, :func:`get_owner_engine`): ``GRIDMAP_OWNER_DATABASE_URL``,
  or the embedded cluster's ``gridmap_owner``, or (an external database given one URL only) the
  app URL itself; the migrations (:func:`migrate`) and the admin commands that need DDL
  (``gridmap db backup|restore``, ``gridmap region drop``).

:func:`migrate` applies the migrations as the owner and then grants the app role what it needs.
"""

from __future__ import annotations

from functools import lru_cache

from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import make_url

from api.db.embedded import EmbeddedError, EmbeddedPostgres
from api.settings import Settings, get_settings


def embedded_for(settings: Settings) -> EmbeddedPostgres:
    return EmbeddedPostgres(settings.home, pg_bin=settings.pg_bin, port=settings.pg_port)


def _sqlalchemy_url(url: str) -> str:
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg2://" + url.split("://", 1)[1]
    return url


class ConnectionSettingsError(EmbeddedError):
    """GRIDMAP_DATABASE_URL and GRIDMAP_OWNER_DATABASE_URL do not fit together (the CLI says so
    as it says any other reason the database cannot be reached)."""


def _same_database(app: str, owner: str) -> None:
    a, o = make_url(app), make_url(owner)
    if (a.host, a.port, a.database) != (o.host, o.port, o.database):
        raise ConnectionSettingsError(
            f"GRIDMAP_OWNER_DATABASE_URL names database {o.database!r} on {o.host}:{o.port or 5432}, but "
            f"GRIDMAP_DATABASE_URL names {a.database!r} on {a.host}:{a.port or 5432}: both must be the same "
            "database (the owner's and the application's roles)")


def resolve_url(settings: Settings | None = None, start: bool = True) -> str:
    """The application's database URL: ``GRIDMAP_DATABASE_URL`` if set, else the embedded
    cluster's, as its least-privilege role.

    With ``start`` the embedded cluster is initialised and started on demand.
    """
    settings = settings or get_settings()
    if settings.database_url:
        return _sqlalchemy_url(settings.database_url)
    if settings.owner_database_url:
        raise ConnectionSettingsError("GRIDMAP_OWNER_DATABASE_URL is set but GRIDMAP_DATABASE_URL is not: "
                                      "set both for an external database, or neither for the embedded one")
    pg = embedded_for(settings)
    return pg.start() if start else pg.url()


def owner_url(settings: Settings | None = None, start: bool = True) -> str:
    """The URL of the same database as the schema's owner (migrations, admin commands)."""
    settings = settings or get_settings()
    app = resolve_url(settings, start=start)
    if settings.owner_database_url:
        owner = _sqlalchemy_url(settings.owner_database_url)
        _same_database(app, owner)
        return owner
    if settings.database_url:
        return app  # an external database given one role: it owns and uses the schema
    return embedded_for(settings).owner_url()


def app_role(settings: Settings | None = None) -> str | None:
    """The application's role when it differs from the owner's (then :func:`migrate` grants it),
    else None.  Starts nothing."""
    settings = settings or get_settings()
    app = make_url(resolve_url(settings, start=False)).username
    owner = make_url(owner_url(settings, start=False)).username
    return app if app and app != owner else None


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
    """The process-wide engine of the application's role for the configured database (started
    on demand), with the settings' statement and pool timeouts."""
    settings = settings or get_settings()
    return _engine_for(resolve_url(settings), settings.statement_timeout_s, settings.pool_timeout_s)


def get_owner_engine(settings: Settings | None = None) -> Engine:
    """The process-wide engine of the schema's owner (migrations, admin commands); no statement
    timeout (a migration or a county's drop may take long)."""
    settings = settings or get_settings()
    return _engine_for(owner_url(settings), None, settings.pool_timeout_s)


def migrate(settings: Settings | None = None, revision: str = "head"):
    """Bring the schema to ``revision`` as the owner, then grant the application's role what it
    needs (:func:`api.db.roles.grants_sql`), in the same transaction.  Returns the
    :class:`api.db.migrate.Upgrade`."""
    from api.db.migrate import upgrade

    settings = settings or get_settings()
    return upgrade(get_owner_engine(settings), revision, grant_to=app_role(settings))
