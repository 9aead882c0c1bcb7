"""The schema made by the migrations: models agree with it, and its constraints hold."""

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from geoalchemy2 import alembic_helpers
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from api.db.migrate import pending
from api.db.models import metadata


def test_migrations_are_applied(engine):
    assert not pending(engine)


def test_models_match_migrated_schema(engine):
    with engine.connect() as conn:
        ctx = MigrationContext.configure(
            conn, opts={"include_object": alembic_helpers.include_object, "compare_type": False}
        )
        diff = compare_metadata(ctx, metadata)
    # Server defaults and CHECK constraints are not compared by alembic; tables, columns,
    # indexes and unique constraints are.
    assert diff == []


def test_postgis_available(engine):
    with engine.connect() as conn:
        assert conn.execute(text("SELECT postgis_lib_version()")).scalar().startswith("3.")


@pytest.mark.parametrize(
    "wkt, why",
    [
        ("MULTIPOLYGON(((0 0, 1 1, 1 0, 0 1, 0 0)))", "self-intersecting"),
        ("MULTIPOLYGON(((200 0, 201 0, 201 1, 200 0)))", "longitude out of range"),
    ],
)
def test_invalid_area_geometry_rejected(db, wkt, why):
    with pytest.raises(IntegrityError), db.begin() as conn:
        conn.execute(
            text("INSERT INTO areas (region_code, code, name, level, geom) "
                 "VALUES ('320281', 'x', 'x', 'town', ST_GeomFromText(:w, 4326))"),
            {"w": wkt},
        )


def test_grid_versions_cannot_overlap(db):
    sql = text(
        "INSERT INTO grids (region_code, code, name, community_code, valid_from, valid_to, geom) "
        "VALUES ('320281', 'G1', 'g', 'C1', :f, :t, "
        "ST_Multi(ST_GeomFromText('POLYGON((120 31, 120.01 31, 120.01 31.01, 120 31))', 4326)))"
    )
    with db.begin() as conn:
        conn.execute(sql, {"f": "2024-01-01", "t": "2025-01-01"})
        conn.execute(sql, {"f": "2025-01-01", "t": None})  # adjacent: fine
    with pytest.raises(IntegrityError), db.begin() as conn:
        conn.execute(sql, {"f": "2024-06-01", "t": "2024-07-01"})


def test_writes_bump_data_version(db):
    with db.begin() as conn:
        conn.execute(text(
            "INSERT INTO stations (region_code, source_id, name, kind, geom) "
            "VALUES ('320281', 's1', 'S', 'grid_station', ST_SetSRID(ST_MakePoint(120.3, 31.9), 4326))"))
        v1 = conn.execute(text("SELECT version FROM data_versions WHERE layer='stations'")).scalar()
        conn.execute(text("UPDATE stations SET name='T'"))
        v2 = conn.execute(text("SELECT version FROM data_versions WHERE layer='stations'")).scalar()
    assert v2 == v1 + 1
