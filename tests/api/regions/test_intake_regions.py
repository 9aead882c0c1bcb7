"""Issue 18: an incident's ``external_id`` is unique per county, not across counties.

Two counties each number their own cases, so ``X-1`` reported in county A and ``X-1`` reported in
county B are two incidents; a retry is a duplicate only within its own county (its answer, its
``differs`` and the scope check all read that county's incident)."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from api.imports import import_frame
from api.settings import Settings
from geo.sample import make_regions

A, B = "320281", "320282"


@pytest.fixture(scope="module")
def layers():
    return make_regions(2, 400, seed=3, incidents=0, first_code=A)


@pytest.fixture
def world(client, db, layers):
    settings = Settings()
    with db.begin() as conn:
        for layer in ("areas", "grids"):
            import_frame(conn, layer, layers[layer], settings)
    return client


def _inside(layers, code):
    """A point inside one of county ``code``'s grids, with that grid's code."""
    g = layers["grids"].query("region_code == @code").iloc[0]
    p = g.geometry.representative_point()
    return (p.x, p.y), g["code"]


def _item(eid, lonlat, **kw):
    return {"external_id": eid, "category": "parking", "reported_at": "2025-02-01T09:00:00+08:00",
            "lon": lonlat[0], "lat": lonlat[1], **kw}


def _stored(db):
    with db.connect() as conn:
        return sorted(conn.execute(text(
            "SELECT region_code, external_id, category, grid_code FROM incidents")).all())


def test_same_external_id_in_two_counties_is_two_incidents(world, db, layers):
    (a, ga), (b, gb) = _inside(layers, A), _inside(layers, B)
    ra = world.post("/incidents", json=_item("X-1", a))
    rb = world.post("/incidents", json=_item("X-1", b, category="dispute"))
    assert (ra.status_code, rb.status_code) == (201, 201), (ra.text, rb.text)
    assert (ra.json()["region_code"], ra.json()["grid_code"]) == (A, ga)
    assert (rb.json()["region_code"], rb.json()["grid_code"], rb.json()["category"]) == (B, gb, "dispute")
    assert ra.json()["id"] != rb.json()["id"]
    assert _stored(db) == [(A, "X-1", "parking", ga), (B, "X-1", "dispute", gb)]

    # a retry in B is B's duplicate: B's record answered, compared with B's content
    again = world.post("/incidents", json=_item("X-1", b, category="dispute"))
    assert again.status_code == 200 and again.json()["duplicate"] is True
    assert (again.json()["id"], again.json()["region_code"], again.json()["differs"]) == (rb.json()["id"], B, [])
    # a retry in A with other content: A's record, and the difference from A's record
    other = world.post("/incidents", json=_item("X-1", a, category="dispute"))
    assert other.status_code == 200 and other.json()["duplicate"] is True
    assert (other.json()["id"], other.json()["category"], other.json()["differs"]) == \
        (ra.json()["id"], "parking", ["category"])
    # an explicit region_code names the county too
    c = world.post("/incidents", json=_item("X-1", b, region_code=B, category="dispute"))
    assert c.status_code == 200 and c.json()["id"] == rb.json()["id"]
    assert len(_stored(db)) == 2


def test_bulk_batch_may_repeat_an_id_across_counties(world, db, layers):
    (a, ga), (b, gb) = _inside(layers, A), _inside(layers, B)
    r = world.post("/incidents/bulk", json=[_item("Y-1", a), _item("Y-1", b, region_code=B), _item("Y-2", b)])
    assert r.status_code == 200, r.text
    assert (r.json()["inserted"], r.json()["duplicates"]) == (3, 0)
    assert _stored(db) == [(A, "Y-1", "parking", ga), (B, "Y-1", "parking", gb), (B, "Y-2", "parking", gb)]
    # the same batch again: every row a duplicate of its own county's incident, nothing written
    r = world.post("/incidents/bulk", json=[_item("Y-1", a), _item("Y-1", b, region_code=B), _item("Y-2", b)])
    assert (r.json()["inserted"], r.json()["duplicates"], r.json()["differing"]) == (0, 3, [])
    # a batch that repeats an id within one county is still refused, naming the row it repeats
    r = world.post("/incidents/bulk", json=[_item("Z-1", a), _item("Z-1", a)])
    assert r.status_code == 422, r.text
    assert "repeats row 1" in r.text
    # two rows attributed to one county by their grid (one naming it, one not) write one incident
    r = world.post("/incidents/bulk", json=[_item("W-1", b), _item("W-1", b, region_code=B)])
    assert (r.json()["inserted"], r.json()["duplicates"]) == (1, 1), r.text
    assert len(_stored(db)) == 4


def test_scoped_caller_is_not_refused_for_another_countys_id(world, db, layers, settings):
    """A county B feed may report X-1 though county A (outside its scope) has an X-1 too."""
    from api.auth import accounts, tokens

    (a, _), (b, gb) = _inside(layers, A), _inside(layers, B)
    assert world.post("/incidents", json=_item("X-1", a)).status_code == 201  # open mode: no users yet
    with db.begin() as conn:
        uid = accounts.add_user(conn, "feedb", "correct horse 1", "integration", [B])
    h = {"Authorization": f"Bearer {tokens.issue(settings, uid)[0]}"}
    r = world.post("/incidents", json=_item("X-1", b), headers=h)
    assert r.status_code == 201, r.text
    assert (r.json()["region_code"], r.json()["grid_code"]) == (B, gb)
    again = world.post("/incidents", json=_item("X-1", b), headers=h)
    assert again.status_code == 200 and again.json()["id"] == r.json()["id"]
    # and a report in A is still outside its jurisdiction
    assert world.post("/incidents", json=_item("X-2", a), headers=h).status_code == 403
    assert [x[:2] for x in _stored(db)] == [(A, "X-1"), (B, "X-1")]
