"""Siting tests share one small sample district per module (loaded once: the tests only read it)."""

from __future__ import annotations

import pytest

from tests.support.db import truncate
from tests.support.sample import load_sample

HOUSEHOLDS, SEED = 3000, 2


@pytest.fixture(scope="module")
def world(engine):
    """The generated layers of a 3,000-household district, loaded into the emptied test database."""
    truncate(engine)
    return load_sample(engine, HOUSEHOLDS, seed=SEED)
