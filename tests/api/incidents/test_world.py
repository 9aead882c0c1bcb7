"""The tiny incident world of tests.support.incidents is what its docstring draws."""

from __future__ import annotations

from sqlalchemy import text

from tests.support.incidents import HOUSEHOLDS, make_world


def test_world_is_consistent(db):
    make_world(db)
    with db.connect() as conn:
        n = conn.execute(text("SELECT count(*) FROM grids WHERE valid_to IS NULL")).scalar()
        hh = conn.execute(text("SELECT sum(households) FROM dwellings")).scalar()
        overlap = conn.execute(text(
            "SELECT count(*) FROM grids a JOIN grids b ON a.id < b.id "
            "AND tstzrange(a.valid_from, a.valid_to) && tstzrange(b.valid_from, b.valid_to) "
            "AND ST_Area(ST_Intersection(a.geom, b.geom)) > 0")).scalar()
    assert n == 4 and hh == sum(HOUSEHOLDS.values()) and overlap == 0
