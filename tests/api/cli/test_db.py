"""``gridmap db``: start migrates and says what it applied, migrate says what it did, psql passes its
arguments through; databases stamped with the old revision ids upgrade onto the linear line.

The CLI runs in a subprocess (``python -m api.cli``): ``db psql`` replaces its process with psql.
Results are checked against the database itself (``alembic_version``, ``pg_tables``, alembic's
comparison of the models with the migrated schema).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from geoalchemy2 import alembic_helpers
from sqlalchemy import text
from sqlalchemy.engine import make_url

import api
from api.db.engine import make_engine
from api.db.migrate import Upgrade, upgrade
from api.db.models import metadata

ROOT = Path(api.__file__).resolve().parent.parent
# the one line of revisions, in number order (tests/api/db/test_schema.py checks it is one line)
LINE = tuple(sorted(p.stem for p in (ROOT / "api" / "migrations" / "versions").glob("[0-9]*.py")))
HEAD = LINE[-1]


def gridmap(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if not k.startswith("GRIDMAP_")}
    full.update(PYTHONPATH=str(ROOT), **env)
    return subprocess.run([sys.executable, "-m", "api.cli", *args], capture_output=True, text=True,
                          env=full, cwd=cwd, timeout=300)


def versions(engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(text("SELECT version_num FROM alembic_version")).scalars())


def schema_diff(engine) -> list:
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"include_object": alembic_helpers.include_object,
                                                     "compare_type": False})
        return compare_metadata(ctx, metadata)


def test_embedded_start_migrates_and_psql_takes_arguments(tmp_path):
    home = Path(tempfile.mkdtemp(prefix="gridmap-cli-db-"))
    home.chmod(0o755)  # the postgres user (when we are root) must reach its cluster
    env = {"GRIDMAP_HOME": str(home)}
    try:
        r = gridmap("db", "start", cwd=tmp_path, **env)
        assert r.returncode == 0, r.stderr
        assert "embedded PostGIS running" in r.stdout
        assert f"schema migrated (empty) -> {HEAD}: applied {', '.join(LINE)} ({len(LINE)} revisions)" in r.stdout, r.stdout

        r = gridmap("db", "migrate", cwd=tmp_path, **env)
        assert r.returncode == 0, r.stderr
        assert r.stdout.strip() == f"schema up to date (revision {HEAD})"

        r = gridmap("db", "psql", "-tA", "-c",
                    "SELECT version_num || ':' || (SELECT count(*) FROM pg_tables WHERE tablename IN "
                    "('incidents', 'coverage_runs')) FROM alembic_version", cwd=tmp_path, **env)
        assert r.returncode == 0, r.stderr
        assert r.stdout.strip() == f"{HEAD}:2"

        r = gridmap("db", "url", cwd=tmp_path, **env)
        eng = make_engine(r.stdout.strip())
        try:
            assert versions(eng) == [HEAD] and schema_diff(eng) == []
        finally:
            eng.dispose()
    finally:
        gridmap("db", "stop", cwd=tmp_path, **env)
        from api.db.embedded import EmbeddedPostgres

        EmbeddedPostgres(home).destroy()
        shutil.rmtree(home, ignore_errors=True)


def test_psql_passes_options_through_to_an_external_database(pg_url, engine, tmp_path):
    r = gridmap("db", "psql", "-X", "-tA", "-c", "SELECT 40 + 2", "-c", "SELECT current_database()",
                cwd=tmp_path, GRIDMAP_DATABASE_URL=pg_url)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["42", make_url(pg_url).database]


@pytest.fixture
def scratch_db(superuser_engine):
    """An empty database in the session's cluster, dropped afterwards (the superuser's)."""
    engine = superuser_engine
    name = "gm_cli_db_scratch"
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        conn.execute(text(f"CREATE DATABASE {name}"))
    url = make_url(engine.url).set(database=name).render_as_string(hide_password=False)
    eng = make_engine(url)
    yield eng, url
    eng.dispose()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


def test_migrate_names_the_revisions_it_applied(scratch_db, tmp_path):
    eng, url = scratch_db
    assert upgrade(eng, "0002_coverage") == Upgrade(None, "0002_coverage", LINE[:2])
    r = gridmap("db", "migrate", cwd=tmp_path, GRIDMAP_DATABASE_URL=url)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == (f"schema migrated 0002_coverage -> {HEAD}: "
                                f"applied {', '.join(LINE[2:])} ({len(LINE) - 2} revisions)")
    assert versions(eng) == [HEAD]
    r = gridmap("db", "start", cwd=tmp_path, GRIDMAP_DATABASE_URL=url)
    assert r.returncode == 0, r.stderr
    assert "nothing to start" in r.stdout and f"schema up to date (revision {HEAD})" in r.stdout


def _stamp(eng, *ids: str) -> None:
    with eng.begin() as conn:
        conn.execute(text("DELETE FROM alembic_version"))
        for v in ids:
            conn.execute(text("INSERT INTO alembic_version VALUES (:v)"), {"v": v})


@pytest.mark.parametrize("migrated_to, drop, old_ids, applied", [
    ("0001_initial", None, ("0001",), LINE[1:]),
    # the two branch heads an older `upgrade heads` left behind
    ("0003_incidents", None, ("0002_coverage", "0003_incidents"), LINE[3:]),
    # 0003_incidents from before 0002_coverage existed (0003 was written first)
    ("0003_incidents", "coverage_runs", ("0003_incidents",), LINE[1:]),
    ("0004_quiet_versions", None, ("0004",), LINE[4:]),
], ids=["0001", "two-heads", "0003-alone", "0004"])
def test_a_database_stamped_with_old_ids_upgrades_onto_the_line(scratch_db, migrated_to, drop, old_ids, applied):
    eng, _ = scratch_db
    upgrade(eng, migrated_to)
    if drop:
        with eng.begin() as conn:
            conn.execute(text(f"DROP TABLE {drop}"))
    _stamp(eng, *old_ids)
    done = upgrade(eng)
    assert done.applied == applied and done.after == HEAD
    assert versions(eng) == [HEAD]
    assert schema_diff(eng) == []
    assert upgrade(eng) == Upgrade(HEAD, HEAD, ())


def test_owner_and_app_urls_must_name_one_database():
    from api.db.engine import ConnectionSettingsError, owner_url
    from api.settings import Settings

    app = "postgresql://gridmap_app:pw@db.local:5432/gridmap"
    same = Settings(database_url=app, owner_database_url="postgresql://gridmap_owner:pw@db.local:5432/gridmap",
                    _env_file=None)
    assert make_url(owner_url(same, start=False)).username == "gridmap_owner"
    one_role = Settings(database_url=app, _env_file=None)  # one URL: that role owns and uses the schema
    assert owner_url(one_role, start=False) == "postgresql+psycopg2://gridmap_app:pw@db.local:5432/gridmap"
    other = Settings(database_url=app, owner_database_url="postgresql://gridmap_owner:pw@db.local:5432/elsewhere",
                     _env_file=None)
    with pytest.raises(ConnectionSettingsError, match="'elsewhere'.*'gridmap'"):
        owner_url(other, start=False)


def test_grants_prints_the_roles_set_up_and_refuses_a_name_that_is_not_plain():
    from typer.testing import CliRunner

    from api.cli import app

    r = CliRunner().invoke(app, ["db", "grants", "--role", "gm_web", "--owner", "gm_schema", "--database", "gis"])
    assert r.exit_code == 0, r.output
    assert "CREATE ROLE gm_web LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT" in r.output
    assert 'ALTER DATABASE "gis" OWNER TO gm_schema;' in r.output and "app text := 'gm_web';" in r.output
    # passwords only as psql variables the administrator sets, never a literal
    assert "PASSWORD :'owner_password'" in r.output and "PASSWORD :'app_password'" in r.output
    assert "PASSWORD '" not in r.output.upper()
    bad = CliRunner().invoke(app, ["db", "grants", "--role", "x; DROP TABLE grids"])
    assert bad.exit_code == 2 and "not a plain role name" in " ".join(bad.output.replace("│", " ").split())
