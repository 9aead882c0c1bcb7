"""The coverage answers on the sample district in real PostGIS, each checked against an independent
computation: station reach polygons (disks and rings) and their households, dwellings, area totals,
covered households per break, station kinds, station service areas (from the warm-up, by area)."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
import shapely.geometry

from tests.support.cli import run_cli
from tests.support.db import truncate
from tests.support.sample import load_sample


@pytest.fixture(scope="module")
def sample(engine):
    """The 12,000-household sample, loaded once for the module: every test here only reads it."""
    truncate(engine)
    return load_sample(engine, 12000, seed=1)


@pytest.fixture(scope="module")
def client(settings, sample):
    """One app for the module's reads, so its coverage runs are computed once (the shared ``client``
    would empty the database)."""
    from fastapi.testclient import TestClient

    from api.app import create_app

    with TestClient(create_app(settings)) as c:
        yield c


@pytest.fixture
def fresh_client(settings, sample):
    """A new app on the module's data: its warm-up is its own."""
    from fastapi.testclient import TestClient

    from api.app import create_app

    with TestClient(create_app(settings)) as c:
        yield c


def _station_ids(client, n=None):
    ids = [f["id"] for f in client.get("/collections/stations/items?limit=10000").json()["features"]]
    return ids if n is None else ids[:n]


def test_reach_polygons_are_valid_for_disks_and_rings(client, sample):  # audit item 4
    ids = _station_ids(client)
    bad, n = [], 0
    for shape in ("disk", "ring"):
        for sid in ids:
            r = client.get(f"/stations/{sid}/reach?breaks=5,8,15&shape={shape}")
            if r.status_code == 409:  # does not count (closed / unsnapped)
                continue
            assert r.status_code == 200, r.text
            for f in r.json()["features"]:
                if f["geometry"] is None:
                    continue
                n += 1
                g = shapely.geometry.shape(f["geometry"])
                if not (g.is_valid and g.geom_type in ("Polygon", "MultiPolygon")):
                    bad.append((sid, shape, f["properties"]["minutes"], shapely.is_valid_reason(g)))
    assert n > 100
    assert not bad, bad[:5]


def test_ring_households_are_those_inside_the_ring(client, sample):  # audit item 24
    ids = _station_ids(client, 6)
    checked = 0
    for sid in ids:
        disk = client.get(f"/stations/{sid}/reach?breaks=5,8,15")
        if disk.status_code == 409:
            continue
        ring = client.get(f"/stations/{sid}/reach?breaks=5,8,15&shape=ring")
        d = [f["properties"] for f in disk.json()["features"]]
        r = [f["properties"] for f in ring.json()["features"]]
        cum = [p["households"] for p in d]
        assert cum[0] <= cum[1] <= cum[2]
        # a ring holds what the disk of its break adds to the previous disk
        assert [p["households"] for p in r] == [cum[0], cum[1] - cum[0], cum[2] - cum[1]]
        assert [p["dwellings"] for p in r] == [d[0]["dwellings"], d[1]["dwellings"] - d[0]["dwellings"],
                                               d[2]["dwellings"] - d[1]["dwellings"]]
        assert [p["households_cumulative"] for p in r] == cum == [p["households_cumulative"] for p in d]
        assert disk.json()["households"]["within"] == cum[1]  # the 8-minute budget
        checked += cum[2] > cum[0]
    assert checked


def test_dwellings_covered_is_a_boolean(client, sample):  # audit item 14
    feats = client.get("/coverage/dwellings?limit=1000000").json()["features"]
    flags = [f["properties"]["covered"] for f in feats]
    assert all(isinstance(v, bool) for v in flags) and any(flags) and not all(flags)
    # a client writing `if covered` counts exactly the covered households of the summary
    covered = sum(f["properties"]["households"] for f in feats if f["properties"]["covered"])
    assert covered == client.get("/coverage").json()["totals"]["covered_households"]
    budget = 8 * 60
    assert all(f["properties"]["covered"] == (f["properties"]["time_s"] is not None
                                              and f["properties"]["time_s"] <= budget + 1e-6) for f in feats)


def test_area_totals_are_the_areas(client, sample, engine, pg_url, monkeypatch):  # audit item 9
    from sqlalchemy import text

    whole = client.get("/coverage").json()["totals"]
    comm = client.get("/coverage?level=community").json()["rows"][1]
    code = comm["code"]
    r = client.get(f"/coverage?area={code}").json()
    t = r["totals"]
    assert r["scope_totals"] == whole and t["area"] == code and t["area_level"] == "community"
    assert t["area_name"] == comm["name"]
    with engine.connect() as conn:  # independent: the stored dwellings of that community
        hh = conn.execute(text("SELECT sum(households) FROM dwellings WHERE community_code = :c"), {"c": code}).scalar()
    feats = client.get("/coverage/dwellings?limit=1000000").json()["features"]
    with engine.connect() as conn:
        ids = set(conn.execute(text("SELECT id FROM dwellings WHERE community_code = :c"), {"c": code}).scalars())
    covered = sum(f["properties"]["households"] for f in feats if f["properties"]["id"] in ids
                  and f["properties"]["covered"])
    assert t["households"] == hh < whole["households"] and t["covered_households"] == covered
    assert t["households"] == sum(x["households"] for x in r["rows"])  # its grids add up to it
    for k in ("covered_pct", "mean_time_s", "p90_time_s", "stations"):
        assert t[k] == comm[k], k  # the same figures as the community's own row
    g = client.get(f"/coverage?format=geojson&area={code}").json()
    assert g["totals"] == t
    # the CLI says which area its total line is for, with the area's figures
    res = run_cli(pg_url, monkeypatch, ["coverage", "--area", code])
    assert res.exit_code == 0, res.output
    line = next(x for x in res.output.splitlines() if x.startswith("total"))
    assert f"in community {code}" in line and f"{t['covered_households']:,} of {t['households']:,}" in line


def test_coverage_breaks_give_covered_households_per_break(client, sample):  # audit item 11
    r = client.get("/coverage?breaks=5,8,15&level=community")
    assert r.status_code == 200, r.text
    b = r.json()
    # independent of the table: each dwelling's own time (searched to 15 minutes) against each break
    times = client.get("/coverage/dwellings?limit=1000000&minutes=15").json()["features"]
    t = {f["properties"]["id"]: f["properties"]["time_s"] for f in times}
    comm = {f["properties"]["id"]: f["properties"]["grid_code"] for f in times}
    grids = {g["properties"]["code"]: g["properties"]["community_code"]
             for g in client.get("/collections/grids/items?limit=10000").json()["features"]}
    for sec in (300, 480, 900):
        col = f"covered_{sec}s"
        exp: dict = {}
        for f in times:
            p = f["properties"]
            if t[p["id"]] is not None and t[p["id"]] <= sec + 1e-6:
                c = grids.get(comm[p["id"]])
                exp[c] = exp.get(c, 0) + p["households"]
        assert {row["code"]: row[col] for row in b["rows"]} == {row["code"]: exp.get(row["code"], 0)
                                                                for row in b["rows"]}, col
        assert b["totals"][col] == sum(exp.values()), col
    assert all(r["covered_300s"] <= r["covered_480s"] <= r["covered_900s"] for r in b["rows"])
    assert b["totals"]["covered_480s"] == b["totals"]["covered_households"]
    csv = client.get("/coverage?breaks=5,15&format=csv").text
    assert "covered_300s" in csv.splitlines()[0] and "covered_900s" in csv.splitlines()[0]
    g = client.get("/coverage?breaks=5,15&format=geojson&level=town").json()
    assert sum(f["properties"]["covered_900s"] for f in g["features"]) == g["totals"]["covered_900s"]
    # validated like the CLI: 1 to 4 positive breaks up to 120 minutes
    for bad in ("1,2,3,4,5", "-5,8", "0", "5,200", "a,b"):
        e = client.get(f"/coverage?breaks={bad}")
        assert e.status_code == 422 and e.json()["errors"][0]["field"] == "breaks", bad


def test_unknown_station_kind_is_refused(client, sample, engine, pg_url, monkeypatch):  # audit item 12
    from sqlalchemy import text

    with engine.connect() as conn:
        present = sorted(conn.execute(text("SELECT DISTINCT kind FROM stations")).scalars())
    for url in ("/coverage?kinds=foo", f"/coverage?kinds={present[0]},foo", "/coverage/gaps?kinds=foo",
                "/coverage/areas?kinds=foo", "/coverage/dwellings?kinds=foo"):
        r = client.get(url)
        assert r.status_code == 422, (url, r.text)
        b = r.json()
        assert b["allowed_values"] == present and [e["field"] for e in b["errors"]] == ["kinds"], url
        assert "'foo'" in b["detail"] and all(k in b["detail"] for k in present)
    w = client.post("/coverage/what-if", json={"action": "close", "station_id": 1, "kinds": ["foo"]})
    assert w.status_code == 422
    ok = client.get(f"/coverage?kinds={present[0]}").json()
    assert ok["totals"]["stations"] > 0 and set(ok["totals"]["stations_by_kind"]) == {present[0]}
    res = run_cli(pg_url, monkeypatch, ["coverage", "--kinds", "foo"])
    assert res.exit_code == 2 and "--kinds" in res.output and "foo" in res.output and present[0] in res.output


def test_station_areas_reuse_the_warm_up_and_filter_by_area(fresh_client, sample, monkeypatch):
    client = fresh_client
    import datetime as dt

    import api.coverage.frames as frames
    from api.coverage import CoverageParams
    from api.jurisdiction import Jurisdiction
    from api.routes.coverage.geojson import rounded
    from geo.service_area import service_areas

    client.get("/coverage")
    svc = client.app.state.coverage
    run = svc.run(Jurisdiction(), CoverageParams(minutes=8.0, at=dt.date.today()))
    assert run.warmed.wait(120)
    drawn = []

    def spy(net, reach, breaks, **kw):  # records which stations the route still has to draw
        drawn.append(list(kw.get("stations")))
        return service_areas(net, reach, breaks, **kw)

    monkeypatch.setattr(frames, "service_areas", spy)
    body = client.get("/coverage/areas?by=station").json()
    unsnapped = set(np.flatnonzero(~run.reach.station_snap.ok).tolist())
    assert sum(drawn, []) == sorted(unsnapped)  # every snapped station's disk came from the warm-up
    # the same polygons a fresh drawing gives, station by station
    fresh = service_areas(run.net, run.reach, (480.0,), workers=1)
    assert [f["properties"]["station"] for f in body["features"]] == fresh["station"].astype(int).tolist()
    exp = rounded(fresh.geometry.values)
    for f, e in zip(body["features"], exp):
        g = shapely.geometry.shape(f["geometry"]) if f["geometry"] else shapely.Polygon()
        assert g.symmetric_difference(e).area <= 1e-12, f["properties"]["station"]
    # area=: only the stations inside that community (point in polygon, independently)
    comm = sample["areas"][sample["areas"]["level"] == "community"].iloc[0]
    st = client.get("/collections/stations/items?limit=10000").json()["features"]
    counted = {int(s) for s in run.reach.station_ids}
    inside = {f["id"] for f in st if f["id"] in counted
              and comm.geometry.covers(shapely.geometry.shape(f["geometry"]))}
    part = client.get(f"/coverage/areas?by=station&area={comm['code']}").json()
    assert {f["properties"]["station"] for f in part["features"]} == inside and inside
    assert client.get("/coverage/areas?by=station&area=999999999").status_code == 404
    towns = client.get(f"/coverage/areas?by=community&area={comm['code']}").json()
    assert [f["properties"]["code"] for f in towns["features"]] == [comm["code"]]
