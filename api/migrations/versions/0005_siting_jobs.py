"""Siting jobs: a long siting question (``POST /siting``) solved in the app's thread pool.

Each row is one question: its parameters, the caller's jurisdiction, the candidate points it was
given (GeoJSON, when a file), its status (``queued``, ``running``, ``done``, ``failed``), the answer
(the same JSON a quick ``POST /siting`` returns) or the problem it failed with, and its times.

Revision ID: 0005_siting_jobs
Revises: 0004_quiet_versions
"""

from alembic import op

revision = "0005_siting_jobs"
down_revision = "0004_quiet_versions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
        CREATE TABLE siting_jobs (
            id varchar(32) PRIMARY KEY,
            params jsonb NOT NULL,
            scope jsonb,
            points jsonb,
            status varchar(16) NOT NULL DEFAULT 'queued'
                CHECK (status IN ('queued', 'running', 'done', 'failed')),
            result jsonb,
            error jsonb,
            created_at timestamptz NOT NULL DEFAULT now(),
            started_at timestamptz,
            finished_at timestamptz
        );
        CREATE INDEX siting_jobs_created_idx ON siting_jobs (created_at);
    """)


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS siting_jobs")
