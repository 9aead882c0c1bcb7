"""Coverage API on a small district in real PostGIS, checked against independent computations:
networkx Dijkstra over the same streets (its own graph, own snapping with shapely), brute-force
straight-line times in the no-street community, and a full recompute after real writes."""

from __future__ import annotations

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest
import shapely
from sqlalchemy import text

from api.coverage import CoverageParams, CoverageService
from api.jurisdiction import Jurisdiction
from api.routes.coverage.geojson import COORD_DECIMALS, rounded
from api.settings import Settings
from geo.crs import metric_crs_for

from tests.support.districts import BUDGET, district, load

WALK = 5 / 3.6  # m/s


@pytest.fixture
def world(db):
    layers = district()
    load(db, layers)
    return layers


# -- the independent reference ------------------------------------------------------------------
def reference_times(engine):
    """Every dwelling's walking time to its nearest station computed without geo's engine: a
    networkx graph of the stored streets (metric CRS, nodes at rounded end points, components under
    50 nodes skipped), exact nearest-street snapping with shapely, multi-source Dijkstra; dwellings
    in a community without streets get straight distance x 1.3 / speed.  Returns a frame by dwelling id."""
    with engine.connect() as conn:
        streets = gpd.read_postgis("SELECT id, geom FROM streets ORDER BY id", conn, geom_col="geom")
        stations = gpd.read_postgis("SELECT id, geom FROM stations ORDER BY id", conn, geom_col="geom")
        dw = gpd.read_postgis("SELECT id, households, grid_code, community_code, geom FROM dwellings ORDER BY id",
                              conn, geom_col="geom")
        bare = set(conn.execute(text(
            "SELECT code FROM areas a WHERE level='community' AND NOT EXISTS "
            "(SELECT 1 FROM streets s WHERE ST_Intersects(s.geom, a.geom))")).scalars())
    crs = metric_crs_for(streets.geometry)
    lines = streets.to_crs(crs).geometry.values
    ends = np.round(np.r_[shapely.get_coordinates(shapely.get_point(lines, 0)),
                          shapely.get_coordinates(shapely.get_point(lines, -1))] / 0.01).astype(np.int64)
    keys = [tuple(k) for k in ends]
    m = len(lines)
    g = nx.Graph()
    for e in range(m):
        a, b = keys[e], keys[m + e]
        w = float(shapely.length(lines[e])) / WALK
        if a != b and (not g.has_edge(a, b) or g[a][b]["weight"] > w):
            g.add_edge(a, b, weight=w)
    comps = list(nx.connected_components(g))
    big = max(len(c) for c in comps)
    ok_nodes = set().union(*[c for c in comps if len(c) >= min(50, big)])
    usable = np.array([keys[e] in ok_nodes for e in range(m)])
    tree = shapely.STRtree(lines[usable])
    uidx = np.flatnonzero(usable)

    def snap(pts):
        p = gpd.GeoSeries(pts, crs=4326).to_crs(crs).values
        nearest = tree.query_nearest(p, all_matches=False)
        e = np.empty(len(p), dtype=np.int64)
        e[nearest[0]] = uidx[nearest[1]]
        d = shapely.distance(p, lines[e])
        s = shapely.line_locate_point(lines[e], p)
        return e, s, d

    se, ss, sd = snap(stations.geometry.values)
    h = nx.Graph(g)
    srcs = []
    for k, (e, s, d) in enumerate(zip(se, ss, sd)):
        if d > 300:
            continue
        L = float(shapely.length(lines[e]))
        h.add_edge(("s", k), keys[e], weight=(d + s) / WALK)
        h.add_edge(("s", k), keys[m + e], weight=(d + L - s) / WALK)
        srcs.append(("s", k))
    dist = nx.multi_source_dijkstra_path_length(h, srcs)
    de, ds, dd = snap(dw.geometry.values)
    t = np.full(len(dw), np.inf)
    for i, (e, s, d) in enumerate(zip(de, ds, dd)):
        if d > 300:
            continue
        L = float(shapely.length(lines[e]))
        best = min(dist.get(keys[e], np.inf) + s / WALK, dist.get(keys[m + e], np.inf) + (L - s) / WALK)
        for k in np.flatnonzero((se == e) & (sd <= 300)):  # a station on the same street
            best = min(best, (sd[k] + abs(ss[k] - s)) / WALK)
        t[i] = best + d / WALK
    fb = dw["community_code"].isin(bare).to_numpy()
    sxy = np.c_[shapely.get_coordinates(stations.to_crs(crs).geometry.values)]
    dxy = shapely.get_coordinates(dw.to_crs(crs).geometry.values)
    straight = np.sqrt(((dxy[fb][:, None, :] - sxy[None]) ** 2).sum(-1)).min(axis=1) * 1.3 / WALK
    t[fb] = straight
    t[t > BUDGET + 1e-6] = np.inf
    return pd.DataFrame({"time_s": t, "households": dw["households"].to_numpy(), "grid_code": dw["grid_code"].to_numpy(),
                         "fallback": fb}, index=dw["id"].to_numpy())


# -- tests ------------------------------------------------------------------------------------------
def test_coverage_equals_independent_networkx(client, world, db):
    ref = reference_times(db)
    r = client.get("/coverage?level=grid")
    assert r.status_code == 200, r.text
    body = r.json()
    cov = ref["time_s"] <= BUDGET + 1e-6
    exp = ref.assign(c=ref["households"] * cov).groupby("grid_code")[["households", "c"]].sum()
    got = pd.DataFrame(body["rows"]).set_index("code")
    assert set(got.index) == set(exp.index)
    assert (got.loc[exp.index, "households"] == exp["households"]).all()
    assert (got.loc[exp.index, "covered_households"] == exp["c"]).all()
    assert body["totals"]["covered_households"] == int(ref["households"][cov].sum())
    assert body["totals"]["households"] == int(ref["households"].sum())
    assert 0 < body["totals"]["covered_households"] < body["totals"]["households"]
    # per-dwelling times, including the straight-line ones
    d = client.get("/coverage/dwellings?limit=100000").json()
    times = pd.Series({f["properties"]["id"]: f["properties"]["time_s"] for f in d["features"]}, dtype=float)
    mine = ref["time_s"].where(np.isfinite(ref["time_s"]))
    both = mine.notna() & times.reindex(mine.index).notna()
    assert (mine.notna() == times.reindex(mine.index).notna()).all()
    assert np.allclose(times[both.index[both]], mine[both], atol=2e-3)
    methods = {f["properties"]["id"]: f["properties"]["method"] for f in d["features"]}
    assert {methods[i] for i in ref.index[ref["fallback"]]} == {"straight_line"}
    # community and town rows add up to the grid rows
    town = client.get("/coverage?level=town").json()["rows"]
    assert [(r["code"], r["covered_households"]) for r in town] == [("T1", body["totals"]["covered_households"])]
    comm = client.get("/coverage?level=community&area=T1").json()["rows"]
    assert sum(r["households"] for r in comm) == body["totals"]["households"]


def test_fallback_is_labelled_everywhere(client, world):
    east = client.get("/coverage?level=grid&area=C5").json()
    assert east["fallback"]["used"] and east["fallback"]["households"] > 0 and "note" in east["fallback"]
    assert east["rows"][0]["code"] == "G5" and east["rows"][0]["straight_line_households"] > 0
    csv = client.get("/coverage?format=csv&level=grid")
    assert csv.headers["x-straight-line-fallback"] == "yes" and "straight_line_households" in csv.text
    for url in ("/coverage/gaps", "/coverage/areas?by=community", "/coverage/dwellings?limit=5"):
        assert client.get(url).json()["fallback"]["used"], url
    st = client.get("/collections/stations/items?source_id=east").json()["features"][0]["id"]
    reach = client.get(f"/stations/{st}/reach").json()
    assert reach["fallback"]["used"] and reach["features"][0]["properties"]["method"] == "network+straight_line"


def test_cache_reuse_and_invalidation_by_a_station_write(client, world, db):
    first = client.get("/coverage").json()
    again = client.get("/coverage").json()
    assert not first["cached"] and again["cached"] and again["run_id"] == first["run_id"]
    with db.connect() as conn:
        stored = conn.execute(text("SELECT count(*), max(params_hash) FROM coverage_runs")).one()
    assert stored[0] == 1
    # a new station in the largest gap
    gap = client.get("/coverage/gaps").json()["features"][0]
    c = shapely.geometry.shape(gap["geometry"]).representative_point()
    r = client.post("/stations", json={"type": "Feature", "geometry": {"type": "Point", "coordinates": [c.x, c.y]},
                                       "properties": {"source_id": "new1", "name": "新站", "kind": "grid_station"}})
    assert r.status_code == 201, r.text
    after = client.get("/coverage").json()
    assert not after["cached"] and after["run_id"] != first["run_id"]
    assert after["data_versions"]["stations"] != first["data_versions"]["stations"]
    assert after["totals"]["covered_households"] > first["totals"]["covered_households"]
    assert after["totals"]["stations"] == first["totals"]["stations"] + 1
    # the stored summary is served to a fresh process (a new service on the same database)
    from api.settings import Settings

    svc = CoverageService(db)
    s = svc.summary(Jurisdiction(), CoverageParams(minutes=8.0, at=pd.Timestamp.today().date()))
    assert s["cached"] and s["run_id"] == after["run_id"] and svc.stats["runs_computed"] == 0
    assert Settings  # imported for the defaults the service mirrors


def test_network_and_snap_reused_when_only_stations_change(db, world):
    svc = CoverageService(db)
    p = CoverageParams()
    a = svc.run(Jurisdiction(), p)
    with db.begin() as conn:
        conn.execute(text("UPDATE stations SET closed_on = '2000-01-01' WHERE source_id = 'st0'"))
    b = svc.run(Jurisdiction(), p)
    assert b is not a and svc.stats == {**svc.stats, "runs_computed": 2, "networks_built": 1, "snaps": 1}
    assert b.inputs.streets is a.inputs.streets and b.inputs.stations is not a.inputs.stations  # only stations re-read
    assert len(b.reach.station_ids) == len(a.reach.station_ids)  # at=None: closed stations still count
    c = svc.run(Jurisdiction(), CoverageParams(at=pd.Timestamp("2020-01-01").date()))
    assert len(c.reach.station_ids) == len(a.reach.station_ids) - 1


def test_a_dwelling_write_resnaps_only_the_dwellings_it_changed(db, world):
    """After moving one dwelling and adding one, the run re-snaps those two and reuses the rest: its
    reach equals a fresh service's (which snaps every dwelling) household by household."""
    svc = CoverageService(db)
    p = CoverageParams()
    a = svc.run(Jurisdiction(), p)
    n = len(a.inputs.dwellings)
    with db.begin() as conn:
        conn.execute(text("UPDATE dwellings SET geom = ST_Translate(geom, 0.0004, 0.0003) "
                          "WHERE id = (SELECT min(id) FROM dwellings)"))
        conn.execute(text("""INSERT INTO dwellings (region_code, source_id, name, households, community_code, grid_code, geom)
                             SELECT region_code, 'dw-new', 'new', 3, community_code, grid_code, ST_Translate(geom, 0.0002, 0)
                             FROM dwellings WHERE id = (SELECT max(id) FROM dwellings)"""))
    b = svc.run(Jurisdiction(), p)
    assert svc.stats["snaps"] == 2 and svc.stats["snaps_reused"] == n - 1 and len(b.inputs.dwellings) == n + 1
    fresh = CoverageService(db).run(Jurisdiction(), p)
    for f in ("time_s", "households", "nearest", "dwelling_xy"):
        assert np.array_equal(getattr(b.reach, f), getattr(fresh.reach, f), equal_nan=f != "nearest"), f
    assert b.totals == fresh.totals


def test_what_if_add_equals_recompute_with_the_station(client, world):
    base = client.get("/coverage").json()
    gap = client.get("/coverage/gaps").json()["features"][0]
    p = shapely.geometry.shape(gap["geometry"]).representative_point()
    w = client.post("/coverage/what-if", json={"action": "add", "lon": p.x, "lat": p.y, "kind": "grid_station"})
    assert w.status_code == 200, w.text
    w = w.json()
    assert w["covered_before"] == base["totals"]["covered_households"] and w["delta"] > 0
    assert gap["properties"]["gap_id"] in w["gaps_removed"]
    assert client.post("/stations", json={"type": "Feature", "geometry": {"type": "Point", "coordinates": [p.x, p.y]},
                                          "properties": {"source_id": "wf", "name": "试点",
                                                         "kind": "grid_station"}}).status_code == 201
    full = client.get("/coverage").json()
    assert full["totals"]["covered_households"] == w["covered_after"]
    rows = {r["code"]: r for r in full["rows"]}
    for g in w["grids"]:
        assert rows[g["grid_code"]]["covered_households"] == g["covered_after"]
        gl = client.get(f"/coverage/gaps?grid={g['grid_code']}").json()
        assert sorted(x["households"] for x in g["gaps_after"]) == sorted(
            f["properties"]["households"] for f in gl["features"])
    changed = {g["grid_code"] for g in w["grids"] if g["delta"]}
    before = {r["code"]: r["covered_households"] for r in base["rows"]}
    assert changed == {c for c, r in rows.items() if r["covered_households"] != before.get(c)}


def test_what_if_close_equals_recompute_without_the_station(client, world):
    sts = client.get("/collections/stations/items?limit=100").json()["features"]
    sid = next(f["id"] for f in sts if f["properties"]["source_id"] == "st3")
    w = client.post("/coverage/what-if", json={"action": "close", "station_id": sid}).json()
    assert w["delta"] < 0
    assert client.delete(f"/stations/{sid}").status_code == 204
    full = client.get("/coverage").json()
    assert full["totals"]["covered_households"] == w["covered_after"]


def test_station_reach_polygons_and_households(client, world, db):
    sts = client.get("/collections/stations/items?limit=100").json()["features"]
    sid = next(f["id"] for f in sts if f["properties"]["source_id"] == "st1")
    r = client.get(f"/stations/{sid}/reach?breaks=5,8,15")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/geo+json")
    b = r.json()
    assert [f["properties"]["minutes"] for f in b["features"]] == [5, 8, 15]
    hh = [f["properties"]["households"] for f in b["features"]]
    assert hh[0] <= hh[1] <= hh[2] and hh[1] == b["households"]["within"] > 0
    areas = [shapely.geometry.shape(f["geometry"]).area for f in b["features"]]
    assert areas[0] < areas[1] < areas[2]
    h = b["households"]
    assert h["exclusive"] + h["overlapping"] == h["within"] and 0 < h["own"] <= h["within"]
    # own = dwellings whose nearest station it is; exclusive = the loss if it closed
    d = client.get("/coverage/dwellings?limit=100000").json()["features"]
    own = sum(f["properties"]["households"] for f in d
              if f["properties"]["nearest_station"] == sid and f["properties"]["covered"] is True)
    assert own == h["own"]
    w = client.post("/coverage/what-if", json={"action": "close", "station_id": sid}).json()
    assert -w["delta"] == h["exclusive"]
    rings = client.get(f"/stations/{sid}/reach?breaks=5,8&shape=ring").json()["features"]
    r5, r8 = (shapely.geometry.shape(f["geometry"]) for f in rings)
    # they share the 5-minute edge; rounding each to 1e-6 degree (a vertex moves <= 0.71e-6) leaves
    # at most slivers along it, not a real overlap (a 5-minute disk instead of a ring: ~1e-5 deg2)
    assert r5.intersection(r8).area <= 1e-6 * r5.length and r8.area > 0


def test_gaps_and_areas(client, world):
    g = client.get("/coverage/gaps").json()
    tot = client.get("/coverage").json()["totals"]
    hh = [f["properties"]["households"] for f in g["features"]]
    assert hh == sorted(hh, reverse=True) and [f["properties"]["rank"] for f in g["features"]][:3] == [1, 2, 3]
    assert sum(hh) == tot["households"] - tot["covered_households"] == g["uncovered_households"]
    code = g["features"][0]["properties"]["grids"][0]
    one = client.get(f"/coverage/gaps?grid={code}").json()
    assert one["grid"]["code"] == code and one["grid"]["gap_ids"]
    assert all(code in f["properties"]["grids"] for f in one["features"])
    a = client.get("/coverage/areas?by=station&breaks=5,8").json()
    assert len(a["features"]) == 2 * tot["stations"] and {f["properties"]["minutes"] for f in a["features"]} == {5, 8}
    u = client.get("/coverage/areas?by=community&breaks=8,15&shape=ring").json()
    assert {f["properties"]["code"] for f in u["features"]} == {"C1", "C2", "C3", "C4", "C5"}
    assert all(0 <= (f["properties"]["covered_pct"] or 0) <= 100 for f in u["features"])


def test_scope_limits_the_households(db, world):
    svc = CoverageService(db)
    only = svc.run(Jurisdiction(frozenset({"C1"})), CoverageParams())
    with db.connect() as conn:
        hh = conn.execute(text("SELECT sum(households) FROM dwellings WHERE community_code = 'C1'")).scalar_one()
    assert only.totals["households"] == hh
    assert set(only.tables["grid"]["code"]) <= {"G00", "G01", "G10", "G11"}


@pytest.mark.parametrize("url,status", [
    ("/coverage?minutes=0", 422), ("/coverage?minutes=abc", 422), ("/coverage?mode=fly", 422),
    ("/coverage?level=street", 422), ("/coverage?area=NOPE", 404), ("/coverage?at=yesterday", 422),
    ("/stations/999999/reach", 404), ("/stations/1/reach?breaks=1,2,3,4,5", 422),
    ("/stations/1/reach?breaks=x", 422), ("/coverage/gaps?grid=NOPE", 404),
    ("/coverage/areas?station=999999", 404), ("/coverage?region=12", 422),
])
def test_bad_parameters(client, world, url, status):
    r = client.get(url)
    assert r.status_code == status, (url, r.text)
    assert r.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize("body,status", [
    ({"action": "add"}, 422), ({"action": "close"}, 422), ({"action": "move", "station_id": 1}, 422),
    ({"action": "close", "station_id": 999999}, 404), ({"action": "teleport"}, 422),
    ({"action": "add", "lon": 500, "lat": 31.9}, 422),
    ({"action": "add", "lon": 120.08, "lat": 31.9, "kinds": ["service_centre"], "kind": "grid_station"}, 422),
])
def test_bad_what_if(client, world, body, status):
    r = client.post("/coverage/what-if", json=body)
    assert r.status_code == status, (body, r.text)
    assert r.headers["content-type"].startswith("application/problem+json")


def test_cli_table_and_outputs(world, db, pg_url, monkeypatch, tmp_path):
    import pyogrio
    from typer.testing import CliRunner

    from api.cli import app
    from api.settings import get_settings

    monkeypatch.setenv("GRIDMAP_DATABASE_URL", pg_url)
    get_settings.cache_clear()
    try:
        out = tmp_path / "cov.gpkg"
        res = CliRunner().invoke(app, ["coverage", "--level", "community", "--breaks", "5,8", "--out", str(out)])
        assert res.exit_code == 0, res.output
        csv = tmp_path / "cov.csv"
        res2 = CliRunner().invoke(app, ["coverage", "--area", "C1", "--out", str(csv)])
        assert res2.exit_code == 0, res2.output
        bad = CliRunner().invoke(app, ["coverage", "--mode", "fly"])
        assert bad.exit_code == 2
    finally:
        get_settings.cache_clear()
    ref = reference_times(db)
    cov = ref["time_s"] <= BUDGET + 1e-6
    assert "straight-line" in res.output and "C1" in res.output and ">8" in res.output
    table = pyogrio.read_dataframe(out, layer="coverage")
    exp = ref.assign(c=ref["households"] * cov)
    with db.connect() as conn:
        comm = dict(conn.execute(text("SELECT id, community_code FROM dwellings")).all())
    exp = exp.assign(comm=[comm[i] for i in exp.index]).groupby("comm")["c"].sum()
    assert dict(zip(table["code"], table["covered_households"])) == exp.to_dict()
    assert (table["covered_5min"] <= table["covered_8min"]).all()
    assert (table["covered_8min"] == table["covered_households"]).all()
    dw = pyogrio.read_dataframe(out, layer="dwellings").set_index("id")
    assert np.allclose(dw.loc[ref.index, "time_s"].fillna(-1), ref["time_s"].replace(np.inf, np.nan).fillna(-1),
                       atol=1e-6)
    gaps = pyogrio.read_dataframe(out, layer="gaps")
    assert gaps["households"].sum() == int(ref["households"][~cov].sum())
    grid_csv = pd.read_csv(csv)
    assert set(grid_csv["code"]) == {"G00", "G01", "G10", "G11"}
    assert (tmp_path / "cov_gaps.csv").exists() and (tmp_path / "cov_dwellings.csv").exists()


def test_station_polygons_are_drawn_ahead_and_served_from_memory(client, world):
    import datetime as dt

    from geo.service_area import station_polygons

    body = client.get("/coverage").json()
    svc = client.app.state.coverage
    run = svc.run(Jurisdiction(), CoverageParams(minutes=8.0, at=dt.date.today()))
    assert run.run_id == body["run_id"] and run.warmed.wait(60)
    assert len(run._polys) == int(run.reach.station_snap.ok.sum())
    j = int(np.flatnonzero(run.reach.station_snap.ok)[0])
    sid = int(run.reach.station_ids[j])
    served = shapely.geometry.shape(client.get(f"/stations/{sid}/reach").json()["features"][0]["geometry"])
    fresh = gpd.GeoSeries([station_polygons(run.net, run.reach, j, (BUDGET,))[0][0]], crs=run.net.crs).to_crs(4326)[0]
    assert served.symmetric_difference(rounded([fresh])[0]).area < 1e-14 and served.area > 0


def test_gaps_name_their_nearest_station_and_time_at_default_settings(client, world):
    gaps = client.get("/coverage/gaps").json()["features"]
    assert gaps
    named = [g["properties"] for g in gaps if g["properties"]["nearest_station"] is not None]
    assert named, "every gap lacks its nearest station"
    for p in named:
        assert 480 < p["nearest_time_s"] <= 960  # beyond the 8-minute budget, within the 16-minute horizon


def test_a_stored_run_is_not_served_for_another_snap_distance(db, world):
    """max_snap_m is part of a stored run's key: a summary computed with 300 m was once served as
    cached to a service set to 0.5 m (52,561 covered households instead of 744)."""
    p = CoverageParams()
    wide = CoverageService(db, max_snap_m=300.0, warm_polygons=False).summary(Jurisdiction(), p)
    tight_svc = CoverageService(db, max_snap_m=0.5, warm_polygons=False)
    tight = tight_svc.summary(Jurisdiction(), p)
    assert not wide["cached"] and not tight["cached"] and tight["run_id"] != wide["run_id"]
    assert tight_svc.stats["summaries_from_db"] == 0 and tight_svc.stats["runs_computed"] == 1
    # independent: with 0.5 m only dwellings (and stations) lying on a street count at all
    assert tight["totals"]["covered_households"] < wide["totals"]["covered_households"]
    again = CoverageService(db, max_snap_m=0.5, warm_polygons=False).summary(Jurisdiction(), p)
    assert again["cached"] and again["run_id"] == tight["run_id"]
    assert again["totals"]["covered_households"] == tight["totals"]["covered_households"]


def _coords(geom: dict) -> np.ndarray:
    return shapely.get_coordinates(shapely.geometry.shape(geom))


def test_geojson_coordinates_are_rounded_and_valid(client, world):
    import datetime as dt

    from geo.service_area import service_areas

    scale = 10.0 ** COORD_DECIMALS
    st = client.get("/collections/stations/items?source_id=st1").json()["features"][0]["id"]
    urls = ["/coverage/areas?by=station&breaks=5,8", "/coverage/areas?by=community&breaks=8,15&shape=ring",
            "/coverage/areas?by=town", f"/stations/{st}/reach?breaks=5,8,15", "/coverage/gaps",
            "/coverage?format=geojson&level=grid", "/coverage/dwellings?limit=50"]
    bodies = {}
    for url in urls:
        r = client.get(url)
        assert r.status_code == 200, (url, r.text)
        bodies[url] = b = r.json()
        geoms = [f["geometry"] for f in b["features"] if f["geometry"] is not None]
        assert geoms, url
        xy = np.concatenate([_coords(g) for g in geoms])
        assert np.abs(xy * scale - np.rint(xy * scale)).max() < 1e-6, url  # no digit beyond the 6th decimal
        assert all(shapely.geometry.shape(g).is_valid for g in geoms), url
    # the served station areas are the unrounded drawing moved by no more than the rounding
    svc = client.app.state.coverage
    run = svc.run(Jurisdiction(), CoverageParams(minutes=8.0, at=dt.date.today()))
    exact = service_areas(run.net, run.reach, (300.0, 480.0), workers=1).set_index(["station", "break_s"])
    for f in bodies[urls[0]]["features"]:
        pr = f["properties"]
        g = shapely.geometry.shape(f["geometry"])
        e = exact.loc[(str(pr["station"]), pr["minutes"] * 60), "geometry"]
        assert g.symmetric_difference(e).area <= 1e-6 * e.length and g.area > 0
    raw = shapely.get_coordinates(exact.geometry.values) * scale
    assert np.abs(raw - np.rint(raw)).max() > 1e-3  # the drawing itself is off the grid: the routes rounded it


def test_rounding_repairs_what_it_breaks():
    x0, y0 = 120.0, 31.0
    shell = [(x0, y0), (x0 + 1e-3, y0), (x0 + 1e-3, y0 + 1e-3), (x0, y0 + 1e-3)]
    # a hole 0.4e-6 degree (~4 cm) above the shell's bottom edge: rounded, they share an edge
    hole = [(x0 + 4e-4, y0 + 4e-7), (x0 + 6e-4, y0 + 4e-7), (x0 + 5e-4, y0 + 2e-4)]
    # a hole smaller than the rounding step: it collapses to a point
    speck = [(x0 + 5e-4 + 1e-7, y0 + 5e-4 + 1e-7), (x0 + 5e-4 + 3e-7, y0 + 5e-4 + 1e-7),
             (x0 + 5e-4 + 2e-7, y0 + 5e-4 + 3e-7)]
    a = shapely.Polygon(shell, [hole])
    b = shapely.Polygon(shell, [speck])
    c = shapely.MultiPolygon([shapely.box(x0 + 2e-3, y0, x0 + 3e-3, y0 + 1e-3), a])
    src = np.array([a, b, None, c, shapely.Polygon()], dtype=object)
    assert shapely.is_valid(src[[0, 1, 3]]).all()
    plain = shapely.transform(src, lambda xy: np.round(xy, COORD_DECIMALS))
    assert not shapely.is_valid(plain[[0, 1, 3]]).any()  # plain rounding breaks all three
    out = rounded(src)
    assert out[2] is None and out[4].is_empty
    for k in (0, 1, 3):
        g = out[k]
        assert g.is_valid and g.geom_type in ("Polygon", "MultiPolygon"), k
        assert abs(g.area - src[k].area) <= 1e-6 * src[k].length, k
        xy = shapely.get_coordinates(g) * 10.0 ** COORD_DECIMALS
        assert np.abs(xy - np.rint(xy)).max() < 1e-6, k
    assert out[1].equals(shapely.Polygon(np.round(shell, COORD_DECIMALS)))  # the speck is filled


def test_warm_up_builds_the_what_if_planner_before_any_what_if(client, world, db):
    import datetime as dt


    body = client.get("/coverage").json()
    svc = client.app.state.coverage
    run = svc.run(Jurisdiction(), CoverageParams(minutes=8.0, at=dt.date.today()))
    assert run.run_id == body["run_id"] and run.warmed.wait(60)
    # no what-if was asked: the warm-up built the planner and the route's per-run parts
    assert {"planner", "whatif_base", ("gaps", 100.0)} <= set(run._lazy) and run.whatif_seconds is not None
    planner = run._lazy["planner"]
    assert planner.close(str(run.reach.station_ids[0])).covered_before == body["totals"]["covered_households"]
    with db.connect() as conn:  # the warm-up's dry question wrote nothing
        assert conn.execute(text("SELECT count(*) FROM coverage_runs")).scalar_one() == 1
        assert conn.execute(text("SELECT count(*) FROM stations")).scalar_one() == len(world["stations"])
    sid = int(run.reach.station_ids[0])
    w = client.post("/coverage/what-if", json={"action": "close", "station_id": sid}).json()
    assert run._lazy["planner"] is planner  # the request used the warmed planner, not a new one
    assert w["covered_before"] == body["totals"]["covered_households"]


def test_area_unions_are_written_once_per_run_and_follow_a_data_change(client, world):
    first = client.get("/coverage/areas?by=community")
    again = client.get("/coverage/areas?by=community")
    assert first.status_code == 200 and first.headers["content-type"].startswith("application/geo+json")
    assert again.content == first.content  # the run's stored body
    assert client.get("/coverage/areas?by=community&area=NOPE").status_code == 404  # nothing cached for it
    sid = first.json()["features"][0]["properties"]["code"]
    assert client.get(f"/coverage/areas?by=community&area={sid}").json()["features"][0]["properties"]["code"] == sid
    p = shapely.geometry.shape(client.get("/coverage/gaps").json()["features"][0]["geometry"]).representative_point()
    assert client.post("/stations", json={"type": "Feature", "geometry": {"type": "Point", "coordinates": [p.x, p.y]},
                                          "properties": {"source_id": "cache-1", "name": "新站",
                                                         "kind": "grid_station"}}).status_code == 201
    after = client.get("/coverage/areas?by=community").json()
    assert after["run_id"] != first.json()["run_id"]
    covered = {f["properties"]["code"]: f["properties"]["covered_m2"] for f in first.json()["features"]}
    assert any(f["properties"]["covered_m2"] > covered[f["properties"]["code"]] + 1 for f in after["features"])
