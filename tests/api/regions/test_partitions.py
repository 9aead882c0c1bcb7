"""Issue 18 §2: grids, dwellings, streets, incidents and incident_events are LIST partitions by
region_code, a county's partitions made when its first rows arrive; a one-county query touches one
partition; ``gridmap region list|drop``; migration 0007 moves existing rows into partitions."""

from __future__ import annotations

import json

import pytest
from alembic import command
from sqlalchemy import text

from api.db.migrate import alembic_config
from api.imports import import_frame
from api.settings import Settings
from geo.sample import make_regions
from tests.support.cli import run_cli

A, B = "320281", "320282"
PARTITIONED = ("grids", "dwellings", "streets", "incidents", "incident_events")
LAYERS = ("areas", "grids", "streets", "stations", "dwellings", "incidents")


@pytest.fixture(scope="module")
def two():
    return make_regions(2, [600, 900], seed=3, incidents=60, first_code=A)


def _load(engine, layers):
    with engine.begin() as conn:
        for code in sorted(set(layers["areas"]["region_code"])):
            for layer in LAYERS:
                f = layers[layer]
                import_frame(conn, layer, f[f["region_code"] == code].reset_index(drop=True), Settings())


def _counts(conn, relation):
    return conn.execute(text(f"SELECT region_code, count(*) FROM {relation} GROUP BY 1 ORDER BY 1")).all()


def _scanned(conn, sql):
    """The relations a query's plan reads (EXPLAIN, JSON)."""
    plan = conn.execute(text(f"EXPLAIN (FORMAT JSON) {sql}")).scalar_one()
    plan = plan if isinstance(plan, list) else json.loads(plan)
    found = []

    def walk(node):
        if "Relation Name" in node:
            found.append(node["Relation Name"])
        for child in node.get("Plans", []):
            walk(child)

    walk(plan[0]["Plan"])
    return found


def test_each_county_gets_its_partitions_and_one_county_reads_one(engine, owner_engine, db, two):
    _load(engine, two)  # the application's role; the partitions are read as the owner (the app has no right on them)
    with owner_engine.connect() as conn:
        for t in PARTITIONED:
            assert conn.execute(text(f"SELECT count(*) FROM regions.{t}_default")).scalar_one() == 0, t
            for code in (A, B):
                n_part = conn.execute(text(f"SELECT count(*) FROM regions.{t}_r{code}")).scalar_one()
                n_all = conn.execute(text(f"SELECT count(*) FROM {t} WHERE region_code = :c"), {"c": code}).scalar_one()
                assert n_part == n_all > 0, (t, code)
        for t in ("grids", "dwellings", "streets", "incidents"):
            expected = int((two[t]["region_code"] == A).sum())
            assert dict(_counts(conn, f"regions.{t}_r{A}")) == {A: expected}, t
        for t in PARTITIONED:
            assert _scanned(conn, f"SELECT count(*) FROM {t} WHERE region_code = '{A}'") == [f"{t}_r{A}"], t
        # every partition without a county filter (earlier tests of the session may have made more)
        every = set(conn.execute(text("SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                                      "WHERE i.inhparent = 'dwellings'::regclass")).scalars())
        assert {"dwellings_default", f"dwellings_r{A}", f"dwellings_r{B}"} <= every
        assert sorted(_scanned(conn, "SELECT count(*) FROM dwellings")) == sorted(every)
        # the statistics' own query of one county, through the incidents parent
        scanned = _scanned(conn, f"SELECT grid_code, count(*) FROM incidents WHERE region_code = '{A}' "
                                 "AND reported_at >= '2026-01-01' GROUP BY 1")
        assert set(scanned) == {f"incidents_r{A}"}


def test_a_row_of_a_county_without_partition_waits_in_default_then_moves(engine, owner_engine, db, two):
    _load(engine, two)

    def stored(relation):  # partitions are read as the owner
        with owner_engine.connect() as c:
            return c.execute(text(f"SELECT count(*) FROM {relation}")).scalar_one()

    with engine.begin() as conn:  # a write that bypasses the load path lands in the default partition
        conn.execute(text(f"INSERT INTO streets (region_code, source_id, road_class, geom) SELECT '320999', "
                          f"source_id, road_class, geom FROM streets WHERE region_code = '{A}' LIMIT 3"))
    assert stored("regions.streets_default") == 3
    with engine.begin() as conn:  # the application's role makes the partitions (SECURITY DEFINER, 0010)
        assert conn.execute(text("SELECT gridmap_region_partitions('320999')")).scalar_one() == 5
    assert stored("regions.streets_default") == 0
    assert stored("regions.streets_r320999") == 3
    with engine.begin() as conn:
        assert conn.execute(text("SELECT gridmap_region_partitions('320999')")).scalar_one() == 0


def test_grid_history_constraint_holds_in_each_partition(engine, db, two):
    _load(engine, two)
    with pytest.raises(Exception, match="no_overlapping_versions"), engine.begin() as conn:
        conn.execute(text(f"INSERT INTO grids (region_code, code, name, community_code, geom) SELECT region_code, "
                          f"code, name, community_code, geom FROM grids WHERE region_code = '{B}' LIMIT 1"))


def test_region_list_and_drop(engine, db, two, client, pg_url, monkeypatch):
    _load(engine, two)
    res = run_cli(pg_url, monkeypatch, ["region", "list"])
    assert res.exit_code == 0, res.output
    assert A in res.output and B in res.output
    res = run_cli(pg_url, monkeypatch, ["region", "drop", A])  # no --yes and no answer to the question
    assert res.exit_code == 1 and f"drop county {A}" in res.output
    with engine.connect() as conn:
        assert conn.execute(text(f"SELECT count(*) FROM dwellings WHERE region_code = '{A}'")).scalar_one() > 0
    before = client.get("/coverage", params={"region": B}).json()["totals"]
    res = run_cli(pg_url, monkeypatch, ["region", "drop", A, "--yes"])
    assert res.exit_code == 0, res.output
    with engine.connect() as conn:
        for t in (*PARTITIONED, "areas", "stations"):
            assert conn.execute(text(f"SELECT count(*) FROM {t} WHERE region_code = '{A}'")).scalar_one() == 0, t
        assert conn.execute(text(f"SELECT to_regclass('regions.dwellings_r{A}')")).scalar_one() is None
        assert conn.execute(text(f"SELECT count(*) FROM dwellings WHERE region_code = '{B}'")).scalar_one() > 0
    r = client.get("/coverage")  # the data versions moved: no cached run of both counties is served
    assert r.status_code == 200 and r.json()["totals"] == before
    res = run_cli(pg_url, monkeypatch, ["region", "drop", A, "--yes"])
    assert res.exit_code == 1


def test_migration_moves_existing_rows_into_partitions(engine, owner_engine, settings, db, two):
    from api.db.engine import migrate

    _load(engine, two)
    with engine.connect() as conn:
        before = {t: _counts(conn, t) for t in (*PARTITIONED, "areas", "stations")}
    cfg = alembic_config()
    with owner_engine.begin() as conn:  # migrations are the owner's
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0004_quiet_versions")
    try:
        with owner_engine.connect() as conn:
            assert conn.execute(text("SELECT relkind FROM pg_class WHERE oid = 'public.dwellings'::regclass")).scalar_one() == "r"
            assert {t: _counts(conn, t) for t in before} == before
    finally:
        migrate(settings, "heads")  # as the owner, the application's role granted the rebuilt tables again
    with owner_engine.connect() as conn:
        assert conn.execute(text("SELECT relkind FROM pg_class WHERE oid = 'public.dwellings'::regclass")).scalar_one() == "p"
        assert {t: _counts(conn, t) for t in before} == before
        for t in PARTITIONED:
            assert conn.execute(text(f"SELECT count(*) FROM regions.{t}_default")).scalar_one() == 0
            assert dict(_counts(conn, f"regions.{t}_r{B}")) == {B: dict(before[t])[B]}, t
        # writes still work after the round trip: ids continue from the same sequences
        n = conn.execute(text("SELECT max(id) FROM dwellings")).scalar_one()
    _load(engine, make_regions(1, 300, seed=9, incidents=5, first_code="320283"))
    with engine.connect() as conn:
        assert conn.execute(text("SELECT min(id) FROM dwellings WHERE region_code = '320283'")).scalar_one() > n


def test_county_networks_are_kept_across_grid_writes(engine, db, two):
    from api.coverage import CoverageParams, CoverageService
    from api.jurisdiction import EVERYWHERE

    _load(engine, two)
    svc = CoverageService(engine, warm_polygons=False)
    a = svc.run(EVERYWHERE, CoverageParams())
    assert a.regions == (A, B) and svc.stats["networks_built"] == 2  # one per county
    with engine.begin() as conn:
        conn.execute(text(f"UPDATE grids SET name = name || '*' WHERE region_code = '{A}'"))
    b = svc.run(EVERYWHERE, CoverageParams())
    assert b is not a and svc.stats["runs_computed"] == 2 and svc.stats["networks_built"] == 2
    assert b.totals == a.totals
