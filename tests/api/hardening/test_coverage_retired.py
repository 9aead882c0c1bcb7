"""``GET /coverage/dwellings`` after a grid is retired: dwellings without a current grid answer
``grid_code: null`` (was a NaN code that JSON cannot encode: 500)."""

from __future__ import annotations

import pytest

from tests.support.sample import load_sample


@pytest.fixture
def sample(db):
    return load_sample(db, 300, seed=5)


def test_coverage_dwellings_after_a_grid_is_retired(client, sample, db):
    assert client.get("/coverage/dwellings").status_code == 200  # a run computed before the retirement
    grids = client.get("/collections/grids/items?limit=1").json()["features"]
    gid, code = grids[0]["id"], grids[0]["properties"]["code"]
    assert client.delete(f"/grids/{gid}").status_code == 204
    r = client.get("/coverage/dwellings", params={"limit": 100000})
    assert r.status_code == 200, r.text
    feats = r.json()["features"]
    codes = [f["properties"]["grid_code"] for f in feats]
    assert code not in codes and None in codes
    # independent count: the dwellings whose point lies in no current grid
    from sqlalchemy import text

    with db.connect() as conn:
        orphans = conn.execute(text(
            "SELECT count(*) FROM dwellings d WHERE NOT EXISTS (SELECT 1 FROM grids g WHERE g.valid_to IS NULL "
            "AND g.region_code = d.region_code AND ST_Covers(g.geom, d.geom))")).scalar_one()
    assert codes.count(None) == orphans > 0
