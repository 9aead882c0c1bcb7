"""Test fixtures: one real, throwaway PostGIS for the whole session, migrations applied.

By default a private cluster is created under a temporary directory with the same machinery as
``gridmap db start`` and destroyed afterwards.  With ``GRIDMAP_TEST_DATABASE_URL`` set, the tests
run on that (external, disposable) PostGIS database instead.

The roles are split as in production (``api.db.roles``): ``pg_url`` and ``engine`` are the
least-privilege application role, so the whole suite proves its grants are enough; migrations run
as the owner (``owner_url``, ``owner_engine``), and emptying the tables too (TRUNCATE is the
owner's); ``superuser_url`` is for tests that make scratch databases.  An external test database
is one role for all three.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from api.db.embedded import EmbeddedPostgres
from api.db.engine import make_engine
from api.db.migrate import upgrade
from api.settings import Settings

from tests.support.db import SESSION, truncate


def _sa(url: str) -> str:
    return url if "+" in url.split("://")[0] else url.replace("postgresql://", "postgresql+psycopg2://", 1)


@pytest.fixture(scope="session")
def pg_url(tmp_path_factory):
    """The application role's URL of the session's database."""
    external = os.environ.get("GRIDMAP_TEST_DATABASE_URL")
    if external:
        SESSION.update(app=external, owner=external, superuser=external)
        yield external
        return
    home = Path(tempfile.mkdtemp(prefix="gridmap-test-"))
    home.chmod(0o755)  # the postgres user (when we are root) must reach its cluster
    pg = EmbeddedPostgres(home)
    url = pg.start()
    SESSION.update(app=url, owner=pg.owner_url(), superuser=pg.superuser_url())
    try:
        yield url
    finally:
        SESSION.clear()
        pg.destroy()
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def owner_url(pg_url) -> str:
    """The schema owner's URL of the session's database (migrations, admin commands)."""
    return SESSION["owner"]


@pytest.fixture(scope="session")
def superuser_url(pg_url) -> str:
    """The cluster's superuser (scratch databases)."""
    return SESSION["superuser"]


@pytest.fixture(scope="session")
def settings(pg_url, owner_url, tmp_path_factory) -> Settings:
    return Settings(home=tmp_path_factory.mktemp("home"), database_url=pg_url, owner_database_url=owner_url,
                    _env_file=None)


@pytest.fixture(scope="session")
def owner_engine(owner_url):
    eng = make_engine(_sa(owner_url))
    yield eng
    eng.dispose()


@pytest.fixture(scope="session")
def superuser_engine(superuser_url):
    eng = make_engine(_sa(superuser_url))
    yield eng
    eng.dispose()


@pytest.fixture(scope="session")
def engine(pg_url, owner_engine):
    """The application role's engine on the migrated session database."""
    from sqlalchemy.engine import make_url

    app = make_url(_sa(pg_url)).username
    upgrade(owner_engine, grant_to=app if app != owner_engine.url.username else None)
    SESSION["owner_engine"] = owner_engine
    eng = make_engine(_sa(pg_url))
    yield eng
    SESSION.pop("owner_engine", None)
    eng.dispose()


@pytest.fixture(scope="session")
def browser():
    """The session's headless Chromium (started at the first test that asks; each test opens its own
    context with :func:`tests.support.browser.open_page`)."""
    from tests.support.browser import chromium

    with chromium() as b:
        yield b


@pytest.fixture
def db(engine):
    """The session's database, emptied of data (schema and categories kept) before the test."""
    truncate(engine)
    return engine


@pytest.fixture
def client(db, settings):
    from fastapi.testclient import TestClient

    from api.app import create_app

    with TestClient(create_app(settings)) as c:
        yield c


@pytest.fixture(autouse=True, scope="module")
def _fresh_audit_context():
    """Every test module starts (before its own module fixtures, which may import data) with the
    audit actor a fresh process has ('system'): a CLI command run in-process (CliRunner) sets the
    actor for the process, as its own process would for itself."""
    from api.db import audit

    audit.set_context(*audit.SYSTEM)
    yield


def pytest_sessionfinish(session, exitstatus):
    """A process that has not exited 5 minutes after its session (a thread, server or child process
    left running by a test) prints every thread's stack and exits, instead of stalling CI: the
    per-test ``timeout`` (pyproject) covers the tests and their fixtures, this covers what is left."""
    import faulthandler

    if hasattr(session.config, "workerinput"):
        return  # an xdist worker waits for the controller after its last test: that is no hang
    faulthandler.dump_traceback_later(300, exit=True)
