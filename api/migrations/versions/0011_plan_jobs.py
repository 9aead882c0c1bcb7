"""Plan jobs: large redraws (``POST /plans`` for a town or the whole county) worked in the app's
thread pool by the shared job runner (:mod:`api.jobs`), like the siting jobs of 0005.

- ``plan_jobs``: the request's parameters (a :class:`api.plans.PlanSpec` as JSON), the caller's
  jurisdiction, status, the answer (the plans made) or the problem it failed with, timestamps.

Revision ID: 0011_plan_jobs
Revises: 0010_least_privilege
"""

from alembic import op

revision = "0011_plan_jobs"
down_revision = "0010_least_privilege"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
        CREATE TABLE plan_jobs (
            id varchar(32) PRIMARY KEY,
            params jsonb NOT NULL,
            scope jsonb,
            status varchar(16) NOT NULL DEFAULT 'queued'
                CHECK (status IN ('queued', 'running', 'done', 'failed')),
            result jsonb,
            error jsonb,
            created_at timestamptz NOT NULL DEFAULT now(),
            started_at timestamptz,
            finished_at timestamptz
        );
        CREATE INDEX plan_jobs_created_idx ON plan_jobs (created_at);
    """)


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS plan_jobs")
