"""Quiet data versions (migration 0004): re-importing unchanged data moves no ``data_versions`` entry;
a changed row moves only its own layer's version; statements that change no row bump nothing
(real PostGIS, the CLI through typer's CliRunner)."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
import pytest
import shapely
from alembic.script import ScriptDirectory
from sqlalchemy import text

from api.db.migrate import alembic_config

from tests.support.imports import REGION, areas_file, dwellings_csv, grids_file, grids_frame


def versions(engine) -> dict:
    with engine.connect() as conn:
        return {r.layer: (r.version, r.changed_at)
                for r in conn.execute(text("SELECT layer, version, changed_at FROM data_versions"))}


def grid_rows(engine) -> list:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(
            "SELECT id, code, valid_from, valid_to, updated_at FROM grids ORDER BY id"))]


def files(tmp_path) -> dict:
    """One file per layer: areas, grids, dwellings (CSV), stations (XLSX), streets (GeoJSON)."""
    dw, _ = dwellings_csv(tmp_path)
    pd.DataFrame({"名称": ["中心", "一站"], "类型": ["service_centre", "grid_station"], "source_id": ["S1", "S2"],
                  "经度": [120.01, 120.07], "纬度": [31.01, 31.02]}).to_excel(tmp_path / "s.xlsx", index=False)
    gpd.GeoDataFrame({"source_id": ["r1", "r2"], "road_class": ["primary", "footway"]},
                     geometry=[shapely.LineString([(120.0, 31.05), (120.1, 31.05)]),
                               shapely.LineString([(120.02, 31.0), (120.02, 31.1)])], crs=4326
                     ).to_file(tmp_path / "streets.geojson")
    return {
        "areas": [areas_file(tmp_path)],
        "grids": [grids_file(tmp_path), "--layer", "网格"],
        "dwellings": [dw, "--map", "source_id=编号"],
        "stations": [tmp_path / "s.xlsx"],
        "streets": [tmp_path / "streets.geojson"],
    }


def import_all(cli, fs: dict) -> None:
    for layer, args in fs.items():
        r = cli("import", layer, *args)
        assert r.exit_code == 0, r.output


def test_reimporting_the_same_files_moves_no_version(cli, db, tmp_path):
    fs = files(tmp_path)
    fresh = versions(db)
    import_all(cli, fs)
    before, grids_before = versions(db), grid_rows(db)
    assert all(before[k][0] > fresh.get(k, (0,))[0] for k in fs)  # the first import moved every layer
    import_all(cli, fs)
    assert versions(db) == before  # version AND changed_at
    assert grid_rows(db) == grids_before  # no new grid version, nothing touched


def test_reimporting_incidents_moves_no_version(cli, db, tmp_path):
    import_all(cli, {k: v for k, v in files(tmp_path).items() if k in ("areas", "grids")})
    (tmp_path / "inc.csv").write_text(
        "external_id,category,reported_at,经度,纬度\n"
        "12345-1,parking,2025-03-01 09:30,120.01,31.01\n")
    assert cli("import", "incidents", tmp_path / "inc.csv").exit_code == 0
    before = versions(db)
    r = cli("import", "incidents", tmp_path / "inc.csv")
    assert r.exit_code == 0 and "1 duplicate" in r.output
    assert versions(db) == before


def test_a_changed_row_moves_only_its_layer(cli, db, tmp_path):
    fs = files(tmp_path)
    import_all(cli, fs)
    before = versions(db)
    path = fs["dwellings"][0]
    df = pd.read_csv(path)
    df.loc[3, "户数"] = int(df.loc[3, "户数"]) + 7
    df.to_csv(path, index=False)
    import_all(cli, fs)
    after = versions(db)
    assert after["dwellings"][0] > before["dwellings"][0]
    assert {k: v for k, v in after.items() if k != "dwellings"} == {k: v for k, v in before.items() if k != "dwellings"}
    # a grid attribute change moves grids (in place: still no new grid version), nothing else
    grids_before = grid_rows(db)
    frame = grids_frame()
    frame.loc[frame["code"] == "G2", "chief"] = "李四"
    r = cli("import", "grids", grids_file(tmp_path, frame, "g2.gpkg"), "--layer", "网格")
    assert r.exit_code == 0, r.output
    again = versions(db)
    assert again["grids"][0] > after["grids"][0]
    assert {k: v for k, v in again.items() if k != "grids"} == {k: v for k, v in after.items() if k != "grids"}
    rows = grid_rows(db)
    assert [r_[:4] for r_ in rows] == [r_[:4] for r_ in grids_before]  # same versions, same validity
    changed = [a[1] for a, b in zip(rows, grids_before) if a[4] != b[4]]
    assert changed == ["G2"]


def test_statements_that_change_no_row_bump_nothing(db, owner_engine):
    insert = text("INSERT INTO stations (region_code, source_id, name, kind, geom) VALUES "
                  "(:r, :s, 'S', 'grid_station', ST_SetSRID(ST_MakePoint(120.3, 31.9), 4326)) "
                  "ON CONFLICT (region_code, source_id) DO NOTHING")
    with db.begin() as conn:
        conn.execute(insert, {"r": REGION, "s": "s1"})
    others = {k: v for k, v in versions(db).items() if k != "stations"}
    v0 = versions(db)["stations"][0]
    steps = [  # (statement, does it change a row?)
        (insert, False),  # conflict: nothing inserted
        (text("UPDATE stations SET name = 'T' WHERE source_id = 'nope'"), False),
        (text("DELETE FROM stations WHERE source_id = 'nope'"), False),
        (text("UPDATE stations SET name = 'T'"), True),
        (insert.bindparams(r=REGION, s="s2"), True),
        (text("DELETE FROM stations WHERE source_id = 's2'"), True),
        (text("TRUNCATE stations"), True),
    ]
    expect = v0
    for stmt, changes in steps:
        # TRUNCATE is the schema owner's (the application's role may not: it skips row triggers)
        with (owner_engine if "TRUNCATE" in str(stmt) else db).begin() as conn:
            conn.execute(stmt, {"r": REGION, "s": "s1"} if stmt is insert else {})
        expect += int(changes)
        assert versions(db)["stations"][0] == expect, str(stmt)
    assert {k: v for k, v in versions(db).items() if k != "stations"} == others


def test_0004_follows_0003_and_replaces_the_statement_triggers(engine):
    script = ScriptDirectory.from_config(alembic_config())
    assert script.get_revision("0004_quiet_versions").down_revision == "0003_incidents"
    heads = set(script.get_heads())
    assert not heads & {"0002_coverage", "0003_incidents", "0001_initial"}
    with engine.connect() as conn:
        trig = set(conn.execute(text(
            "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal AND tgname LIKE '%bump_version%'")).scalars())
    for t in ("areas", "grids", "dwellings", "stations", "streets", "incidents"):
        assert f"{t}_bump_version" not in trig
        assert {f"{t}_bump_version_{e}" for e in ("insert", "update", "delete", "truncate")} <= trig


@pytest.fixture
def scratch_db(superuser_engine):
    """A second, empty database in the session's cluster (for migrating down and up again), the
    superuser's."""
    from sqlalchemy.engine import make_url

    from api.db.engine import make_engine

    engine = superuser_engine
    name = "gm_migrate_roundtrip"
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {name}"))
        conn.execute(text(f"CREATE DATABASE {name}"))
    url = make_url(engine.url).set(database=name)
    eng = make_engine(url.render_as_string(hide_password=False))
    yield eng
    eng.dispose()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


def test_0004_downgrades_to_the_noisy_trigger_and_back(scratch_db):
    from api.db.migrate import current, upgrade

    def bumps(sql: str) -> int:
        with scratch_db.begin() as conn:
            before = conn.execute(text("SELECT coalesce(max(version), 0) FROM data_versions "
                                       "WHERE layer = 'areas'")).scalar_one()
            conn.execute(text(sql))
            return conn.execute(text("SELECT coalesce(max(version), 0) FROM data_versions "
                                     "WHERE layer = 'areas'")).scalar_one() - before

    noop = "UPDATE areas SET name = name WHERE false"
    upgrade(scratch_db, "0004_quiet_versions")
    assert bumps(noop) == 0
    upgrade(scratch_db, "0004_quiet_versions")  # idempotent at the head
    cfg = alembic_config()
    from alembic import command

    with scratch_db.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0003_incidents")  # back to 0001's statement trigger
    assert current(scratch_db) == {"0003_incidents"}
    assert bumps(noop) == 1
    upgrade(scratch_db, "0004_quiet_versions")
    assert bumps(noop) == 0
