"""Hypothesis properties of the write and filter endpoints: random invalid, degenerate, huge,
antimeridian-crossing and lon/lat-swapped geometries and random time strings, offsets and ranges
always get a 4xx problem naming the field, and change nothing (row counts and a checksum of every
data table, before and after).  Valid windows with random offsets count exactly the incidents an
independent computation in Python counts.

Bounded (``max_examples`` 30, no deadline) and ``derandomize=True``: CI runs the same examples
every time.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, assume, given, settings, strategies as st
from sqlalchemy import text

from tests.api.hardening.conftest import CELL, X0, Y0, grid, incident, station

PROPS = settings(max_examples=30, deadline=None, derandomize=True,
                 suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
TABLES = ("stations", "grids", "dwellings", "incidents", "incident_events", "idempotency_keys", "audit_log")


def checksum(engine) -> dict:
    """Per data table: row count and an md5 of every row's text, ordered (a change anywhere shows)."""
    with engine.connect() as conn:
        return {t: tuple(conn.execute(text(
            f"SELECT count(*), md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), '')) FROM {t} x")).one())
            for t in TABLES}


@pytest.fixture
def untouched(world):
    """``untouched()`` asserts that no data table changed since the test began (checksum taken once:
    a change by any example shows in every later one)."""
    before = checksum(world)

    def check():
        assert checksum(world) == before

    return check


def problem(r, field: str) -> dict:
    """``r`` is a 4xx problem+json whose errors name ``field`` (exactly, or as ``query.<field>``)."""
    assert 400 <= r.status_code < 500, (r.status_code, r.text[:500])
    assert r.headers["content-type"].startswith("application/problem+json"), r.headers
    body = r.json()
    assert {"type", "title", "status", "detail"} <= set(body), body
    named = {e.get("field") for e in body.get("errors", [])}
    assert field in named or f"query.{field}" in named, (field, body)
    return body


# --- geometry strategies ---------------------------------------------------------------------
lon_in = st.floats(X0, X0 + 2 * CELL)
lat_in = st.floats(Y0, Y0 + 2 * CELL)
huge = st.one_of(st.floats(min_value=181, max_value=1e308), st.floats(min_value=-1e308, max_value=-181))


def _ring(points):
    return [list(p) for p in points] + [list(points[0])]


@st.composite
def bad_points(draw):
    """A point position gridmap must refuse: out of range, huge, swapped (lat, lon), not two numbers."""
    kind = draw(st.sampled_from(["huge_lon", "huge_lat", "swapped", "arity", "antimeridian"]))
    lon, lat = draw(lon_in), draw(lat_in)
    if kind == "huge_lon":
        return [draw(huge), lat]
    if kind == "huge_lat":
        return [lon, draw(st.one_of(st.floats(90.0001, 1e308), st.floats(-1e308, -90.0001)))]
    if kind == "swapped":
        return [lat, lon]  # Jiangyin's latitude ~31.9 then longitude ~120.3: a latitude beyond 90
    if kind == "arity":
        return draw(st.sampled_from([[lon], [lon, lat, 5.0, 1.0], []]))
    return [draw(st.floats(180.0001, 540)), lat]  # past the antimeridian, unwrapped


@st.composite
def bad_polygons(draw):
    """A polygon gridmap must refuse (``geometry``): self-intersecting, zero-area, only duplicate
    vertices, too few positions, unclosed, huge or swapped coordinates, crossing the antimeridian."""
    kind = draw(st.sampled_from(["bowtie", "collinear", "duplicates", "too_few", "unclosed", "huge",
                                 "swapped", "antimeridian"]))
    x, y = draw(lon_in), draw(lat_in)
    d = draw(st.floats(1e-5, CELL))
    if kind == "bowtie":  # the edges cross in the middle
        ring = _ring([(x, y), (x + d, y + d), (x + d, y), (x, y + d)])
    elif kind == "collinear":  # zero area
        k = draw(st.integers(3, 8))
        ring = _ring([(x + i * d / k, y + i * d / k) for i in range(k)])
    elif kind == "duplicates":  # one vertex repeated
        ring = [[x, y]] * draw(st.integers(4, 10))
    elif kind == "too_few":
        ring = _ring([(x, y), (x + d, y)])
    elif kind == "unclosed":
        ring = [[x, y], [x + d, y], [x + d, y + d], [x, y + d]]
    elif kind == "huge":
        h = draw(huge)
        ring = _ring([(x, y), (h, y), (h, y + d), (x, y + d)])
    elif kind == "swapped":
        ring = _ring([(y, x), (y, x + d), (y + d, x + d), (y + d, x)])
    else:  # a ring from 179.99 E to 179.99 W written as the numbers say: 359.98 degrees wide
        ring = _ring([(179.99, y), (-179.99, y), (-179.99, y + d), (179.99, y + d)])
    return {"type": "Polygon", "coordinates": [ring]}


def _post(client, path, body):
    return client.post(path, content=json.dumps(body), headers={"content-type": "application/json"})


# --- writes: geometries ---------------------------------------------------------------------------

@PROPS
@given(geom=bad_polygons())
def test_bad_grid_polygons_are_4xx_and_change_nothing(client, untouched, geom):
    body = grid("G70")
    body["geometry"] = geom
    problem(_post(client, "/grids", body), "geometry")
    fid = 1  # a seeded grid: the same polygon as its new boundary
    problem(client.put(f"/grids/{fid}", content=json.dumps(body | {"properties": {**body["properties"], "code": "G00"}}),
                       headers={"content-type": "application/json"}), "geometry")
    untouched()


@PROPS
@given(pos=bad_points())
def test_bad_station_points_are_4xx_and_change_nothing(client, untouched, pos):
    body = station("st-p")
    body["geometry"]["coordinates"] = pos
    problem(_post(client, "/stations", body), "geometry")
    problem(client.put("/stations/1", content=json.dumps(station("s0") | {"geometry": body["geometry"]}),
                       headers={"content-type": "application/json"}), "geometry")
    untouched()


@PROPS
@given(pos=bad_points().filter(lambda p: len(p) == 2), bulk=st.booleans())  # incidents: lon and lat fields
def test_bad_incident_points_are_4xx_and_change_nothing(client, untouched, pos, bulk):
    body = incident("p-1", lon=pos[0], lat=pos[1])
    if bulk:
        r = _post(client, "/incidents/bulk", [incident("p-0"), body])  # all or nothing: the good one is not written
    else:
        r = _post(client, "/incidents", body)
    problem(r, "geometry")
    untouched()


# --- writes: times ------------------------------------------------------------------------------

def _readable(s: str) -> bool:
    """Whether pydantic/gridmap could read ``s`` as a time at all (then it is not 'invalid')."""
    try:
        datetime.fromisoformat(s.strip())
        return True
    except ValueError:
        return False


bad_time_text = st.one_of(
    st.text(max_size=40),
    st.from_regex(r"\A\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?[+-]\d{2}:\d{2}\Z"),  # out-of-range parts
    st.integers(-10**12, 10**12).map(str),  # seconds since 1970 are not a time here
)
out_of_years = st.one_of(st.integers(1, 1899), st.integers(2200, 9999))


@PROPS
@given(value=st.one_of(bad_time_text.filter(lambda s: not _readable(s)),
                       out_of_years.map(lambda y: f"{y:04d}-06-01T08:00:00+08:00")))
def test_bad_reported_at_is_4xx_and_changes_nothing(client, untouched, value):
    problem(_post(client, "/incidents", incident("t-1", reported_at=value)), "reported_at")
    problem(_post(client, "/incidents/bulk", [incident("t-0"), incident("t-2", reported_at=value)]), "reported_at")
    untouched()


FILTERS = ("/incidents", "/incidents/stats", "/incidents/heatmap")


@PROPS
@given(value=st.one_of(bad_time_text.filter(lambda s: not _readable(s)),
                       out_of_years.map(lambda y: f"{y:04d}-01-01")),
       which=st.sampled_from(["from", "to"]), path=st.sampled_from(FILTERS))
def test_bad_filter_times_are_4xx(client, untouched, value, which, path):
    problem(client.get(path, params={which: value}), which)
    untouched()


offsets = st.integers(-23 * 60 - 59, 23 * 60 + 59).map(lambda m: timezone(timedelta(minutes=m)))
instants = st.datetimes(datetime(2024, 6, 1), datetime(2025, 10, 1)).map(lambda t: t.replace(tzinfo=timezone.utc))


@pytest.fixture
def timed(world, client):
    """Six incidents a month apart (UTC instants kept for the independent count)."""
    times = [datetime(2025, 1, 15, 2, 30, tzinfo=timezone.utc) + timedelta(days=30 * k) for k in range(6)]
    for k, t in enumerate(times):
        r = client.post("/incidents", json=incident(f"w-{k}", reported_at=t.isoformat()))
        assert r.status_code == 201, r.text
    return times


@PROPS
@given(a=instants, b=instants, oa=offsets, ob=offsets, path=st.sampled_from(FILTERS))
def test_windows_with_any_offsets_count_what_python_counts(client, timed, untouched, a, b, oa, ob, path):
    # (untouched is taken after timed wrote its incidents: reads change nothing)
    assume(a != b)
    start, end = a.astimezone(oa), b.astimezone(ob)  # the same instants written with odd offsets
    r = client.get(path, params={"from": start.isoformat(), "to": end.isoformat()})
    if a > b:  # a reversed window is refused, naming both ends
        assert 400 <= r.status_code < 500, r.text
        problem(r, "from")
    else:
        assert r.status_code == 200, r.text
        expected = sum(a <= t < b for t in timed)
        if path == "/incidents":
            assert r.json()["numberMatched"] == expected
        elif path == "/incidents/stats":
            assert r.json()["totals"]["incidents"] == expected
    untouched()
