"""The test database: the data tables and emptying them between tests."""

from __future__ import annotations

from sqlalchemy import text

DATA_TABLES = (
    "incident_events", "incidents", "dwellings", "stations", "streets", "grids", "areas",
    "idempotency_keys", "data_versions", "coverage_runs", "siting_jobs",
    "audit_log", "api_tokens", "users",  # 0007_auth
    "plan_grids", "plan_units", "plans",  # 0008_plans
    "plan_jobs",  # 0011_plan_jobs
)


#: The session database's URLs (``app``, ``owner``, ``superuser``) and the owner's engine
#: (``owner_engine``), filled by the session fixtures of tests/conftest.py.
SESSION: dict = {}


def truncate(engine) -> None:
    """Empty the data tables of ``engine``'s database.  TRUNCATE is the schema owner's (the
    application's role may not: it would bypass the audit triggers), so on the session database
    it runs through the owner's engine."""
    owner = SESSION.get("owner_engine")
    if owner is not None and owner.url.database == engine.url.database and owner.url.port == engine.url.port:
        engine = owner
    with engine.begin() as conn:
        existing = set(conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname='public'")).scalars())
        tables = [t for t in DATA_TABLES if t in existing]
        conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))


def sql_rows(engine, sql: str, **params) -> list:
    """The rows of one SQL statement (bound ``params``), read in a connection of its own."""
    with engine.connect() as conn:
        return conn.execute(text(sql), params).all()
