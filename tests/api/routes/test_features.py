"""The OGC API Features collections (tipg over the ``ogc`` views, ``api.ogc``), checked against shapely /
plain SQL on the same rows.  The real-client tests (GDAL, OWSLib, MVT) are in ``tests/api/ogc``."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from shapely.geometry import box, shape
from sqlalchemy import select

from api import deps
from api.db.models import grids, stations
from api.jurisdiction import Jurisdiction

from tests.support.features import CELL, X0, Y0, seed


def _all_pages(client, url):
    feats, pages = [], 0
    while url:
        r = client.get(url)
        assert r.status_code == 200, r.text
        body = r.json()
        feats += body["features"]
        pages += 1
        url = next((link["href"] for link in body["links"] if link["rel"] == "next"), None)
    return feats, pages


def test_collections_list_and_extent(client, db):
    w = seed(db)
    r = client.get("/collections")
    assert r.status_code == 200
    ids = {c["id"] for c in r.json()["collections"]}
    assert ids == {"areas", "towns", "communities", "grids", "grid_versions", "dwellings", "stations", "streets",
                   "incidents"}
    doc = client.get("/collections/dwellings").json()
    expected = [w.points[:, 0].min(), w.points[:, 1].min(), w.points[:, 0].max(), w.points[:, 1].max()]
    assert doc["extent"]["spatial"]["bbox"][0] == pytest.approx(expected, abs=1e-9)
    assert {link["rel"] for link in doc["links"]} >= {"self", "items"}
    assert client.get("/collections/streets").json().get("extent") is None  # no streets loaded
    missing = client.get("/collections/nope")
    assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"


def test_grid_households_match_point_in_polygon(client, db):
    w = seed(db)
    body = client.get("/collections/grids/items?limit=1000").json()
    assert body["type"] == "FeatureCollection"
    assert body["numberMatched"] == body["numberReturned"] == len(w.grid_cells)
    got = {f["properties"]["code"]: f["properties"]["households"] for f in body["features"]}
    pts = shapely.points(w.points)
    for code, poly in w.grid_cells.items():
        assert got[code] == int(w.households[shapely.intersects(poly, pts)].sum()), code
    assert sum(got.values()) == int(w.households.sum())  # the cells tile the district
    f = body["features"][0]
    assert shape(f["geometry"]).geom_type == "MultiPolygon"
    assert {"chief", "worker", "community_code", "name"} <= set(f["properties"])
    assert "phone" not in f["properties"]  # personal fields are in no collection (api.jurisdiction.PERSONAL_FIELDS)
    names = {f["properties"]["code"]: f["properties"]["community_name"] for f in body["features"]}
    assert names["G00"] == "社区0" and names[f"G{len(w.grid_cells) // 3 - 1}0"] == "社区1"


def test_paging_returns_every_feature_once(client, db):
    w = seed(db, n_dwellings=257)
    feats, pages = _all_pages(client, "/collections/dwellings/items?limit=50")
    assert pages == 6
    ids = [f["id"] for f in feats]
    assert len(ids) == len(set(ids)) == 257
    first = client.get("/collections/dwellings/items?limit=50&offset=100").json()
    assert first["numberMatched"] == 257 and first["numberReturned"] == 50
    rels = {link["rel"]: link["href"] for link in first["links"]}
    assert "offset=50" in rels["prev"] and "offset=150" in rels["next"]
    last = client.get("/collections/dwellings/items?limit=50&offset=250").json()
    assert last["numberReturned"] == 7 and "next" not in {link["rel"] for link in last["links"]}
    assert sum(f["properties"]["households"] for f in feats) == int(w.households.sum())


def test_bbox_filter_matches_shapely(client, db):
    w = seed(db)
    bb = (X0 + 0.003, Y0 + 0.002, X0 + 0.011, Y0 + 0.007)
    body = client.get("/collections/dwellings/items", params={"bbox": ",".join(map(str, bb)), "limit": 10000}).json()
    inside = shapely.intersects(box(*bb), shapely.points(w.points))
    assert body["numberMatched"] == int(inside.sum()) > 0
    got = sorted(f["properties"]["source_id"] for f in body["features"])
    assert got == sorted(f"d{k}" for k in np.flatnonzero(inside))


def test_property_filter_and_station_kinds(client, db):
    w = seed(db)
    for kind in set(w.station_kinds):
        body = client.get("/collections/stations/items", params={"kind": kind}).json()
        assert body["numberMatched"] == w.station_kinds.count(kind)
        assert {f["properties"]["kind"] for f in body["features"]} == {kind}
    towns = client.get("/collections/areas/items?level=town").json()
    assert [f["properties"]["code"] for f in towns["features"]] == ["T1"]
    assert [f["properties"]["code"] for f in client.get("/collections/towns/items").json()["features"]] == ["T1"]
    comms = client.get("/collections/communities/items").json()["features"]
    assert sorted(f["properties"]["code"] for f in comms) == ["C0", "C1"]
    assert {f["properties"]["town_code"] for f in comms} == {"T1"}


def test_grid_history_by_datetime(client, db):
    w = seed(db)
    now = client.get("/collections/grids/items", params={"code": "G00"}).json()
    old = client.get("/collections/grid_versions/items",
                     params={"code": "G00", "datetime": w.old_version_at.isoformat()}).json()
    assert now["numberMatched"] == old["numberMatched"] == 1
    assert now["features"][0]["id"] != old["features"][0]["id"]
    assert shape(now["features"][0]["geometry"]).area == pytest.approx(CELL * CELL)
    assert shape(old["features"][0]["geometry"]).area == pytest.approx(CELL * CELL / 4)
    both = client.get("/collections/grid_versions/items",
                      params={"code": "G00", "datetime": "2000-01-01T00:00:00Z/.."}).json()
    assert both["numberMatched"] == 2
    # a single item by id: any version in grid_versions, only current ones in grids
    fid = old["features"][0]["id"]
    assert client.get(f"/collections/grids/items/{fid}").status_code == 404
    one = client.get(f"/collections/grid_versions/items/{fid}")
    assert one.status_code == 200 and one.headers["content-type"].startswith("application/geo+json")
    assert one.json()["properties"]["code"] == "G00"


def test_single_item_and_missing(client, db):
    seed(db)
    with db.connect() as conn:
        sid, name = conn.execute(select(stations.c.id, stations.c.name).order_by(stations.c.id.desc())).first()
    f = client.get(f"/collections/stations/items/{sid}").json()
    assert f["type"] == "Feature" and f["id"] == sid and f["properties"]["name"] == name
    r = client.get(f"/collections/stations/items/{sid + 1000}")
    assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize("query", [
    "bbox=1,2,3", "bbox=a,b,c,d", "bbox=31.9,120.3,31.95,120.4", "bbox=121,31,120,32",
    "limit=10001", "limit=x", "offset=-1", "datetime=yesterday", "colour=red", "filter=households >",
    "filter=name > 3 AND", "crs=EPSG:3857", "bbox-crs=EPSG:9999&bbox=1,2,3,4", "f=html", "sortby=colour",
])
def test_bad_query_is_problem_json(client, db, query):
    r = client.get(f"/collections/dwellings/items?{query}")
    assert r.status_code in (400, 422), r.text
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["status"] == r.status_code and body["detail"]


def test_jurisdiction_scopes_every_query(client, db):
    w = seed(db)
    client.app.dependency_overrides[deps.jurisdiction] = lambda: Jurisdiction(frozenset({"C1"}))
    try:
        grids_c1 = client.get("/collections/grids/items?limit=1000").json()
        stations_c1 = client.get("/collections/stations/items?limit=1000").json()
        outside = client.get("/collections/grids/items", params={"code": "G00"}).json()
        with db.connect() as conn:
            g00 = conn.execute(select(grids.c.id).where(grids.c.code == "G00", grids.c.valid_to.is_(None))).scalar()
        single = client.get(f"/collections/grids/items/{g00}")
    finally:
        client.app.dependency_overrides.clear()
    assert {f["properties"]["community_code"] for f in grids_c1["features"]} == {"C1"}
    assert grids_c1["numberMatched"] == sum(1 for c in w.grid_cells if int(c[1]) >= 2)
    east = w.points  # stations counted by their community code
    assert stations_c1["numberMatched"] == sum(
        1 for f in client.get("/collections/stations/items?limit=1000").json()["features"]
        if f["properties"]["community_code"] == "C1")
    assert outside["numberMatched"] == 0
    assert single.status_code == 404
    del east
