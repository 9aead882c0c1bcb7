"""Test fixtures: one real, throwaway PostGIS for the whole session, migrations applied.

By default a private cluster is created under a temporary directory with the same machinery as
``gridmap db start`` and destroyed afterwards.  With ``GRIDMAP_TEST_DATABASE_URL`` set, the tests
run on that (external, disposable) PostGIS database instead.
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

from tests.support.db import truncate


@pytest.fixture(scope="session")
def pg_url(tmp_path_factory):
    external = os.environ.get("GRIDMAP_TEST_DATABASE_URL")
    if external:
        yield external
        return
    home = Path(tempfile.mkdtemp(prefix="gridmap-test-"))
    home.chmod(0o755)  # the postgres user (when we are root) must reach its cluster
    pg = EmbeddedPostgres(home)
    url = pg.start()
    try:
        yield url
    finally:
        pg.destroy()
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def settings(pg_url, tmp_path_factory) -> Settings:
    return Settings(home=tmp_path_factory.mktemp("home"), database_url=pg_url, _env_file=None)


@pytest.fixture(scope="session")
def engine(pg_url):
    eng = make_engine(pg_url if "+" in pg_url.split("://")[0] else pg_url.replace("postgresql://", "postgresql+psycopg2://", 1))
    upgrade(eng)
    yield eng
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
