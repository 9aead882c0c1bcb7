"""Incident indexes for the statistics, list and heatmap queries.

The initial indexes lead with ``region_code``; statistics filter by a town, community or grid code
(or only by time) without knowing the region, so each gets an index of its own, with the time.

Revision ID: 0003_incidents
Revises: 0002_coverage
"""

from alembic import op

revision = "0003_incidents"
down_revision = "0002_coverage"
branch_labels = None
depends_on = None

INDEXES = {
    "incidents_town_time_idx": "(town_code, reported_at)",
    "incidents_community_time_idx": "(community_code, reported_at)",
    "incidents_grid_time_idx": "(grid_code, reported_at)",
    "incidents_time_idx": "(reported_at)",
}


def upgrade() -> None:
    for name, cols in INDEXES.items():
        op.execute(f"CREATE INDEX IF NOT EXISTS {name} ON incidents {cols}")


def downgrade() -> None:
    for name in INDEXES:
        op.execute(f"DROP INDEX IF EXISTS {name}")
