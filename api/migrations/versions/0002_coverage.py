"""Coverage runs: each computed 8-minute coverage with its parameters and the data versions it used.

A run is valid while the ``data_versions`` it names are still current; a write to stations,
streets, dwellings, grids or areas moves a version and so makes it stale.

Revision ID: 0002_coverage
Revises: 0001_initial
"""

from alembic import op

revision = "0002_coverage"
down_revision = "0001_initial"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
        CREATE TABLE coverage_runs (
            id bigserial PRIMARY KEY,
            params jsonb NOT NULL,
            params_hash varchar(64) NOT NULL,
            data_versions jsonb NOT NULL,
            summary jsonb NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX coverage_runs_hash_idx ON coverage_runs (params_hash, created_at);
    """)


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS coverage_runs")
