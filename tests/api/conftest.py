"""Fixtures of the API tests."""

from __future__ import annotations

import pytest

from tests.support.imports import REGION


@pytest.fixture
def cli(db, pg_url, monkeypatch):
    """``cli(*args)`` runs ``gridmap ARGS`` in-process (typer's CliRunner) on the emptied test database with
    ``GRIDMAP_REGION_CODE`` = ``tests.support.imports.REGION``; returns typer's ``Result``."""
    from tests.support.cli import session_env

    session_env(monkeypatch, pg_url)
    monkeypatch.setenv("GRIDMAP_REGION_CODE", REGION)
    from typer.testing import CliRunner

    from api.cli import app
    from api.settings import get_settings

    get_settings.cache_clear()
    runner = CliRunner()

    from api.db import audit

    who = audit.current()

    def run(*args):
        try:
            return runner.invoke(app, [str(a) for a in args])
        finally:
            audit.set_context(*who)  # the command's audit context is not left to later tests

    yield run
    get_settings.cache_clear()
