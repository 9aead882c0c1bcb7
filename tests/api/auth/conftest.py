"""Fixtures of the access-control tests: two towns (module-scoped: loaded once a module), users of
every role on them, a client, and bearer headers per user."""

from __future__ import annotations

import pytest

from tests.support.db import truncate
from tests.support.towns import T1, T2, load_towns

PASSWORD = "correct horse 1"
GRID_A1 = f"{T1}001-01"
GRID_A2 = f"{T1}001-02"

#: name -> (role, areas)
USERS = {
    "root": ("admin", []),
    "plan1": ("planner", [T1]),
    "plan2": ("planner", [T2]),
    "off1": ("official", [T1]),
    "off2": ("official", [T2]),
    "worker1": ("grid_worker", [GRID_A1]),
    "ana1": ("analyst", [T1]),
    "feed1": ("integration", [T1]),
}


@pytest.fixture(scope="module")
def towns(engine):
    truncate(engine)
    yield load_towns(engine)
    truncate(engine)


@pytest.fixture(scope="module")
def users(engine, towns) -> dict[str, int]:
    from api.auth import accounts

    ids = {}
    with engine.begin() as conn:
        for name, (role, areas) in USERS.items():
            ids[name] = accounts.add_user(conn, name, PASSWORD, role, areas)
    return ids


@pytest.fixture(scope="module")
def api(engine, settings, users):
    from fastapi.testclient import TestClient

    from api.app import create_app

    with TestClient(create_app(settings)) as c:
        yield c


@pytest.fixture(scope="module")
def as_user(settings, users):
    """``as_user(name)``: headers that authenticate as that user (a signed token)."""
    from api.auth import tokens

    def headers(name: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {tokens.issue(settings, users[name])[0]}"}

    return headers
