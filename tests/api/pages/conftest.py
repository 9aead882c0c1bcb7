"""Fixtures of the page tests that load their data once a module.

A module defines a module-scoped ``sample`` (it empties the database and loads its data; its tests
only read, so none of them takes ``db``, which would empty it again); ``server`` and ``reader``
then serve that data for the whole module: one app on a port for Chromium (its coverage runs
computed once, then cached) and one in-process API client.
"""

from __future__ import annotations

import pytest

from tests.support.browser import live_server


@pytest.fixture(scope="module")
def server(settings, sample):
    """The app on a 127.0.0.1 port for the module's pages (the base URL)."""
    with live_server(settings) as url:
        yield url


@pytest.fixture(scope="module")
def reader(settings, sample):
    """An in-process API client on the module's data (the shared ``client`` empties the database)."""
    from fastapi.testclient import TestClient

    from api.app import create_app

    with TestClient(create_app(settings)) as c:
        yield c
