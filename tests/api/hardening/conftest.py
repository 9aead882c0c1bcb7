"""A small world for the hardening tests: one town, two communities, 2 x 2 square grids, a few
stations and dwellings, written straight into the tables (SQL), so the tests see the API alone."""

from __future__ import annotations

import pytest
from shapely.geometry import MultiPolygon, box, mapping
from sqlalchemy import insert, text

from api.db.models import areas, dwellings, grids, stations

REGION = "320281"
X0, Y0 = 120.28, 31.90  # near Jiangyin
CELL = 0.004  # degrees


def _ewkt(geom) -> str:
    return f"SRID=4326;{geom.wkt}"


def cell(i: int, j: int):
    return box(X0 + i * CELL, Y0 + j * CELL, X0 + (i + 1) * CELL, Y0 + (j + 1) * CELL)


def seed(engine) -> None:
    with engine.begin() as conn:
        conn.execute(insert(areas), [
            dict(region_code=REGION, code="T1", name="城东街道", level="town", parent_code=None,
                 geom=_ewkt(MultiPolygon([box(X0, Y0, X0 + 2 * CELL, Y0 + 2 * CELL)]))),
            *[dict(region_code=REGION, code=f"C{i}", name=f"社区{i}", level="community", parent_code="T1",
                   geom=_ewkt(MultiPolygon([box(X0 + i * CELL, Y0, X0 + (i + 1) * CELL, Y0 + 2 * CELL)])))
              for i in (0, 1)],
        ])
        for i in (0, 1):
            for j in (0, 1):
                conn.execute(insert(grids).values(
                    region_code=REGION, code=f"G{i}{j}", name=f"第{i}{j}网格", community_code=f"C{i}",
                    town_code="T1", chief="张三", worker="李四", phone="0510-1234",
                    geom=_ewkt(MultiPolygon([cell(i, j)]))))
        conn.execute(insert(dwellings), [
            dict(region_code=REGION, source_id=f"d{k}", households=10, community_code=f"C{k % 2}",
                 geom=f"SRID=4326;POINT({X0 + (k % 2) * CELL + 0.001 + 0.0003 * (k // 2)} {Y0 + 0.001})")
            for k in range(8)
        ])
        conn.execute(insert(stations), [
            dict(region_code=REGION, source_id=f"s{k}", name=f"站点{k}", kind="service_centre",
                 community_code=f"C{k}", geom=f"SRID=4326;POINT({X0 + k * CELL + 0.002} {Y0 + 0.002})")
            for k in (0, 1)
        ])


def station(source_id="st-1", lon=X0 + 0.001, lat=Y0 + 0.001, **props) -> dict:
    p = {"source_id": source_id, "name": "城东党群服务中心", "kind": "service_centre", **props}
    return {"type": "Feature", "geometry": {"type": "Point", "coordinates": [lon, lat]},
            "properties": {k: v for k, v in p.items() if v is not ...}}


def grid(code="G99", poly=None, **props) -> dict:
    poly = poly or box(X0 + 0.0005, Y0 + 0.0005, X0 + 0.0035, Y0 + 0.0035)
    p = {"code": code, "name": "新网格", "community_code": "C0", "chief": "张三", **props}
    return {"type": "Feature", "geometry": mapping(poly), "properties": {k: v for k, v in p.items() if v is not ...}}


def incident(eid="h-1", lon=X0 + 0.001, lat=Y0 + 0.001, **props) -> dict:
    return {"external_id": eid, "category": "dispute", "reported_at": "2025-02-01T09:00:00+08:00",
            "lon": lon, "lat": lat, **props}


def counts(engine) -> dict:
    with engine.connect() as conn:
        return {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()
                for t in ("stations", "grids", "dwellings", "incidents", "incident_events", "idempotency_keys")}


def assert_problem(r, status, field=None, words=()):
    """``r`` is an RFC 9457 problem with ``status``, naming ``field`` among its errors."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json"), r.headers
    body = r.json()
    assert {"type", "title", "status", "detail"} <= set(body) and body["status"] == status, body
    said = (body["detail"] + " " + " ".join(str(e.get("reason", "")) for e in body.get("errors", []))).lower()
    if field:
        assert field in {e.get("field") for e in body.get("errors", [])}, body
    for w in words:
        assert w.lower() in said, (w, body)
    return body


@pytest.fixture
def settings(settings):
    # the grids written here lie on seeded grids of the same community: overlaps are not the topic
    return settings.model_copy(update={"grid_overlap_m2": 1e12})


@pytest.fixture
def world(db):
    seed(db)
    return db
