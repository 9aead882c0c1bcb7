"""A cheaper audit log write: the same rows, built with less work per row.

- ``gridmap_audit()`` (0007) builds each row's ``before``/``after`` JSON with ``to_jsonb`` of a
  row of the table's non-geometry, non-secret columns (a ``LATERAL`` select of them) instead of a
  ``jsonb_build_object`` call naming each column: the same JSON (jsonb keeps no key order), about
  10% less time for 36,696 dwellings.  Everything else is as 0007 wrote it: statement triggers over
  transition tables, ``SECURITY DEFINER``, one INSERT per operation, unchanged rows skipped.
- ``audit_log_at_idx`` becomes a BRIN index: ``at`` only grows (``now()`` of each writing
  transaction), the log is append-only and read by time ranges (``gridmap audit --since``), and a
  BRIN index costs next to nothing per inserted row where the B-tree added a leaf entry per row.

Revision ID: 0012_audit_speed
Revises: 0011_plan_jobs
"""

from alembic import op

revision = "0012_audit_speed"
down_revision = "0011_plan_jobs"
branch_labels = None
depends_on = None

FUNCTION = """
CREATE OR REPLACE FUNCTION gridmap_audit() RETURNS trigger LANGUAGE plpgsql
    SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    k text := TG_ARGV[0];
    who text := COALESCE(NULLIF(current_setting('gridmap.actor', true), ''), 'system');
    what text := NULLIF(current_setting('gridmap.request', true), '');
    has_geom boolean;
    cols_o text;
    cols_n text;
BEGIN
    -- the row without its geometry (copied as is into *_geom: turning it into GeoJSON text would
    -- cost about four times the rest of the row) and without secrets, as a LATERAL row whose
    -- to_jsonb is the JSON object of those columns
    SELECT string_agg(format('o.%I', attname), ', ' ORDER BY attnum),
           string_agg(format('n.%I', attname), ', ' ORDER BY attnum)
      INTO cols_o, cols_n
      FROM pg_attribute
     WHERE attrelid = TG_RELID AND attnum > 0 AND NOT attisdropped
       AND attname NOT IN ('geom', 'password_hash', 'token_hash');
    has_geom := EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = TG_RELID AND attname = 'geom'
                        AND NOT attisdropped);
    -- one statement per operation: a query naming a transition table this trigger lacks would not plan
    IF TG_OP = 'INSERT' THEN
        EXECUTE format($q$
            INSERT INTO audit_log (actor, request, operation, table_name, row_key, after, after_geom)
            SELECT $1, $2, 'insert', $3, n.%1$I::text, to_jsonb(xn), %3$s
            FROM gm_new_rows n CROSS JOIN LATERAL (SELECT %2$s) xn$q$, k, cols_n,
            CASE WHEN has_geom THEN 'n.geom' ELSE 'NULL::geometry' END)
        USING who, what, TG_TABLE_NAME;
    ELSIF TG_OP = 'DELETE' THEN
        EXECUTE format($q$
            INSERT INTO audit_log (actor, request, operation, table_name, row_key, before, before_geom)
            SELECT $1, $2, 'delete', $3, o.%1$I::text, to_jsonb(xo), %3$s
            FROM gm_old_rows o CROSS JOIN LATERAL (SELECT %2$s) xo$q$, k, cols_o,
            CASE WHEN has_geom THEN 'o.geom' ELSE 'NULL::geometry' END)
        USING who, what, TG_TABLE_NAME;
    ELSE  -- old and new rows paired on the typed key column (a hash join), unchanged rows skipped
        EXECUTE format($q$
            INSERT INTO audit_log (actor, request, operation, table_name, row_key, before, after,
                                   before_geom, after_geom)
            SELECT $1, $2, 'update', $3, n.%1$I::text, to_jsonb(xo), to_jsonb(xn), %4$s, %5$s
            FROM gm_old_rows o JOIN gm_new_rows n ON o.%1$I = n.%1$I
                 CROSS JOIN LATERAL (SELECT %2$s) xo CROSS JOIN LATERAL (SELECT %3$s) xn
            WHERE o IS DISTINCT FROM n$q$, k, cols_o, cols_n,
            CASE WHEN has_geom THEN 'o.geom' ELSE 'NULL::geometry' END,
            CASE WHEN has_geom THEN 'n.geom' ELSE 'NULL::geometry' END)
        USING who, what, TG_TABLE_NAME;
    END IF;
    RETURN NULL;
END $$;
"""

#: 0007's function, restored by the downgrade.
FUNCTION_0007 = """
CREATE OR REPLACE FUNCTION gridmap_audit() RETURNS trigger LANGUAGE plpgsql
    SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    k text := TG_ARGV[0];
    who text := COALESCE(NULLIF(current_setting('gridmap.actor', true), ''), 'system');
    what text := NULLIF(current_setting('gridmap.request', true), '');
    has_geom boolean;
    obj_o text;
    obj_n text;
BEGIN
    SELECT string_agg(format('%L, o.%I', attname, attname), ', ' ORDER BY attnum),
           string_agg(format('%L, n.%I', attname, attname), ', ' ORDER BY attnum)
      INTO obj_o, obj_n
      FROM pg_attribute
     WHERE attrelid = TG_RELID AND attnum > 0 AND NOT attisdropped
       AND attname NOT IN ('geom', 'password_hash', 'token_hash');
    has_geom := EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = TG_RELID AND attname = 'geom'
                        AND NOT attisdropped);
    IF TG_OP = 'INSERT' THEN
        EXECUTE format($q$
            INSERT INTO audit_log (actor, request, operation, table_name, row_key, after, after_geom)
            SELECT $1, $2, 'insert', $3, n.%1$I::text, jsonb_build_object(%2$s), %3$s
            FROM gm_new_rows n$q$, k, obj_n, CASE WHEN has_geom THEN 'n.geom' ELSE 'NULL::geometry' END)
        USING who, what, TG_TABLE_NAME;
    ELSIF TG_OP = 'DELETE' THEN
        EXECUTE format($q$
            INSERT INTO audit_log (actor, request, operation, table_name, row_key, before, before_geom)
            SELECT $1, $2, 'delete', $3, o.%1$I::text, jsonb_build_object(%2$s), %3$s
            FROM gm_old_rows o$q$, k, obj_o, CASE WHEN has_geom THEN 'o.geom' ELSE 'NULL::geometry' END)
        USING who, what, TG_TABLE_NAME;
    ELSE
        EXECUTE format($q$
            INSERT INTO audit_log (actor, request, operation, table_name, row_key, before, after,
                                   before_geom, after_geom)
            SELECT $1, $2, 'update', $3, n.%1$I::text, jsonb_build_object(%2$s), jsonb_build_object(%3$s),
                   %4$s, %5$s
            FROM gm_old_rows o JOIN gm_new_rows n ON o.%1$I = n.%1$I
            WHERE o IS DISTINCT FROM n$q$, k, obj_o, obj_n,
            CASE WHEN has_geom THEN 'o.geom' ELSE 'NULL::geometry' END,
            CASE WHEN has_geom THEN 'n.geom' ELSE 'NULL::geometry' END)
        USING who, what, TG_TABLE_NAME;
    END IF;
    RETURN NULL;
END $$;
"""


def upgrade() -> None:
    op.execute(FUNCTION)
    op.execute("DROP INDEX IF EXISTS audit_log_at_idx")
    op.execute("CREATE INDEX audit_log_at_idx ON audit_log USING brin (at)")


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS audit_log_at_idx")
    op.execute("CREATE INDEX audit_log_at_idx ON audit_log (at)")
    op.execute(FUNCTION_0007)
