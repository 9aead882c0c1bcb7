"""Apply gridmap's Alembic migrations (``gridmap db migrate``, ``gridmap db start`` and every start).

The revisions form one line, ``0001_initial`` -> ``0002_coverage`` -> ``0003_incidents`` ->
``0004_quiet_versions``.  Databases made before that line carry older ids in ``alembic_version``
(``0001``, ``0004``, or the two branch heads ``0002_coverage`` + ``0003_incidents``);
:func:`upgrade` re-stamps them onto the line first (:data:`LEGACY_REVISIONS`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, text

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"

#: Old revision id -> its id on the linear line.  ``0002_coverage`` and ``0003_incidents`` kept
#: their ids, but were once two branches off ``0001``: see :func:`_restamp_legacy`.
LEGACY_REVISIONS = {"0001": "0001_initial", "0004": "0004_quiet_versions"}


@dataclass(frozen=True)
class Upgrade:
    """What :func:`upgrade` did.

    Attributes
    ----------
    before : str or None
        The revision the database was at (None: an empty database).
    after : str or None
        The revision it is at now.
    applied : tuple of str
        The revisions applied, oldest first (empty when it was up to date).
    """

    before: str | None
    after: str | None
    applied: tuple[str, ...]

    def __str__(self) -> str:
        if not self.applied:
            return f"schema up to date (revision {self.after})"
        n = len(self.applied)
        return (f"schema migrated {self.before or '(empty)'} -> {self.after}: "
                f"applied {', '.join(self.applied)} ({n} revision{'s' if n > 1 else ''})")


def alembic_config() -> Config:
    cfg = Config(str(MIGRATIONS / "alembic.ini"))
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def _version_rows(conn: Connection) -> set[str]:
    return set(MigrationContext.configure(conn).get_current_heads())


def _restamp_legacy(conn: Connection) -> None:
    """Rewrite a pre-linear ``alembic_version`` onto the linear revision line (no schema change)."""
    rows = _version_rows(conn)
    mapped = {LEGACY_REVISIONS.get(r, r) for r in rows}
    if len(mapped) > 1:
        # the two old heads 0002_coverage + 0003_incidents: both applied, so the later one
        mapped = {max(mapped)}
    elif mapped == {"0003_incidents"} and conn.execute(
            text("SELECT to_regclass('coverage_runs') IS NULL")).scalar_one():
        # 0003_incidents from before 0002_coverage existed: 0001 and 0003 applied; 0003 re-runs
        # harmlessly (CREATE INDEX IF NOT EXISTS) after 0002
        mapped = {"0001_initial"}
    if mapped != rows:
        conn.execute(text("DELETE FROM alembic_version"))
        conn.execute(text("INSERT INTO alembic_version (version_num) VALUES (:v)"), {"v": mapped.pop()})


def upgrade(engine: Engine, revision: str = "head", *, grant_to: str | None = None) -> Upgrade:
    """Bring the database schema to ``revision`` (the head by default), one transaction per revision.

    ``engine`` connects as the schema's owner.  With ``grant_to`` the application's role is then
    granted what it needs on every object (:func:`api.db.roles.grants_sql`), in the same
    transaction: :func:`api.db.engine.migrate` does both.

    Returns
    -------
    Upgrade
        The revision before and after, and the revisions applied.
    """
    cfg = alembic_config()
    script = ScriptDirectory.from_config(cfg)
    with engine.begin() as conn:
        conn.execute(text("SET LOCAL statement_timeout = 0"))  # a migration may rewrite big tables
        if conn.execute(text("SELECT to_regclass('alembic_version') IS NOT NULL")).scalar_one():
            _restamp_legacy(conn)
        before = next(iter(_version_rows(conn)), None)
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
        after = next(iter(_version_rows(conn)), None)
        if grant_to:
            from api.db.roles import grants_sql

            cur = conn.connection.driver_connection.cursor()  # no bind parameters: the SQL holds %I
            try:
                cur.execute(grants_sql(grant_to))
            finally:
                cur.close()
    applied = tuple(r.revision for r in reversed(list(script.iterate_revisions(after, before or "base")))) \
        if after != before else ()
    return Upgrade(before, after, applied)


def current(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        return _version_rows(conn)


def pending(engine: Engine) -> bool:
    heads = set(ScriptDirectory.from_config(alembic_config()).get_heads())
    return current(engine) != heads
