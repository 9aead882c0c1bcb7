"""The test database: the data tables and emptying them between tests."""

from __future__ import annotations

from sqlalchemy import text

DATA_TABLES = (
    "incident_events", "incidents", "dwellings", "stations", "streets", "grids", "areas",
    "idempotency_keys", "data_versions", "coverage_runs", "siting_jobs",
    "audit_log", "api_tokens", "users",  # 0007_auth
    "plan_grids", "plan_units", "plans",  # 0008_plans
    "plan_jobs",  # 0012_plan_jobs
)


def truncate(engine) -> None:
    with engine.begin() as conn:
        existing = set(conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname='public'")).scalars())
        tables = [t for t in DATA_TABLES if t in existing]
        conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
