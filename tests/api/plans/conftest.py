"""Fixtures of the plan tests: a module defines its module-scoped ``world`` (it empties the database
and loads its data); ``api`` is then one in-process client of the app on that world for the module."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def api(settings, world):
    from fastapi.testclient import TestClient

    from api.app import create_app

    with TestClient(create_app(settings)) as c:
        yield c
