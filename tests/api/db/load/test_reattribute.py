"""Grid writes re-attribute dwellings and incidents in their own transaction (real PostGIS).

Every expectation is a brute-force shapely point-in-polygon over the grid versions read back from
the database: dwellings follow the first current grid (by code) covering them; incidents follow
the first version (by code, id) covering them whose validity holds at ``reported_at``.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from shapely.geometry import mapping
from sqlalchemy import text

from api.imports import import_frame
from api.incidents.intake import ingest_frame
from api.settings import Settings

from tests.support.districts import BUDGET, REGION, district, load
from tests.support.imports import grids_file, grids_frame, load_base

T0 = datetime(2025, 12, 1, tzinfo=timezone.utc)
T1 = datetime(2026, 11, 1, tzinfo=timezone.utc)
BACK = datetime(2026, 6, 1, tzinfo=timezone.utc)  # the backdated change
LATER = datetime(2026, 7, 1, tzinfo=timezone.utc)


# -- brute force ------------------------------------------------------------------------------------
def versions(engine) -> pd.DataFrame:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT id, code, valid_from, valid_to, ST_AsBinary(geom) AS wkb FROM grids "
                                 "ORDER BY code, id")).all()
    far = pd.Timestamp.max.tz_localize("UTC")
    return pd.DataFrame({
        "id": [r.id for r in rows], "code": [r.code for r in rows],
        "lo": [pd.Timestamp(r.valid_from) if r.valid_from.year > 1 else pd.Timestamp.min.tz_localize("UTC")
               for r in rows],
        "hi": [pd.Timestamp(r.valid_to) if r.valid_to else far for r in rows],
        "current": [r.valid_to is None for r in rows],
        "geom": shapely.from_wkb([bytes(r.wkb) for r in rows])})


def expected_dwellings(engine) -> pd.Series:
    """Dwelling id -> code of the first current grid (by code) covering it, None outside all."""
    v = versions(engine)
    v = v[v["current"]]
    with engine.connect() as conn:
        d = gpd.read_postgis("SELECT id, geom FROM dwellings ORDER BY id", conn, geom_col="geom")
    out = np.full(len(d), None, dtype=object)
    for _, g in v.sort_values("code", ascending=False).iterrows():  # the lowest code written last wins
        out[shapely.intersects(g["geom"], d.geometry.values)] = g["code"]
    return pd.Series(out, index=d["id"].to_numpy())


def expected_incidents(engine) -> pd.Series:
    """Incident id -> id of the first version (by code, id) covering it at its reported_at, or None."""
    v = versions(engine)
    with engine.connect() as conn:
        i = gpd.read_postgis("SELECT id, reported_at, geom FROM incidents ORDER BY id", conn, geom_col="geom")
    at = pd.to_datetime(i["reported_at"], utc=True)
    out = np.full(len(i), None, dtype=object)
    for _, g in v.sort_values(["code", "id"], ascending=False).iterrows():
        hit = shapely.intersects(g["geom"], i.geometry.values) & (at >= g["lo"]).to_numpy() & (at < g["hi"]).to_numpy()
        out[hit] = g["id"]
    return pd.Series(out, index=i["id"].to_numpy())


def stored(engine, sql: str) -> pd.Series:
    with engine.connect() as conn:
        rows = conn.execute(text(sql)).all()
    return pd.Series([r[1] for r in rows], index=[r[0] for r in rows], dtype=object)


def data_versions(engine) -> dict:
    with engine.connect() as conn:
        return {r.layer: (r.version, r.changed_at) for r in conn.execute(text("SELECT * FROM data_versions"))}


def fingerprint(engine) -> dict:
    with engine.connect() as conn:
        return {t: conn.execute(text(f"SELECT md5(coalesce(string_agg(x::text, '|' ORDER BY x.id), '')) FROM {t} x"))
                .scalar_one() for t in ("grids", "dwellings", "incidents")} | {"versions": data_versions(engine)}


# -- the world --------------------------------------------------------------------------------------
@pytest.fixture
def world(db):
    layers = district()
    load(db, layers)
    grids = layers["grids"].set_index("code").geometry
    x0, y0, x1, y1 = shapely.union_all(grids.values).bounds
    rng = np.random.default_rng(3)
    n = 600
    span = (T1 - T0).total_seconds()
    frame = gpd.GeoDataFrame(
        {"external_id": [f"i{k}" for k in range(n)], "category": "parking",
         "reported_at": [T0 + timedelta(seconds=float(s)) for s in rng.uniform(0, span, n)]},
        geometry=shapely.points(rng.uniform(x0, x1, n), rng.uniform(y0, y1, n)), crs=4326)
    with db.begin() as conn:
        ingest_frame(conn, frame, region_code=REGION)
    return grids


def grid_id(client, code) -> int:
    feats = client.get("/collections/grids/items", params={"code": code}).json()["features"]
    assert len(feats) == 1
    return feats[0]["id"]


def feature(code, poly, community="C1", **props):
    return {"type": "Feature", "geometry": mapping(poly),
            "properties": {"code": code, "name": f"网格{code}", "community_code": community, **props}}


def halves(poly):
    x0, y0, x1, y1 = poly.bounds
    mid = (x0 + x1) / 2
    return shapely.box(x0, y0, mid, y1), shapely.box(mid, y0, x1, y1)


# -- tests ------------------------------------------------------------------------------------------
def test_boundary_change_moves_exactly_the_dwellings_point_in_polygon_says(client, world, db):
    assert (stored(db, "SELECT id, grid_code FROM dwellings ORDER BY id") == expected_dwellings(db)).all()
    times = {f["properties"]["id"]: f["properties"]["time_s"]
             for f in client.get("/coverage/dwellings?limit=100000").json()["features"]}
    hh = stored(db, "SELECT id, households FROM dwellings ORDER BY id")
    before = stored(db, "SELECT id, grid_code FROM dwellings ORDER BY id")
    west, east = halves(world["G00"])
    # 1. G00 keeps its west half: its east half belongs to no grid
    r = client.put(f"/grids/{grid_id(client, 'G00')}", json=feature("G00", west))
    assert r.status_code == 200, r.text
    mid = stored(db, "SELECT id, grid_code FROM dwellings ORDER BY id")
    expect = expected_dwellings(db)
    assert (mid.fillna("-") == expect.fillna("-")).all()
    moved = int((before.fillna("-") != expect.fillna("-")).sum())
    assert moved > 0 and set(expect[before != expect].fillna("-")) == {"-"}
    assert r.json()["reattributed"] == {"dwellings": moved, "incidents": 0}
    assert r.headers["reattributed-dwellings"] == str(moved)
    # 2. G10 (same community) takes that half over
    r = client.put(f"/grids/{grid_id(client, 'G10')}", json=feature("G10", shapely.union_all([world["G10"], east])))
    assert r.status_code == 200, r.text
    after = stored(db, "SELECT id, grid_code FROM dwellings ORDER BY id")
    expect = expected_dwellings(db)
    assert (after == expect).all() and expect.notna().all()
    assert r.json()["reattributed"]["dwellings"] == int((mid.fillna("-") != expect).sum()) == moved
    # the coverage summary and the incident stats per grid follow (brute force per grid)
    cov = pd.Series({i: t is not None and t <= BUDGET + 1e-6 for i, t in times.items()})
    exp = pd.DataFrame({"grid": expect, "hh": hh, "c": hh * cov.reindex(hh.index)}).groupby("grid")[["hh", "c"]].sum()
    rows = pd.DataFrame(client.get("/coverage?level=grid").json()["rows"]).set_index("code")
    assert set(rows.index) == set(exp.index)
    assert (rows.loc[exp.index, "households"] == exp["hh"]).all()
    assert (rows.loc[exp.index, "covered_households"] == exp["c"]).all()
    assert rows.loc["G10", "households"] > rows.loc["G00", "households"]
    stats = pd.DataFrame(client.get("/incidents/stats?level=grid&min_count=0").json()["rows"]).set_index("code")
    assert (stats.loc[exp.index.intersection(stats.index), "households"] == exp["hh"].loc[
        exp.index.intersection(stats.index)]).all()
    assert {"G00", "G10"} <= set(stats.index)


def test_backdated_change_reattributes_exactly_the_incidents_in_the_changed_period(client, world, db):
    before = stored(db, "SELECT id, grid_id FROM incidents ORDER BY id")
    assert (before.fillna(0) == expected_incidents(db).fillna(0)).all()
    g00 = grid_id(client, "G00")
    west, east = halves(world["G00"])
    r = client.put(f"/grids/{g00}", json=feature("G00", west, valid_from=BACK.isoformat()))
    assert r.status_code == 200, r.text
    after = stored(db, "SELECT id, grid_id FROM incidents ORDER BY id")
    expect = expected_incidents(db)
    assert (after.fillna(0) == expect.fillna(0)).all()
    changed = after.index[after.fillna(0) != before.fillna(0)]
    assert r.json()["reattributed"]["incidents"] == len(changed)
    assert r.headers["reattributed-incidents"] == str(len(changed))
    with db.connect() as conn:
        inc = gpd.read_postgis("SELECT id, reported_at, outside_grid, grid_code, community_code, status, due_at, "
                               "geom FROM incidents ORDER BY id", conn, geom_col="geom").set_index("id")
    at = pd.to_datetime(inc["reported_at"], utc=True)
    # exactly those in the old G00 reported from BACK on: the east half now outside every grid,
    # the west half in the new version
    in_west = shapely.intersects(west, inc.geometry.values)
    in_old = shapely.intersects(world["G00"], inc.geometry.values) & (at >= BACK).to_numpy()
    brute = inc.index[in_old & ~in_west]
    assert len(brute) > 0 and (in_old & in_west).any() and set(changed) == set(inc.index[in_old])
    assert inc.loc[brute, "outside_grid"].all() and (inc.loc[brute, "community_code"] == "C1").all()
    assert inc.loc[brute, "grid_code"].isna().all()
    # before valid_from: still the old version, which the new one follows
    old_part = inc.index[shapely.intersects(world["G00"], inc.geometry.values) & (at < BACK).to_numpy()]
    assert len(old_part) and (after[old_part] == g00).all()
    new_id = grid_id(client, "G00")
    assert new_id != g00 and (after[inc.index[shapely.intersects(west, inc.geometry.values)
                                               & (at >= BACK).to_numpy()]] == new_id).all()
    # the other fields are kept (status, SLA)
    assert (inc["status"] == "reported").all() and ((inc["due_at"] - inc["reported_at"]) == timedelta(hours=24)).all()
    # a later, backdated extension of G10 takes the part of that half reported from LATER on
    r = client.put(f"/grids/{grid_id(client, 'G10')}",
                   json=feature("G10", shapely.union_all([world["G10"], east]), valid_from=LATER.isoformat()))
    assert r.status_code == 200, r.text
    again = stored(db, "SELECT id, grid_id FROM incidents ORDER BY id")
    assert (again.fillna(0) == expected_incidents(db).fillna(0)).all()
    taken = again.index[again.fillna(0) != after.fillna(0)]
    g10 = shapely.union_all([world["G10"], east])
    assert set(taken) == set(inc.index[shapely.intersects(g10, inc.geometry.values) & (at >= LATER).to_numpy()])
    assert r.json()["reattributed"]["incidents"] == len(taken) and set(brute[(at[brute] >= LATER).to_numpy()]) < set(taken)
    # intake and re-attribution agree: the same place and time reported again lands where it was moved
    probe = inc.loc[list(changed)]
    frame = gpd.GeoDataFrame({"external_id": [f"again-{k}" for k in probe.index], "category": "parking",
                              "reported_at": list(probe["reported_at"])}, geometry=probe.geometry.values, crs=4326)
    with db.begin() as conn:
        ingest_frame(conn, frame, region_code=REGION)
    fresh = stored(db, "SELECT substr(external_id, 7)::bigint, grid_id FROM incidents WHERE external_id LIKE 'again-%'")
    assert len(fresh) == len(changed) and (fresh.fillna(0) == again[fresh.index].fillna(0)).all()
    # the per-grid stats count them by brute force
    expect = expected_incidents(db)
    assert (stored(db, "SELECT id, grid_id FROM incidents ORDER BY id").fillna(0) == expect.fillna(0)).all()
    late = stored(db, "SELECT id, reported_at >= '2026-07-01T00:00:00Z' FROM incidents ORDER BY id").astype(bool)
    codes = stored(db, "SELECT id, code FROM grids")
    want = expect[late].dropna().map(codes).value_counts()
    stats = pd.DataFrame(client.get("/incidents/stats", params={"level": "grid", "min_count": 0,
                                                                "from": LATER.isoformat()}).json()["rows"])
    got = stats.set_index("code")["incidents"]
    assert {k: int(v) for k, v in got.items() if v} == {k: int(v) for k, v in want.items()}


def test_unchanged_rewrite_reattributes_nothing_and_moves_no_version(client, world, db):
    before = fingerprint(db)
    r = client.put(f"/grids/{grid_id(client, 'G01')}", json=feature("G01", world["G01"], name="网格01"))
    assert r.status_code == 200, r.text
    assert r.json()["reattributed"] == {"dwellings": 0, "incidents": 0}
    assert fingerprint(db) == before
    frame = district()["grids"]
    with db.begin() as conn:
        rep = import_frame(conn, "grids", frame, Settings(), region_code=REGION)
    assert (rep.unchanged, rep.dwellings_reattributed, rep.incidents_reattributed) == (len(frame), 0, 0)
    assert fingerprint(db) == before


def test_a_failed_grid_write_changes_nothing(client, world, db):
    before = fingerprint(db)
    far = shapely.box(*world["G33"].bounds)  # a grid of C4 claimed for C1: refused
    r = client.put(f"/grids/{grid_id(client, 'G00')}", json=feature("G00", far))
    assert r.status_code == 422, r.text
    assert fingerprint(db) == before
    # a later failure of the same transaction undoes the re-attribution too
    west, _ = halves(world["G00"])
    frame = gpd.GeoDataFrame({"code": ["G00"], "name": ["x"], "community_code": ["C1"], "valid_from": [BACK]},
                             geometry=[west], crs=4326)
    with pytest.raises(RuntimeError), db.begin() as conn:
        rep = import_frame(conn, "grids", frame, Settings(), region_code=REGION)
        assert rep.dwellings_reattributed > 0 and rep.incidents_reattributed > 0
        raise RuntimeError("a later step failed")
    assert fingerprint(db) == before


def test_retiring_a_grid_reattributes_its_dwellings(client, world, db):
    before = stored(db, "SELECT id, grid_code FROM dwellings ORDER BY id")
    r = client.delete(f"/grids/{grid_id(client, 'G11')}", headers={"Idempotency-Key": "retire-g11"})
    assert r.status_code == 204
    expect = expected_dwellings(db)
    assert (stored(db, "SELECT id, grid_code FROM dwellings ORDER BY id").fillna("-") == expect.fillna("-")).all()
    n = int((before.fillna("-") != expect.fillna("-")).sum())
    assert n == int((before == "G11").sum()) > 0
    assert (r.headers["reattributed-dwellings"], r.headers["reattributed-incidents"]) == (str(n), "0")
    again = client.delete(f"/grids/{grid_id(client, 'G01')}", headers={"Idempotency-Key": "retire-g11"})
    assert again.status_code == 409  # another request under the same key


def test_cli_import_reports_reattributed_dwellings_and_incidents(cli, db, tmp_path):
    load_base(cli, tmp_path)
    rng = np.random.default_rng(5)
    n = 200
    (tmp_path / "inc.csv").write_text("external_id,category,reported_at,lon,lat\n" + "".join(
        f"e{k},parking,{(T0 + timedelta(days=float(d))).isoformat()},{x},{y}\n"
        for k, (d, x, y) in enumerate(zip(rng.uniform(0, 330, n), rng.uniform(120.0, 120.1, n),
                                          rng.uniform(31.0, 31.1, n)))))
    assert cli("import", "incidents", tmp_path / "inc.csv").exit_code == 0
    before = stored(db, "SELECT id, grid_id FROM incidents ORDER BY id")
    # the G1/G2 border moves north, backdated
    frame = grids_frame({"G1": shapely.box(120.0, 31.0, 120.05, 31.07), "G2": shapely.box(120.0, 31.07, 120.05, 31.1)})
    frame["valid_from"] = BACK
    r = cli("import", "grids", grids_file(tmp_path, frame, "moved.gpkg"), "--layer", "网格")
    assert r.exit_code == 0, r.output
    after = stored(db, "SELECT id, grid_id FROM incidents ORDER BY id")
    assert (after.fillna(0) == expected_incidents(db).fillna(0)).all()
    k = int((after.fillna(0) != before.fillna(0)).sum())
    assert k > 0 and f"re-attributed: 0 dwelling(s), {k} incident(s)" in " ".join(r.output.split())
    r = cli("import", "grids", grids_file(tmp_path, frame, "moved.gpkg"), "--layer", "网格")
    assert "re-attributed: 0 dwelling(s), 0 incident(s)" in " ".join(r.output.split())
