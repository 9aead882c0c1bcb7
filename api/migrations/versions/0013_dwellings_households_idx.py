"""An index on dwellings' households: the OGC API's ``filter=households>100`` (issue 17) and its
``numberMatched`` read a few hundred rows through it instead of scanning every dwelling twice (on
the 500,000-household city each scan took 30-60 ms of the request's ~120 ms).  Made on the
partitioned parent, so every region's partition has it, and those made later get it too.

Revision ID: 0013_dwellings_households_idx
Revises: 0012_audit_speed
"""

from alembic import op

revision = "0013_dwellings_households_idx"
down_revision = "0012_audit_speed"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE INDEX dwellings_households_idx ON dwellings (households)")


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS dwellings_households_idx")
