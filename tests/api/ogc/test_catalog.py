"""The ``ogc`` views and their catalog: no personal field anywhere, nothing but the views published,
CRS (Part 2) answers checked against pyproj, validity of grid versions checked against plain SQL."""

from __future__ import annotations

import pytest
from pyproj import Transformer
from sqlalchemy import text

from api.jurisdiction import PERSONAL_FIELDS
from api.ogc import COLLECTIONS

from tests.support.features import X0, Y0, seed

EPSG = "http://www.opengis.net/def/crs/EPSG/0/{}"


def test_no_view_carries_a_personal_field(engine):
    with engine.connect() as conn:
        cols = conn.execute(text("SELECT table_name, column_name FROM information_schema.columns "
                                 "WHERE table_schema = 'ogc'")).all()
        views = set(conn.execute(text("SELECT table_name FROM information_schema.tables "
                                      "WHERE table_schema = 'ogc'")).scalars())
    assert views == set(COLLECTIONS)
    personal = {(v, c) for v, c in cols if c in PERSONAL_FIELDS.get(COLLECTIONS[v], ())}
    assert not personal
    # and the tables still have them (the views leave them out, nothing was dropped)
    assert {"phone"} <= PERSONAL_FIELDS["grids"] and {"address"} <= PERSONAL_FIELDS["dwellings"]


def test_only_the_views_are_collections(client, db):
    ids = {c["id"] for c in client.get("/collections").json()["collections"]}
    assert ids == set(COLLECTIONS)
    assert client.get("/collections/st_hexagongrid/items").status_code == 404
    assert client.get("/collections/public.grids/items").status_code == 404


def test_items_in_gauss_kruger_and_bbox_crs(client, db):
    seed(db)
    with db.connect() as conn:
        rows = {sid: (x, y) for sid, x, y in conn.execute(text(
            "SELECT source_id, ST_X(geom), ST_Y(geom) FROM dwellings"))}
    tr = Transformer.from_crs(4326, 4549, always_xy=True)
    r = client.get("/collections/dwellings/items", params={"crs": EPSG.format(4549), "limit": 1000})
    assert r.status_code == 200 and r.headers["content-crs"] == f"<{EPSG.format(4549)}>"
    feats = r.json()["features"]
    assert len(feats) == len(rows)
    for f in feats:
        n, e = f["geometry"]["coordinates"]  # EPSG:4549's axis order: northing, easting
        want_e, want_n = tr.transform(*rows[f["properties"]["source_id"]])
        assert (e, n) == pytest.approx((want_e, want_n), abs=0.01)
    # EPSG:4326 is lat/lon; CRS84 (the default) lon/lat
    f = client.get("/collections/dwellings/items", params={"crs": EPSG.format(4326), "limit": 1}).json()["features"][0]
    lat, lon = f["geometry"]["coordinates"]
    assert (lon, lat) == pytest.approx(rows[f["properties"]["source_id"]], abs=1e-9)
    # a bbox in EPSG:4549 (northing/easting order) selects what the same box in lon/lat does
    lo = tr.transform(X0 + 0.003, Y0 + 0.002)
    hi = tr.transform(X0 + 0.011, Y0 + 0.007)
    gk = client.get("/collections/dwellings/items", params={
        "bbox": f"{lo[1]},{lo[0]},{hi[1]},{hi[0]}", "bbox-crs": EPSG.format(4549), "limit": 1000}).json()
    with db.connect() as conn:
        inside = conn.execute(text(
            "SELECT count(*) FROM dwellings WHERE ST_Intersects(ST_Transform(geom, 4549), "
            "ST_MakeEnvelope(:a, :b, :c, :d, 4549))"), dict(a=lo[0], b=lo[1], c=hi[0], d=hi[1])).scalar_one()
    assert gk["numberMatched"] == inside > 0
    doc = client.get("/collections/dwellings").json()
    assert EPSG.format(4549) in doc["crs"] and EPSG.format(4534) in doc["crs"]


def test_grid_versions_valid_at_an_instant(client, db):
    w = seed(db)
    at = w.old_version_at.isoformat()
    got = client.get("/collections/grid_versions/items", params={"datetime": at, "limit": 1000}).json()
    with db.connect() as conn:
        want = set(conn.execute(text("SELECT id FROM grids WHERE valid_from <= :t AND (valid_to IS NULL OR valid_to > :t)"),
                                {"t": w.old_version_at}).scalars())
    assert {f["id"] for f in got["features"]} == want and len(want) > 1
