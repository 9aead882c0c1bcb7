"""The schema made by the migrations: models agree with it, and its constraints hold."""

from pathlib import Path

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


def test_revisions_form_one_linear_line():
    import re

    from alembic.script import ScriptDirectory

    from api.db.migrate import alembic_config

    script = ScriptDirectory.from_config(alembic_config())
    files = sorted(p.stem for p in (Path(script.dir) / "versions").glob("[0-9]*.py"))
    assert script.get_heads() == [files[-1]]  # one head: the highest-numbered file
    line = [r for r in script.walk_revisions("base", "heads")][::-1]
    assert [r.revision for r in line] == files  # every file on the one line, in number order
    assert files[:4] == ["0001_initial", "0002_coverage", "0003_incidents", "0004_quiet_versions"]
    for i, rev in enumerate(line):
        assert re.fullmatch(r"\d{4}_[a-z_]+", rev.revision) and rev.revision.startswith(f"{i + 1:04d}_")
        assert rev.down_revision == (line[i - 1].revision if i else None)  # a single parent: no merges
        assert Path(rev.path).stem == rev.revision


def test_migrations_import_no_live_constants():
    import ast

    from api.db.migrate import MIGRATIONS

    for f in sorted((MIGRATIONS / "versions").glob("*.py")):
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [node.module] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
                assert all(n.split(".")[0] in {"alembic", "sqlalchemy", "geoalchemy2"} for n in names), (f.name, names)


@pytest.mark.parametrize("table, column, values", [
    ("areas", "level", "AREA_LEVELS"),
    ("incidents", "status", "INCIDENT_STATUSES"),
    ("incidents", "close_reason", "CLOSE_REASONS"),
    ("incidents", "escalation_level", "ESCALATION_LEVELS"),
])
def test_frozen_check_values_match_geo_layers(engine, table, column, values):
    """0001 froze these lists; a change in geo.layers needs a new migration."""
    import re

    import geo.layers

    with engine.connect() as conn:
        defs = conn.execute(text(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = CAST(:t AS regclass) "
            "AND contype = 'c'"), {"t": table}).scalars().all()
    mine = [d for d in defs if f"({column})::text" in d]
    assert len(mine) == 1, defs
    assert set(re.findall(r"'([^']*)'::", mine[0])) == set(getattr(geo.layers, values))
