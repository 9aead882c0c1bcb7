"""The heatmap's data path (binary COPY into numpy, frames by local week/month) checked against
plain SQL, the page cache keyed by data versions, and the embedded data's escaping."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import numpy as np
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_app
from api.incidents.filters import IncidentFilter
from api.incidents.heat import heat_frames, incident_points
from api.jurisdiction import EVERYWHERE, Jurisdiction

from tests.support.city import WINDOW, make_city

CST = timezone(timedelta(hours=8))
X0, Y0 = 120.0, 31.9  # make_city's south-west corner


def _sql_points(conn, where: str = "true", params: dict | None = None) -> np.ndarray:
    rows = conn.execute(text(
        "SELECT ST_X(geom), ST_Y(geom), extract(epoch FROM reported_at)::float8 FROM incidents "
        f"WHERE {where} ORDER BY 1, 2, 3"), params or {}).all()
    return np.array(rows, dtype=float).reshape(-1, 3)


def _sorted(lon, lat, t) -> np.ndarray:
    a = np.column_stack([lon, lat, t])
    return a[np.lexsort((a[:, 2], a[:, 1], a[:, 0]))]


def test_incident_points_match_sql(db):
    make_city(db, 2500)
    a, b = datetime(2025, 3, 1, tzinfo=CST), datetime(2025, 9, 1, tzinfo=CST)
    with db.connect() as conn:
        got = _sorted(*incident_points(conn, EVERYWHERE, IncidentFilter(start=a, end=b)))
        exp = _sql_points(conn, "reported_at >= :a AND reported_at < :b", {"a": a, "b": b})
        assert 0 < len(got) < 2500 and got.shape == exp.shape
        np.testing.assert_allclose(got[:, :2], exp[:, :2], rtol=0, atol=1e-12)
        np.testing.assert_allclose(got[:, 2], exp[:, 2], rtol=0, atol=1e-6)
        park = _sorted(*incident_points(conn, EVERYWHERE, IncidentFilter(categories=("parking",))))
        assert len(park) == len(_sql_points(conn, "category = 'parking'")) > 0
        outside = incident_points(conn, Jurisdiction(frozenset({"999999"})), IncidentFilter())
        assert all(len(x) == 0 for x in outside)
        empty = incident_points(conn, EVERYWHERE, IncidentFilter(start=datetime(2030, 1, 1, tzinfo=CST),
                                                                 end=datetime(2030, 2, 1, tzinfo=CST)))
        assert all(len(x) == 0 for x in empty)


def test_frames_follow_local_weeks_and_months(db, settings):
    """Incidents either side of local midnight at a week's and a month's start land in the frame
    PostgreSQL's date_trunc(..., 'Asia/Shanghai') gives them, raw and binned."""
    make_city(db, 300)
    edges = [datetime(2025, 6, 1, 0, 30, tzinfo=CST), datetime(2025, 5, 31, 23, 30, tzinfo=CST),  # month edge
             datetime(2025, 6, 9, 0, 10, tzinfo=CST), datetime(2025, 6, 8, 23, 50, tzinfo=CST)]  # Monday edge
    with db.begin() as conn:
        conn.execute(text(
            "INSERT INTO incidents (region_code, external_id, category, reported_at, grid_code, geom) "
            "SELECT '320281', 'edge' || i, 'dispute', t, 'G00', ST_SetSRID(ST_MakePoint(120.001, 31.901), 4326) "
            "FROM unnest(CAST(:t AS timestamptz[])) WITH ORDINALITY AS u(t, i)"), {"t": edges})
    start, end = datetime(2025, 1, 1, tzinfo=CST), datetime(2026, 1, 1, tzinfo=CST)
    for period in ("month", "week"):
        with db.connect() as conn:
            exp = dict(conn.execute(text(
                "SELECT to_char(date_trunc(:p, reported_at, 'Asia/Shanghai') AT TIME ZONE 'Asia/Shanghai', "
                "CASE WHEN :p = 'week' THEN 'YYYY-MM-DD' ELSE 'YYYY-MM' END), count(*) FROM incidents "
                "WHERE reported_at >= :a AND reported_at < :b GROUP BY 1"), {"p": period, "a": start, "b": end}).all())
            raw = heat_frames(conn, settings, EVERYWHERE, IncidentFilter(start=start, end=end), period=period)
            small = settings.model_copy(update={"heatmap_max_points": 10})
            binned = heat_frames(conn, small, EVERYWHERE, IncidentFilter(start=start, end=end), period=period)
        assert raw["mode"] == "raw" and binned["mode"] == "binned" and raw["n"] == binned["n"] == sum(exp.values())
        got = {label: len(f) for label, f in zip(raw["labels"], raw["frames"]) if f}
        assert got == exp, period
        assert {label for label, f in zip(binned["labels"], binned["frames"]) if f} == set(exp)
        assert all(0 < p[2] <= 1 for f in binned["frames"] for p in f)
        assert max(p[2] for f in binned["frames"] for p in f) == 1.0


def _count(page: str) -> int:
    """The incident count the page's note states."""
    note = page.split("gridmap-incident-mode", 1)[1].split(">", 1)[1].split("<", 1)[0]
    return int(re.search(r"\d+", note).group())


def test_page_cache_follows_data_versions(db, settings):
    make_city(db, 800)
    params = {"lang": "en", **WINDOW}
    with TestClient(create_app(settings)) as c:
        first = c.get("/incidents/heatmap", params=params)
        again = c.get("/incidents/heatmap", params=params)
        other = c.get("/incidents/heatmap", params={**params, "period": "week"})
        assert first.headers["x-gridmap-cache"] == "miss" and again.headers["x-gridmap-cache"] == "hit"
        assert again.text == first.text and other.headers["x-gridmap-cache"] == "miss"
        n0 = _count(first.text)
        r = c.post("/incidents", json={"external_id": "late-1", "category": "parking", "lon": X0 + 0.001,
                                       "lat": Y0 + 0.001, "reported_at": "2025-07-01T10:00:00+08:00"})
        assert r.status_code in (200, 201), r.text
        after = c.get("/incidents/heatmap", params=params)
        assert after.headers["x-gridmap-cache"] == "miss"
        assert _count(after.text) == n0 + 1
        with db.begin() as conn:  # a grid change (no incident written) also invalidates
            conn.execute(text("UPDATE grids SET name = 'renamed' WHERE code = 'G00'"))
        renamed = c.get("/incidents/heatmap", params=params)
        assert renamed.headers["x-gridmap-cache"] == "miss" and '"renamed"' in renamed.text


def test_embedded_data_cannot_close_the_script(db, settings):
    make_city(db, 200)
    evil = "</script><script>alert(1)</script>"
    with db.begin() as conn:
        conn.execute(text("UPDATE grids SET name = :n WHERE code = 'G00'"), {"n": evil})
    with TestClient(create_app(settings)) as c:
        page = c.get("/incidents/heatmap", params={"lang": "en", **WINDOW}).text
    assert evil not in page and "\\u003c/script>\\u003cscript>alert(1)\\u003c/script>" in page
