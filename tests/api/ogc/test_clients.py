"""Real OGC clients nobody here wrote, against gridmap served in a child process (GDAL holds the GIL):
GDAL's OAPIF driver through pyogrio, OWSLib's ``Features``, and a Mapbox vector tile decoded with
mapbox-vector-tile.  Answers are checked against plain SQL on the same database and pyproj; what the
clients sent is read from the server's access log."""

from __future__ import annotations

import urllib.request

import mapbox_vector_tile
import morecantile
import numpy as np
import pyogrio
import pytest
from pyproj import Transformer
from sqlalchemy import text

from api.imports import import_frame
from api.settings import Settings
from geo.sample import make_district
from tests.support.db import truncate
from tests.support.server import serve_process

EPSG_4549 = "http://www.opengis.net/def/crs/EPSG/0/4549"


@pytest.fixture(scope="module")
def served(engine, pg_url, tmp_path_factory):
    truncate(engine)
    layers = make_district(900, seed=5, incidents=50)
    with engine.begin() as conn:
        for layer in ("areas", "grids", "streets", "stations", "dwellings", "incidents"):
            import_frame(conn, layer, layers[layer], Settings(_env_file=None))
    with serve_process(pg_url, tmp_path_factory.mktemp("ogc-home")) as s:
        yield s
    truncate(engine)


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=30) as r:
        return r.read()


def _scalar(engine, sql: str, **params):
    with engine.connect() as conn:
        return conn.execute(text(sql), params).scalar_one()


def test_gdal_lists_the_collections(served):
    names = {row[0] for row in pyogrio.list_layers(f"OAPIF:{served.url}")}
    assert {"areas", "towns", "communities", "grids", "grid_versions", "dwellings", "stations", "streets",
            "incidents"} <= names
    assert not any(n.startswith("st_") or "." in n for n in names)  # no PostGIS functions, no schema prefix


def test_gdal_where_is_applied_by_the_server(served, engine):
    before = len(served.requests())
    frame = pyogrio.read_dataframe(f"OAPIF:{served.url}", layer="dwellings", where="households > 20")
    sent = [r for r in served.requests()[before:] if "/collections/dwellings/items" in r]
    reads = [r for r in sent if "limit=20 " not in r]  # limit=20: GDAL's first look at the layer's fields
    assert reads and all("filter=households > 20" in r for r in reads), sent
    expected = _scalar(engine, "SELECT count(*) FROM dwellings WHERE households > 20")
    assert 0 < len(frame) == expected
    assert (frame["households"] > 20).all()


def test_gdal_bbox_is_applied_by_the_server(served, engine):
    lon0, lat0, lon1, lat1 = (float(v) for v in _bounds(engine))
    # edges off the data's own extremes, so that no dwelling lies on the box's boundary
    box = (lon0 + 1.23e-4, lat0 + 1.23e-4, (lon0 + lon1) / 2 + 1.1e-5, (lat0 + lat1) / 2 + 1.1e-5)
    before = len(served.requests())
    frame = pyogrio.read_dataframe(f"OAPIF:{served.url}", layer="dwellings", bbox=box)
    sent = [r for r in served.requests()[before:] if "/collections/dwellings/items" in r]
    reads = [r for r in sent if "limit=20 " not in r]
    assert reads and all("bbox=" in r for r in reads), sent
    expected = _scalar(engine, "SELECT count(*) FROM dwellings WHERE ST_Intersects(geom, "
                               "ST_MakeEnvelope(:a, :b, :c, :d, 4326))", a=box[0], b=box[1], c=box[2], d=box[3])
    assert 0 < len(frame) == expected < _scalar(engine, "SELECT count(*) FROM dwellings")


def _bounds(engine):
    with engine.connect() as conn:
        return conn.execute(text("SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) "
                                 "FROM (SELECT ST_Extent(geom) e FROM dwellings) s")).one()


def test_gdal_reads_in_cgcs2000_gauss_kruger(served, engine):
    before = len(served.requests())
    frame = pyogrio.read_dataframe(f"OAPIF:{served.url}", layer="stations", CRS="EPSG:4549")
    sent = [r for r in served.requests()[before:] if "/collections/stations/items" in r]
    reads = [r for r in sent if "limit=20 " not in r]
    assert reads and all(f"crs={EPSG_4549}" in r for r in reads), sent
    assert frame.crs.to_epsg() == 4549
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT source_id, ST_X(geom), ST_Y(geom) FROM stations")).all()
    tr = Transformer.from_crs(4326, 4549, always_xy=True)
    want = {sid: tr.transform(x, y) for sid, x, y in rows}
    assert len(frame) == len(want) > 0
    got = {sid: (g.x, g.y) for sid, g in zip(frame["source_id"], frame.geometry)}
    err = max(np.hypot(got[k][0] - want[k][0], got[k][1] - want[k][1]) for k in want)
    assert err < 0.05, err  # metres: easting ~ 500 km, northing ~ 3500 km, in that order
    assert all(400_000 < e < 700_000 and 3_000_000 < n < 4_000_000 for e, n in got.values())


def test_owslib_features(served, engine):
    from owslib.ogcapi.features import Features

    w = Features(served.url)
    rels = {link["rel"] for link in w.links}
    assert {"service-desc", "conformance", "data"} <= rels
    assert any(link["href"].endswith("/tileMatrixSets") for link in w.links)  # the tiles' link
    api = w.api()  # OWSLib follows service-desc to the OpenAPI document
    assert "/collections/{collectionId}/items" in api["paths"]
    classes = w.conformance()["conformsTo"]
    for c in ("ogcapi-features-1/1.0/conf/core", "ogcapi-features-1/1.0/conf/geojson",
              "ogcapi-features-2/1.0/conf/crs", "ogcapi-features-3/1.0/conf/filter",
              "ogcapi-features-3/1.0/conf/features-filter", "ogcapi-tiles-1/1.0/conf/core",
              "ogcapi-tiles-1/1.0/conf/mvt"):
        assert any(x.endswith(c) for x in classes), c
    assert not any(x.endswith("/html") for x in classes)  # no HTML views (they would load CDNs)
    ids = {c["id"] for c in w.collections()["collections"]}
    assert "stations" in ids and "grids" in ids
    doc = w.collection("stations")
    assert EPSG_4549 in doc["crs"] and doc["storageCrs"].endswith("CRS84")
    items = w.collection_items("stations", limit=5, kind="grid_station")
    n = _scalar(engine, "SELECT count(*) FROM stations WHERE kind = 'grid_station'")
    assert items["numberMatched"] == n and len(items["features"]) == min(5, n)
    assert {f["properties"]["kind"] for f in items["features"]} == {"grid_station"}
    q = w.collection_queryables("dwellings")
    assert "households" in q["properties"]


def test_mvt_tile_matches_the_database(served, engine):
    lon0, lat0, lon1, lat1 = (float(v) for v in _bounds(engine))
    tms = morecantile.tms.get("WebMercatorQuad")
    t = tms.tile((lon0 + lon1) / 2, (lat0 + lat1) / 2, 15)
    body = _get(f"{served.url}/collections/dwellings/tiles/WebMercatorQuad/{t.z}/{t.x}/{t.y}")
    tile = mapbox_vector_tile.decode(body)
    feats = [f for layer in tile.values() for f in layer["features"]]
    got = sorted(f["properties"]["source_id"] for f in feats)
    b = tms.bounds(t)  # lon/lat of the tile
    with engine.connect() as conn:
        want = sorted(conn.execute(text(
            "SELECT source_id FROM dwellings WHERE ST_Intersects(geom, ST_Transform("
            "ST_MakeEnvelope(:a, :b, :c, :d, 3857), 4326))"),
            dict(zip("abcd", tms.xy_bounds(t)))).scalars())
    assert 0 < len(got) and got == want, (len(got), len(want), b)
    # no personal field in a tile either
    assert all("address" not in f["properties"] for f in feats)


@pytest.mark.parametrize(("collection", "properties", "key", "table"), [
    ("grids", ["code", "community_code"], "code", "grids WHERE valid_to IS NULL AND valid_from <= now() AND"),
    ("streets", ["road_class"], None, "streets WHERE"),
])
def test_page_tiles_match_the_database(served, engine, collection, properties, key, table):
    """The tiles as the map pages ask them (``properties=``, api/pages): only those properties, and
    the features the database has in the tile's envelope (grids by code; streets by class counts)."""
    lon0, lat0, lon1, lat1 = (float(v) for v in _bounds(engine))
    tms = morecantile.tms.get("WebMercatorQuad")
    t = tms.tile((lon0 + lon1) / 2, (lat0 + lat1) / 2, 15)
    body = _get(f"{served.url}/collections/{collection}/tiles/WebMercatorQuad/{t.z}/{t.x}/{t.y}"
                f"?properties={','.join(properties)}")
    feats = [f for layer in mapbox_vector_tile.decode(body).values() for f in layer["features"]]
    assert feats and all(set(f["properties"]) == set(properties) for f in feats)
    col = key or properties[0]
    with engine.connect() as conn:
        want = sorted(conn.execute(text(
            f"SELECT {col} FROM {table} ST_Intersects(geom, ST_Transform(ST_MakeEnvelope(:a, :b, :c, :d, 3857), 4326))"),
            dict(zip("abcd", tms.xy_bounds(t)))).scalars())
    assert sorted(f["properties"][col] for f in feats) == want


def test_landing_from_json_accept(served):
    import json

    req = urllib.request.Request(served.url + "/", headers={"Accept": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        doc = json.loads(r.read())
    rels = {link["rel"] for link in doc["links"]}
    assert {"self", "service-desc", "service-doc", "conformance", "data"} <= rels
    assert any(link["href"].endswith("/tileMatrixSets") for link in doc["links"])
