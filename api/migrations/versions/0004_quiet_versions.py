"""Quiet data versions: a layer's version moves only when a statement changed at least one row.

0001's statement triggers bumped ``data_versions`` on every INSERT/UPDATE/DELETE statement, even
one that touched no row, so re-importing unchanged data (an upsert whose ``DO UPDATE ... WHERE
(cols) IS DISTINCT FROM (excluded cols)`` skips every row) invalidated every cached coverage run.
Here each versioned layer gets three statement triggers with transition tables (PostgreSQL allows
a transition table only on a single-event trigger): INSERT and UPDATE look at the new rows,
DELETE at the old ones, and the version moves only if there is at least one.  TRUNCATE (no
transition table) still always bumps, through 0001's ``gridmap_bump_version()``.

Revision ID: 0004_quiet_versions
Revises: 0003_incidents
"""

from alembic import op

revision = "0004_quiet_versions"
down_revision = "0003_incidents"
branch_labels = None
depends_on = None

#: The layers whose writes move ``data_versions`` (as in 0001).
VERSIONED = ("areas", "grids", "dwellings", "stations", "streets", "incidents")

FUNCTION = """
CREATE FUNCTION gridmap_bump_version_if_rows() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    changed boolean;
BEGIN
    -- transition tables: gm_new_rows on INSERT/UPDATE triggers, gm_old_rows on DELETE triggers;
    -- separate statements, since a query naming the other one would not plan
    IF TG_OP = 'DELETE' THEN
        changed := EXISTS (SELECT 1 FROM gm_old_rows);
    ELSE
        changed := EXISTS (SELECT 1 FROM gm_new_rows);
    END IF;
    IF changed THEN
        INSERT INTO data_versions (layer, version) VALUES (TG_TABLE_NAME, 1)
        ON CONFLICT (layer) DO UPDATE SET version = data_versions.version + 1, changed_at = now();
    END IF;
    RETURN NULL;
END $$;
"""


def upgrade() -> None:
    op.execute(FUNCTION)
    for t in VERSIONED:
        op.execute(f"""
            DROP TRIGGER IF EXISTS {t}_bump_version ON {t};
            CREATE TRIGGER {t}_bump_version_insert AFTER INSERT ON {t}
                REFERENCING NEW TABLE AS gm_new_rows
                FOR EACH STATEMENT EXECUTE FUNCTION gridmap_bump_version_if_rows();
            CREATE TRIGGER {t}_bump_version_update AFTER UPDATE ON {t}
                REFERENCING NEW TABLE AS gm_new_rows
                FOR EACH STATEMENT EXECUTE FUNCTION gridmap_bump_version_if_rows();
            CREATE TRIGGER {t}_bump_version_delete AFTER DELETE ON {t}
                REFERENCING OLD TABLE AS gm_old_rows
                FOR EACH STATEMENT EXECUTE FUNCTION gridmap_bump_version_if_rows();
            CREATE TRIGGER {t}_bump_version_truncate AFTER TRUNCATE ON {t}
                FOR EACH STATEMENT EXECUTE FUNCTION gridmap_bump_version();
        """)


def downgrade() -> None:
    for t in VERSIONED:
        op.execute(f"""
            DROP TRIGGER IF EXISTS {t}_bump_version_insert ON {t};
            DROP TRIGGER IF EXISTS {t}_bump_version_update ON {t};
            DROP TRIGGER IF EXISTS {t}_bump_version_delete ON {t};
            DROP TRIGGER IF EXISTS {t}_bump_version_truncate ON {t};
            CREATE TRIGGER {t}_bump_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {t}
                FOR EACH STATEMENT EXECUTE FUNCTION gridmap_bump_version();
        """)
    op.execute("DROP FUNCTION IF EXISTS gridmap_bump_version_if_rows()")
