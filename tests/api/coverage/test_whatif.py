"""What-if answers on the sample district in real PostGIS: closing or moving a station changes exactly
the grids and gaps a recompute after the real write gives; a site beyond the snap distance is
refused naming the field."""

from __future__ import annotations

import pytest
import shapely

from tests.support.sample import load_sample


@pytest.fixture
def sample(db):
    return load_sample(db, 12000, seed=1)


def _station_ids(client, n=None):
    ids = [f["id"] for f in client.get("/collections/stations/items?limit=10000").json()["features"]]
    return ids if n is None else ids[:n]


def _gap_lists_after(client, grids):
    return {c: sorted(f["properties"]["households"] for f in client.get(f"/coverage/gaps?grid={c}").json()["features"])
            for c in grids}


def test_what_if_close_and_move_grids_equal_a_recompute(client, sample):  # per-run caching of the what-if
    base = {r["code"]: r["covered_households"] for r in client.get("/coverage").json()["rows"]}
    sts = client.get("/collections/stations/items?limit=10000").json()["features"]
    # the station whose closing loses the most: many grids and gaps change
    best = None
    for f in sts[:25]:
        w = client.post("/coverage/what-if", json={"action": "close", "station_id": f["id"]})
        if w.status_code == 200 and (best is None or w.json()["delta"] < best[1]["delta"]):
            best = (f, w.json())
    f, w = best
    assert w["delta"] < 0 and w["gaps_added"]["features"]
    far = sts[-1]["geometry"]["coordinates"]
    mv = client.post("/coverage/what-if", json={"action": "move", "station_id": f["id"], "lon": far[0],
                                                "lat": far[1]}).json()
    assert client.delete(f"/stations/{f['id']}").status_code == 204
    full = client.get("/coverage").json()
    rows = {r["code"]: r["covered_households"] for r in full["rows"]}
    assert full["totals"]["covered_households"] == w["covered_after"]
    assert {g["grid_code"] for g in w["grids"] if g["delta"]} == {c for c in rows if rows[c] != base.get(c)}
    after = _gap_lists_after(client, [g["grid_code"] for g in w["grids"]])
    for g in w["grids"]:
        assert g["covered_before"] == base[g["grid_code"]] and g["covered_after"] == rows[g["grid_code"]]
        assert sorted(x["households"] for x in g["gaps_after"]) == after[g["grid_code"]], g["grid_code"]
        assert [x["households"] for x in g["gaps_after"]] == sorted((x["households"] for x in g["gaps_after"]),
                                                                    reverse=True)
    # the move = that closing plus a station at the new place: recompute with it added there
    props = {k: f["properties"][k] for k in ("name", "kind")}
    assert client.post("/stations", json={"type": "Feature", "geometry": {"type": "Point", "coordinates": far},
                                          "properties": {**props, "source_id": "moved"}}).status_code == 201
    full = client.get("/coverage").json()
    rows = {r["code"]: r["covered_households"] for r in full["rows"]}
    assert full["totals"]["covered_households"] == mv["covered_after"]
    after = _gap_lists_after(client, [g["grid_code"] for g in mv["grids"]])
    for g in mv["grids"]:
        assert g["covered_after"] == rows[g["grid_code"]]
        assert sorted(x["households"] for x in g["gaps_after"]) == after[g["grid_code"]], g["grid_code"]


def test_what_if_site_beyond_the_snap_distance_is_refused(client, sample, settings):  # audit item 13
    from geo.crs import metric_crs_for

    streets = sample["streets"]
    x0, y0, x1, y1 = streets.total_bounds
    site = shapely.Point(x1 + 0.01, (y0 + y1) / 2)  # ~1 km east of every street
    crs = metric_crs_for(streets.geometry)
    import geopandas as gpd

    exact = float(streets.to_crs(crs).distance(gpd.GeoSeries([site], crs=4326).to_crs(crs).iloc[0]).min())
    assert exact > settings.max_snap_m
    r = client.post("/coverage/what-if", json={"action": "add", "lon": site.x, "lat": site.y})
    assert r.status_code == 422, r.text
    b = r.json()
    assert b["max_snap_m"] == settings.max_snap_m and abs(b["distance_m"] - exact) < 1.0
    assert b["errors"][0]["field"] == "lon" and f"{settings.max_snap_m:g} m" in b["detail"]
    zero = client.post("/coverage/what-if", json={"action": "add", "lon": 0, "lat": 0})
    assert zero.status_code == 422 and "street" in zero.json()["detail"]
    sid = _station_ids(client, 1)[0]
    mv = client.post("/coverage/what-if", json={"action": "move", "station_id": sid, "lon": site.x, "lat": site.y})
    assert mv.status_code == 422
    # a site on a street is answered
    mid = streets.geometry.iloc[len(streets) // 2].interpolate(0.5, normalized=True)
    ok = client.post("/coverage/what-if", json={"action": "add", "lon": mid.x, "lat": mid.y})
    assert ok.status_code == 200, ok.text
