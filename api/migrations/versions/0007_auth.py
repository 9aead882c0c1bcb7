"""Access control and audit: users, API keys, and the audit log of every write.

- ``users``: a name, an argon2 password hash (NULL for an integration that only uses API keys), a
  role, the area codes of its jurisdiction (towns, communities or grids; ignored for admins), a
  disabled flag and ``tokens_valid_after`` (signed tokens issued before it are refused: a password
  change or a disable ends every session at once).
- ``api_tokens``: long-lived API keys, stored as SHA-256 of the key (the key itself is shown once),
  with a name, expiry and revocation.
- ``audit_log``: one row per changed row of the audited tables, with who (``actor``), what
  (``request``: method and path, or the CLI command), the table, the row's key and the row before
  and after as JSON (secrets removed; the ``geom`` column copied into ``before_geom``/``after_geom``), written by statement triggers with transition tables, so
  in the same transaction as the change: a write that fails leaves no audit row, and a statement
  that changes no row (an unchanged re-import) writes none.  Who and what come from two
  transaction settings, ``gridmap.actor`` and ``gridmap.request``, which the application sets on
  every connection it checks out (``api.db.audit``); a write without them is ``system``'s.  The
  trigger function is ``SECURITY DEFINER`` (it runs as the schema owner), so the application's
  database role needs no right to write ``audit_log`` itself: grant it SELECT only, and the log
  cannot be edited through the application.

The roles and audited tables are frozen here (never imported from live code).

Revision ID: 0007_auth
Revises: 0006_region_partitions
"""

from alembic import op

revision = "0007_auth"
down_revision = "0006_region_partitions"
branch_labels = None
depends_on = None

ROLES = ("admin", "planner", "official", "grid_worker", "analyst", "integration")

#: Audited tables and the column that keys their rows in ``audit_log.row_key``.
AUDITED = {
    "areas": "id", "grids": "id", "dwellings": "id", "stations": "id", "streets": "id",
    "incidents": "id", "incident_categories": "code", "users": "id", "api_tokens": "id",
}

TABLES = f"""
CREATE TABLE users (
    id bigserial PRIMARY KEY,
    name text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 64),
    password_hash text,
    role varchar(16) NOT NULL CHECK (role IN ({", ".join(f"'{r}'" for r in ROLES)})),
    areas text[] NOT NULL DEFAULT '{{}}',
    disabled boolean NOT NULL DEFAULT false,
    tokens_valid_after timestamptz NOT NULL DEFAULT '-infinity',
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE api_tokens (
    id bigserial PRIMARY KEY,
    user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name text NOT NULL,
    token_hash varchar(64) NOT NULL UNIQUE,
    prefix varchar(16) NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz,
    revoked_at timestamptz
);
CREATE INDEX api_tokens_user_idx ON api_tokens (user_id);
CREATE TABLE audit_log (
    id bigserial PRIMARY KEY,
    at timestamptz NOT NULL DEFAULT now(),
    actor text NOT NULL,
    request text,
    operation varchar(8) NOT NULL,
    table_name text NOT NULL,
    row_key text,
    before jsonb,
    after jsonb,
    before_geom geometry(Geometry, 4326),
    after_geom geometry(Geometry, 4326)
);
CREATE INDEX audit_log_at_idx ON audit_log (at);
CREATE INDEX audit_log_row_idx ON audit_log (table_name, row_key);
"""

FUNCTION = """
CREATE FUNCTION gridmap_audit() RETURNS trigger LANGUAGE plpgsql
    SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    k text := TG_ARGV[0];
    who text := COALESCE(NULLIF(current_setting('gridmap.actor', true), ''), 'system');
    what text := NULLIF(current_setting('gridmap.request', true), '');
    has_geom boolean;
    obj_o text;
    obj_n text;
BEGIN
    -- the row as JSON without its geometry (copied as is into *_geom: turning it into GeoJSON text
    -- would cost about four times the rest of the row) and without secrets
    SELECT string_agg(format('%L, o.%I', attname, attname), ', ' ORDER BY attnum),
           string_agg(format('%L, n.%I', attname, attname), ', ' ORDER BY attnum)
      INTO obj_o, obj_n
      FROM pg_attribute
     WHERE attrelid = TG_RELID AND attnum > 0 AND NOT attisdropped
       AND attname NOT IN ('geom', 'password_hash', 'token_hash');
    has_geom := EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = TG_RELID AND attname = 'geom'
                        AND NOT attisdropped);
    -- one statement per operation: a query naming a transition table this trigger lacks would not plan
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
    ELSE  -- old and new rows paired on the typed key column (a hash join), unchanged rows skipped
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
    op.execute(TABLES)
    op.execute(FUNCTION)
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
    op.execute("DROP FUNCTION IF EXISTS gridmap_audit()")
    op.execute("DROP TABLE IF EXISTS audit_log, api_tokens, users")
