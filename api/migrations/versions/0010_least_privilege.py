"""Least privilege and audited plans.

- The application connects as a role that may not run DDL (:mod:`api.db.roles`); the one piece
  of DDL it needs at run time, a new county's partitions (``gridmap_region_partitions(code)``,
  0006), becomes ``SECURITY DEFINER``: it runs as its owner (the schema's owner, who runs this
  migration) with a fixed ``search_path`` (the catalogue, then ``public``, then the session's
  temporary schema last, so no object of the caller can stand in for the tables it names), and
  only the roles granted EXECUTE may call it (revoked from PUBLIC here, granted to the app role
  by :func:`api.db.roles.grants_sql`).  It validates its one argument (6 digits) before any DDL.
- The plan tables (0008) join the audit log (0007): the same three statement triggers
  ``<table>_audit_{insert,update,delete}`` on ``plans``, ``plan_units`` and ``plan_grids``, so
  creating, moving, locking, publishing and discarding a plan writes its audit rows (who, what,
  before and after) in the writing transaction.

Frozen: the audited tables are written out here.

Revision ID: 0010_least_privilege
Revises: 0009_ogc
"""

from alembic import op

revision = "0010_least_privilege"
down_revision = "0009_ogc"
branch_labels = None
depends_on = None

#: Plan tables and the column that keys their rows in ``audit_log.row_key``.
AUDITED = {"plans": "id", "plan_units": "id", "plan_grids": "id"}

PARTITIONS_FN = "gridmap_region_partitions(text)"


def upgrade() -> None:
    op.execute(f"ALTER FUNCTION {PARTITIONS_FN} SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp")
    op.execute(f"REVOKE ALL ON FUNCTION {PARTITIONS_FN} FROM PUBLIC")
    for t, key in AUDITED.items():
        op.execute(f"""
            CREATE TRIGGER {t}_audit_insert AFTER INSERT ON {t} REFERENCING NEW TABLE AS gm_new_rows
                FOR EACH STATEMENT EXECUTE FUNCTION gridmap_audit('{key}');
            CREATE TRIGGER {t}_audit_update AFTER UPDATE ON {t}
                REFERENCING OLD TABLE AS gm_old_rows NEW TABLE AS gm_new_rows
                FOR EACH STATEMENT EXECUTE FUNCTION gridmap_audit('{key}');
            CREATE TRIGGER {t}_audit_delete AFTER DELETE ON {t} REFERENCING OLD TABLE AS gm_old_rows
                FOR EACH STATEMENT EXECUTE FUNCTION gridmap_audit('{key}');
        """)


def downgrade() -> None:
    for t in AUDITED:
        op.execute(f"""
            DROP TRIGGER IF EXISTS {t}_audit_insert ON {t};
            DROP TRIGGER IF EXISTS {t}_audit_update ON {t};
            DROP TRIGGER IF EXISTS {t}_audit_delete ON {t};
        """)
    op.execute(f"GRANT EXECUTE ON FUNCTION {PARTITIONS_FN} TO PUBLIC")
    op.execute(f"ALTER FUNCTION {PARTITIONS_FN} SECURITY INVOKER RESET search_path")
