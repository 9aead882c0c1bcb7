"""gridmap's database roles: an owner that owns the schema and runs the migrations, and a
least-privilege application role that reads and writes the data and nothing else.

- **owner** (``gridmap_owner`` in the embedded cluster): owns the database, the ``public`` and
  ``regions`` objects gridmap makes, runs the Alembic migrations and the admin commands that need
  DDL (``gridmap db backup|restore``, ``gridmap region drop``).  Not a superuser.
- **app** (``gridmap_app``): what ``gridmap serve``, the CLI and the notebooks connect as.
  NOSUPERUSER, NOCREATEDB, NOCREATEROLE, member of no role (so no ``SET ROLE`` to the owner, no
  ``pg_read_server_files`` and the like), CONNECT and TEMPORARY on the database, and only
  :func:`grants_sql`: DML on gridmap's tables (SELECT only on ``audit_log`` and
  ``alembic_version``, SELECT on views), USAGE on its sequences, EXECUTE on its functions.  The one
  piece of DDL the application needs at run time, a new county's partitions, goes through
  ``gridmap_region_partitions(code)``, a ``SECURITY DEFINER`` function owned by the owner with a
  fixed ``search_path`` (migration ``0010_least_privilege``), which only the app may execute.

:func:`grants_sql` runs as the owner after every migration (:func:`api.db.migrate.upgrade` with
``grant_to``), so tables a later revision adds are granted too; ``gridmap db grants --role NAME``
prints it (with :func:`external_setup_sql`) for an external database.  :func:`embedded_roles_sql`
is what the embedded cluster's superuser runs at every start (:mod:`api.db.embedded`): it creates
the two roles, and hands the objects an older gridmap made as the superuser to the owner, so an
existing data directory upgrades in place.

Pure strings: this module imports nothing heavy.
"""

from __future__ import annotations

import re

__all__ = ["OWNER_ROLE", "APP_ROLE", "READ_ONLY_TABLES", "SCHEMAS", "grants_sql", "embedded_roles_sql",
           "external_setup_sql", "check_role_name"]

OWNER_ROLE = "gridmap_owner"
APP_ROLE = "gridmap_app"
#: Tables the application reads but never writes: the audit log is written by the owner's
#: SECURITY DEFINER trigger (0007), the Alembic version by the migrations.
READ_ONLY_TABLES = ("audit_log", "alembic_version")
#: Schemas that hold gridmap's objects (``regions``: county partitions, 0006; ``ogc``: views).
SCHEMAS = ("public", "regions", "ogc")

_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def check_role_name(name: str) -> str:
    """``name`` if it is a plain PostgreSQL role name (lower case, digits, ``_``), else ValueError."""
    if not _NAME.match(name or ""):
        raise ValueError(f"{name!r} is not a plain role name (lower-case letters, digits and _, at most 63)")
    return name


def _lit(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def grants_sql(app_role: str) -> str:
    """SQL the owner runs to give ``app_role`` exactly what the application needs on the objects
    the owner owns (idempotent; revokes what a table must not allow)."""
    app = _lit(check_role_name(app_role))
    schemas = "ARRAY[" + ", ".join(_lit(s) for s in SCHEMAS) + "]"
    read_only = "ARRAY[" + ", ".join(_lit(t) for t in READ_ONLY_TABLES) + "]"
    return f"""
DO $grants$
DECLARE
    app text := {app};
    me oid := (SELECT oid FROM pg_roles WHERE rolname = current_user);
    r record;
BEGIN
    -- nothing to do (the common case: every start migrates): every object readable, every function
    -- callable, the read-only tables not writable
    IF has_database_privilege(app, current_database(), 'CONNECT, TEMPORARY')
       AND NOT EXISTS (
           SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = ANY({schemas}) AND n.nspname <> 'regions' AND c.relowner = me
              AND NOT c.relispartition AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
              AND NOT CASE WHEN c.relkind = 'S' THEN has_sequence_privilege(app, c.oid, 'USAGE')
                           ELSE has_table_privilege(app, c.oid, 'SELECT') END
              AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                              AND d.objid = c.oid AND d.deptype = 'e'))
       AND NOT EXISTS (
           SELECT 1 FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
            WHERE n.nspname = ANY({schemas}) AND p.proowner = me
              AND NOT has_function_privilege(app, p.oid, 'EXECUTE'))
       AND NOT EXISTS (
           SELECT 1 FROM unnest({read_only}) t
            WHERE to_regclass('public.' || t) IS NOT NULL
              AND has_table_privilege(app, to_regclass('public.' || t), 'INSERT, UPDATE, DELETE, TRUNCATE'))
    THEN
        RETURN;
    END IF;
    EXECUTE format('GRANT CONNECT, TEMPORARY ON DATABASE %I TO %I', current_database(), app);
    FOR r IN SELECT nspname FROM pg_namespace WHERE nspname = ANY({schemas}) AND nspowner = me
                UNION SELECT 'public' LOOP
        EXECUTE format('GRANT USAGE ON SCHEMA %I TO %I', r.nspname, app);
        EXECUTE format('REVOKE CREATE ON SCHEMA %I FROM %I', r.nspname, app);
    END LOOP;
    -- tables, views and sequences of gridmap's schemas the owner owns; the county partitions
    -- (schema regions) are reached only through their parents, so the app gets none on them
    FOR r IN SELECT c.oid::regclass AS obj, c.relname, c.relkind, n.nspname
               FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE n.nspname = ANY({schemas}) AND c.relowner = me AND NOT c.relispartition
                AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
                AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                                AND d.objid = c.oid AND d.deptype = 'e') LOOP
        IF r.nspname = 'regions' THEN
            EXECUTE format('REVOKE ALL ON %s FROM %I', r.obj, app);
        ELSIF r.relkind = 'S' THEN
            EXECUTE format('GRANT USAGE, SELECT ON SEQUENCE %s TO %I', r.obj, app);
            EXECUTE format('REVOKE UPDATE ON SEQUENCE %s FROM %I', r.obj, app);
        ELSIF r.relkind IN ('v', 'm') OR (r.nspname = 'public' AND r.relname = ANY({read_only})) THEN
            EXECUTE format('GRANT SELECT ON %s TO %I', r.obj, app);
            EXECUTE format('REVOKE INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON %s FROM %I', r.obj, app);
        ELSE
            EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %s TO %I', r.obj, app);
            EXECUTE format('REVOKE TRUNCATE, REFERENCES, TRIGGER ON %s FROM %I', r.obj, app);
        END IF;
    END LOOP;
    -- gridmap's own functions (not PostGIS's): EXECUTE for the app; the partition maker for the app only
    FOR r IN SELECT p.oid::regprocedure AS fn, p.proname
               FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
              WHERE n.nspname = ANY({schemas}) AND p.proowner = me
                AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass
                                AND d.objid = p.oid AND d.deptype = 'e') LOOP
        IF r.proname = 'gridmap_region_partitions' THEN
            EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', r.fn);
        END IF;
        EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO %I', r.fn, app);
    END LOOP;
END $grants$;
"""


def embedded_roles_sql(database: str, owner_password: str, app_password: str,
                       owner_role: str = OWNER_ROLE, app_role: str = APP_ROLE) -> str:
    """SQL the embedded cluster's superuser runs in ``database`` at every start (idempotent):
    the owner and app roles (LOGIN with the given passwords, no special attributes), the
    database and gridmap's objects made by the superuser (an older gridmap) given to the owner,
    the database closed to PUBLIC.  Pass it on stdin, never on a command line: it holds the passwords."""
    owner, app = _lit(check_role_name(owner_role)), _lit(check_role_name(app_role))
    schemas = "ARRAY[" + ", ".join(_lit(s) for s in SCHEMAS) + "]"
    return f"""
DO $roles$
DECLARE
    owner text := {owner};
    app text := {app};
    su oid := (SELECT oid FROM pg_roles WHERE rolname = current_user);
    r record;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = owner) THEN
        EXECUTE format('CREATE ROLE %I LOGIN', owner);
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = app) THEN
        EXECUTE format('CREATE ROLE %I LOGIN', app);
    END IF;
    EXECUTE format('ALTER ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS '
                   'INHERIT PASSWORD %L', owner, {_lit(owner_password)});
    EXECUTE format('ALTER ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS '
                   'NOINHERIT PASSWORD %L', app, {_lit(app_password)});
    -- neither role is a member of any other (no SET ROLE, no pg_read_server_files & co.)
    FOR r IN SELECT g.rolname AS grp, m.rolname AS member FROM pg_auth_members a
               JOIN pg_roles g ON g.oid = a.roleid JOIN pg_roles m ON m.oid = a.member
              WHERE m.rolname IN (owner, app) LOOP
        EXECUTE format('REVOKE %I FROM %I', r.grp, r.member);
    END LOOP;
    EXECUTE format('ALTER DATABASE %I OWNER TO %I', current_database(), owner);
    EXECUTE format('REVOKE ALL ON DATABASE %I FROM PUBLIC', current_database());
    EXECUTE format('GRANT CONNECT, TEMPORARY ON DATABASE %I TO %I', current_database(), app);
    -- what an older gridmap made as the superuser goes to the owner (extensions' objects stay)
    FOR r IN SELECT nspname FROM pg_namespace WHERE nspname = ANY({schemas}) AND nspname <> 'public'
                AND nspowner = su LOOP
        EXECUTE format('ALTER SCHEMA %I OWNER TO %I', r.nspname, owner);
    END LOOP;
    FOR r IN SELECT c.oid::regclass AS obj, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE n.nspname = ANY({schemas}) AND c.relowner = su AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
                AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                                AND d.objid = c.oid AND d.deptype = 'e')
                -- a sequence owned by a column changes owner with its table
                AND NOT (c.relkind = 'S' AND EXISTS (SELECT 1 FROM pg_depend d
                         WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                           AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')))
              ORDER BY c.relkind = 'S' LOOP
        EXECUTE format('ALTER %s %s OWNER TO %I',
                       CASE r.relkind WHEN 'S' THEN 'SEQUENCE' WHEN 'v' THEN 'VIEW'
                                      WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'f' THEN 'FOREIGN TABLE'
                                      ELSE 'TABLE' END, r.obj, owner);
    END LOOP;
    FOR r IN SELECT p.oid::regprocedure AS fn, p.prokind FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
              WHERE n.nspname = ANY({schemas}) AND p.proowner = su
                AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass
                                AND d.objid = p.oid AND d.deptype = 'e') LOOP
        EXECUTE format('ALTER %s %s OWNER TO %I', CASE r.prokind WHEN 'p' THEN 'PROCEDURE' ELSE 'FUNCTION' END,
                       r.fn, owner);
    END LOOP;
    FOR r IN SELECT t.oid::regtype AS typ FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
              WHERE n.nspname = ANY({schemas}) AND t.typowner = su AND t.typtype IN ('e', 'd')
                AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_type'::regclass
                                AND d.objid = t.oid AND d.deptype = 'e') LOOP
        EXECUTE format('ALTER TYPE %s OWNER TO %I', r.typ, owner);
    END LOOP;
END $roles$;
"""


def external_setup_sql(database: str, owner_role: str, app_role: str) -> str:
    """What a database administrator runs once (as a superuser) on an external PostGIS before
    gridmap's first migration: the two roles (passwords to be set by the administrator), the
    extensions gridmap needs, the database given to the owner and closed to PUBLIC."""
    owner, app = check_role_name(owner_role), check_role_name(app_role)
    return f"""-- once, as a superuser, connected to the database {database!s}:
CREATE ROLE {owner} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'owner_password';
CREATE ROLE {app} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT PASSWORD :'app_password';
CREATE EXTENSION IF NOT EXISTS postgis;
CREATE EXTENSION IF NOT EXISTS btree_gist;
ALTER DATABASE "{database}" OWNER TO {owner};
ALTER SCHEMA public OWNER TO {owner};
REVOKE ALL ON DATABASE "{database}" FROM PUBLIC;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE "{database}" TO {app};
"""
