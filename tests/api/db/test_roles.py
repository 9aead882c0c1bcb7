"""Least privilege (issue 16): the application's role can read and write gridmap's data and make a
new county's partitions, and nothing else; the migrations run as the schema's owner; a data
directory made before the roles (the app connecting as the superuser) upgrades in place.

The session's ``engine`` is the application's role (tests/conftest.py), so the whole suite runs on
these grants; here the refusals are checked, each against PostgreSQL's own catalogue.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, ProgrammingError

from api.db.embedded import EmbeddedPostgres
from api.db.engine import get_engine, get_owner_engine, make_engine, migrate
from api.db.roles import APP_ROLE, OWNER_ROLE, grants_sql
from api.imports import import_frame
from api.settings import Settings
from geo.sample import make_regions
from tests.support.db import SESSION

LAYERS = ("areas", "grids", "streets", "stations", "dwellings", "incidents")
PARTITIONED = ("grids", "dwellings", "streets", "incidents", "incident_events")


@pytest.fixture(scope="module", autouse=True)
def split(pg_url):
    if SESSION.get("owner") in (None, pg_url):
        pytest.skip("GRIDMAP_TEST_DATABASE_URL is one role: the role split is the embedded cluster's")


def refused(engine, sql: str) -> str:
    """The error PostgreSQL answers ``sql`` with, run as ``engine``'s role (rolled back)."""
    with engine.connect() as conn:
        with pytest.raises(DBAPIError) as exc:
            with conn.begin():
                conn.execute(text(sql))
    return str(exc.value.orig).splitlines()[0]


def one(engine, sql: str, **p):
    with engine.connect() as conn:
        return conn.execute(text(sql), p).scalar_one()


def test_the_app_role_has_no_special_attribute_and_no_membership(engine):
    with engine.connect() as conn:
        me = conn.execute(text("SELECT rolname, rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls "
                               "FROM pg_roles WHERE rolname = current_user")).one()
        member_of = conn.execute(text("SELECT g.rolname FROM pg_auth_members a JOIN pg_roles g ON g.oid = a.roleid "
                                      "WHERE a.member = (SELECT oid FROM pg_roles WHERE rolname = current_user)")
                                 ).scalars().all()
        for builtin in ("pg_read_server_files", "pg_write_server_files", "pg_execute_server_program",
                        "pg_read_all_data", "pg_write_all_data", OWNER_ROLE):
            assert conn.execute(text("SELECT pg_has_role(current_user, :r, 'MEMBER')"), {"r": builtin}).scalar_one() \
                is False, builtin
    assert tuple(me) == (APP_ROLE, False, False, False, False, False)
    assert member_of == []


@pytest.mark.parametrize("sql, why", [
    ("SELECT pg_read_file('/etc/hostname')", "permission denied for function pg_read_file"),
    ("COPY (SELECT 1) TO '/tmp/gridmap-app-role-probe'", "pg_write_server_files role to COPY to a file"),
    ("COPY stations FROM '/etc/hostname'", "pg_read_server_files role to COPY from a file"),
    ("COPY stations FROM PROGRAM 'true'", "pg_execute_server_program role to COPY to or from an external program"),
    ("CREATE TABLE public.probe (x int)", "permission denied for schema public"),
    ("CREATE TABLE regions.probe (x int)", "permission denied for schema regions"),
    ("CREATE SCHEMA probe", "permission denied for database"),
    ("SET ROLE gridmap_owner", 'permission denied to set role "gridmap_owner"'),
    ("SET ROLE gridmap", 'permission denied to set role "gridmap"'),
    ("ALTER TABLE stations ADD COLUMN probe int", "must be owner of table stations"),
    ("DROP TABLE plans", "must be owner of table plans"),
    ("TRUNCATE stations", "permission denied for table stations"),
    ("INSERT INTO audit_log (actor, operation, table_name) VALUES ('x', 'insert', 'x')",
     "permission denied for table audit_log"),
    ("DELETE FROM audit_log", "permission denied for table audit_log"),
    ("UPDATE alembic_version SET version_num = 'x'", "permission denied for table alembic_version"),
    ("SELECT count(*) FROM regions.dwellings_default", "permission denied for table dwellings_default"),
    ("ALTER FUNCTION gridmap_region_partitions(text) SECURITY INVOKER", "must be owner of function"),
    ("CREATE FUNCTION public.probe() RETURNS int LANGUAGE sql AS 'SELECT 1'", "permission denied for schema public"),
    ("SELECT gridmap_region_partitions('32x')", "is not a 6-digit county code"),
])
def test_the_app_role_is_refused(engine, sql, why):
    assert why in refused(engine, sql)


def test_the_app_imports_a_new_county_and_its_partitions_are_made_by_the_owner(db, owner_engine):
    code = "320299"
    layers = make_regions(1, 300, seed=9, incidents=5, first_code=code)
    with db.begin() as conn:  # the application's role, through the ordinary import path
        for layer in LAYERS:
            import_frame(conn, layer, layers[layer], Settings())
    with owner_engine.connect() as conn:
        owners = dict(conn.execute(text(
            "SELECT c.relname, pg_get_userbyid(c.relowner) FROM pg_class c JOIN pg_namespace n "
            "ON n.oid = c.relnamespace WHERE n.nspname = 'regions' AND c.relname LIKE :p"), {"p": f"%_r{code}"}).all())
        counts = {t: conn.execute(text(f"SELECT count(*) FROM regions.{t}_r{code}")).scalar_one() for t in PARTITIONED}
        defaults = {t: conn.execute(text(f"SELECT count(*) FROM regions.{t}_default")).scalar_one() for t in PARTITIONED}
    assert owners == {f"{t}_r{code}": OWNER_ROLE for t in PARTITIONED}
    assert counts["dwellings"] == len(layers["dwellings"]) and counts["incidents"] == len(layers["incidents"])
    assert set(defaults.values()) == {0}
    # and what the app made is audited as its writes (the partition maker's own DDL is no data)
    assert one(db, "SELECT count(*) FROM audit_log WHERE table_name = 'dwellings' AND operation = 'insert'") \
        == len(layers["dwellings"])


def test_the_migrations_ran_as_the_owner_and_the_partition_maker_is_the_owners_alone(engine):
    with engine.connect() as conn:
        foreign = conn.execute(text("""
            SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname IN ('public', 'regions') AND c.relkind IN ('r', 'p', 'v', 'S')
               AND pg_get_userbyid(c.relowner) <> :o
               AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype = 'e')"""),
                               {"o": OWNER_ROLE}).scalars().all()
        fn = conn.execute(text("""
            SELECT pg_get_userbyid(proowner) AS owner, prosecdef, proconfig,
                   has_function_privilege('public', oid, 'EXECUTE') AS public_may
              FROM pg_proc WHERE proname = 'gridmap_region_partitions'""")).one()
    assert foreign == []
    assert fn.owner == OWNER_ROLE and fn.prosecdef and fn.proconfig == ["search_path=pg_catalog, public, pg_temp"]
    assert fn.public_may is False


def test_the_printed_grants_are_enough_for_another_app_role_and_no_more(engine, owner_engine, superuser_engine):
    """``gridmap db grants --role NAME`` for an external database: its grants, given to a fresh role,
    let it read and write the data and make partitions, and refuse what the app role is refused."""
    role, other = "gm_probe_ext", "gm_probe_none"
    with superuser_engine.begin() as conn:
        for r in (role, other):  # left over by an interrupted run: gone first
            conn.execute(text(f"DO $$ BEGIN IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{r}') THEN "
                              f"DROP OWNED BY {r}; DROP ROLE {r}; END IF; END $$"))
            conn.execute(text(f"CREATE ROLE {r} NOLOGIN NOINHERIT"))
    try:
        raw = owner_engine.raw_connection()
        try:
            with raw.cursor() as cur:
                cur.execute(grants_sql(role))
            raw.commit()
        finally:
            raw.close()
        with superuser_engine.connect() as conn:
            tx = conn.begin()
            conn.execute(text(f"SET LOCAL ROLE {role}"))
            assert conn.execute(text("SELECT count(*) FROM stations")).scalar_one() >= 0
            conn.execute(text("UPDATE data_versions SET version = version WHERE false"))
            assert conn.execute(text("SELECT gridmap_region_partitions('320298')")).scalar_one() == 5
            for sql in ("INSERT INTO audit_log (actor, operation, table_name) VALUES ('x', 'insert', 'x')",
                        "CREATE TABLE public.probe (x int)", "TRUNCATE stations"):
                with pytest.raises(ProgrammingError, match="permission denied"):
                    with conn.begin_nested():
                        conn.execute(text(sql))
            conn.execute(text(f"SET LOCAL ROLE {other}"))  # granted nothing: may not make partitions
            with pytest.raises(ProgrammingError, match="permission denied for function gridmap_region_partitions"):
                with conn.begin_nested():
                    conn.execute(text("SELECT gridmap_region_partitions('320297')"))
            tx.rollback()
    finally:
        with superuser_engine.begin() as conn:
            for r in (role, other):
                conn.execute(text(f"DROP OWNED BY {r}"))
                conn.execute(text(f"DROP ROLE {r}"))


class _OldEmbedded(EmbeddedPostgres):
    """The embedded cluster as gridmap made it before the roles: the superuser for everything."""

    def _ensure_roles(self) -> None:
        pass

    def url(self) -> str:
        return self.superuser_url()


def test_an_old_data_directory_upgrades_in_place():
    from api.db.migrate import upgrade

    home = Path(tempfile.mkdtemp(prefix="gridmap-old-"))
    home.chmod(0o755)  # the postgres user (when we are root) must reach its cluster
    old = _OldEmbedded(home)
    try:
        su = make_engine(old.start())
        upgrade(su, "0008_plans")  # the schema as the superuser made it, and a row of data
        layers = make_regions(1, 300, seed=5, incidents=3, first_code="320281")
        with su.begin() as conn:
            for layer in LAYERS:
                import_frame(conn, layer, layers[layer], Settings())
        su.dispose()
        old.stop()

        settings = Settings(home=home, _env_file=None)  # the new code, on the same data directory
        done = migrate(settings)
        assert done.before == "0008_plans" and "0010_least_privilege" in done.applied
        pg = EmbeddedPostgres(home)
        assert {p.name for p in (home / "pg").glob("*password")} == {"password", "owner_password", "app_password"}
        assert {oct((home / "pg" / f).stat().st_mode & 0o777) for f in ("owner_password", "app_password")} == {"0o600"}
        app = make_engine(pg.url())
        try:
            assert one(app, "SELECT current_user") == APP_ROLE
            assert one(app, "SELECT count(*) FROM dwellings") == len(layers["dwellings"])
            assert "permission denied" in refused(app, "SELECT pg_read_file('/etc/hostname')")
            assert "permission denied" in refused(app, "CREATE TABLE public.probe (x int)")
            with app.begin() as conn:  # the app still writes and makes a new county's partitions
                more = make_regions(1, 300, seed=6, incidents=3, first_code="320282")
                for layer in LAYERS:
                    import_frame(conn, layer, more[layer], Settings())
            assert one(app, "SELECT count(*) FROM dwellings WHERE region_code = '320282'") == len(more["dwellings"])
            # every object the superuser made is the owner's now (the extensions' own stay the superuser's)
            assert one(app, "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                            "WHERE n.nspname IN ('public', 'regions') AND c.relkind IN ('r', 'p', 'v', 'S') "
                            "AND pg_get_userbyid(c.relowner) <> :o AND NOT EXISTS (SELECT 1 FROM pg_depend d "
                            "WHERE d.objid = c.oid AND d.deptype = 'e')", o=OWNER_ROLE) == 0
            assert one(app, "SELECT pg_get_userbyid(proowner) FROM pg_proc WHERE proname = 'gridmap_audit'") \
                == OWNER_ROLE
        finally:
            app.dispose()
    finally:
        for eng in (get_owner_engine, get_engine):  # the process-wide engines migrate() made
            try:
                eng(Settings(home=home, _env_file=None)).dispose()
            except Exception:  # noqa: BLE001 - the cluster never came up
                pass
        EmbeddedPostgres(home).destroy()
        shutil.rmtree(home, ignore_errors=True)
