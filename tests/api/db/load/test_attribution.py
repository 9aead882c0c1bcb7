"""One point-in-grid rule (geo.attribution): points on shared edges, on vertices shared by 2, 3 and 4
grids, inside an enclave (a grid filling another's hole) and on the hole's ring get the same grid from
the import (dwellings), the re-attribution after a grid change, the incident intake, the SQL helper
for pages and geo.coverage.assign_to_grids; and that grid is the brute-force answer of the rule
(every covering polygon, smallest code in byte order)."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from sqlalchemy import text

from api.db.load import point_grid_id_sql, reattribute_dwellings
from api.imports import import_frame
from api.settings import Settings
from geo.attribution import grid_index
from geo.coverage import assign_to_grids

REGION = "320281"
X0, Y0, U = 120.0, 31.0, 0.001  # a lattice of 1 U (about 100 m) cells


def box(x0, y0, x1, y1):
    return shapely.box(X0 + x0 * U, Y0 + y0 * U, X0 + x1 * U, Y0 + y1 * U)


def pt(x, y):
    return shapely.Point(X0 + x * U, Y0 + y * U)


#: Codes chosen so that byte order differs from numeric order ("G100" < "G20" < "G3").
HOLE = box(0.5, 0.5, 1.5, 1.5)
GRIDS = {
    "G20": box(0, 0, 2, 2).difference(HOLE),  # lower left, with a hole ...
    "G99": HOLE,                              # ... filled by an enclave grid
    "G3": box(2, 0, 4, 2),                    # lower right
    "G100": box(0, 2, 2, 4),                  # upper left
    "G21": box(2, 2, 3, 4),                   # upper right, in two: a T-junction at (3, 2)
    "G11": box(3, 2, 4, 4),
}
COMMUNITY = box(0, 0, 4, 5)  # one community; its strip y in [4, 5] has no grid

#: name -> (point, the grids that cover it)
POINTS = {
    "edge of 2 (G20|G3)": (pt(2, 1), {"G20", "G3"}),
    "edge of 2 (G20|G100)": (pt(1, 2), {"G20", "G100"}),
    "vertex of 2": (pt(2, 0), {"G20", "G3"}),
    "vertex of 3 (T-junction)": (pt(3, 2), {"G3", "G21", "G11"}),
    "vertex of 4": (pt(2, 2), {"G20", "G3", "G100", "G21"}),
    "inside the enclave": (pt(1, 1), {"G99"}),
    "on the hole's ring": (pt(0.5, 1), {"G20", "G99"}),
    "on a vertex of the hole": (pt(1.5, 1.5), {"G20", "G99"}),
    "interior": (pt(3.5, 1), {"G3"}),
    "in the community, no grid": (pt(1, 4.5), set()),
}


def brute_force(point) -> str | None:
    """The rule by hand: every grid whose polygon covers the point, the smallest code in str order."""
    covering = sorted(code for code, poly in GRIDS.items() if poly.intersects(point))
    return covering[0] if covering else None


def expected() -> dict[str, str | None]:
    return {name: brute_force(p) for name, (p, _) in POINTS.items()}


def test_the_world_is_what_the_cases_say():
    """The setup itself: each point is covered by exactly the grids its case names."""
    for name, (p, covering) in POINTS.items():
        assert {c for c, poly in GRIDS.items() if poly.intersects(p)} == covering, name
    want = expected()
    assert want["vertex of 4"] == "G100" and want["edge of 2 (G20|G3)"] == "G20"  # byte order, not numeric
    assert want["inside the enclave"] == "G99" and want["on the hole's ring"] == "G20"


def areas_frame():
    return gpd.GeoDataFrame({"region_code": [REGION] * 2, "code": ["T1", "C1"], "name": ["街道", "社区"],
                             "level": ["town", "community"], "parent_code": [None, "T1"]},
                            geometry=[COMMUNITY, COMMUNITY], crs=4326)


def grids_frame(geoms: dict):
    return gpd.GeoDataFrame({"region_code": REGION, "code": list(geoms), "name": list(geoms),
                             "community_code": "C1", "town_code": "T1"}, geometry=list(geoms.values()), crs=4326)


def dwellings_frame():
    return gpd.GeoDataFrame({"region_code": REGION, "source_id": list(POINTS), "households": 1},
                            geometry=[p for p, _ in POINTS.values()], crs=4326)


def incidents_frame(reported_at: str):
    return gpd.GeoDataFrame({"region_code": REGION, "external_id": [f"{n} @ {reported_at}" for n in POINTS],
                             "category": "parking", "reported_at": reported_at},
                            geometry=[p for p, _ in POINTS.values()], crs=4326)


def dwelling_grids(conn) -> dict:
    return dict(conn.execute(text("SELECT source_id, grid_code FROM dwellings")).all())


def incident_grids(conn, reported_at: str) -> dict:
    rows = conn.execute(text("SELECT external_id, grid_code FROM incidents")).all()
    return {k.split(" @ ")[0]: v for k, v in rows if k.endswith(f"@ {reported_at}")}


@pytest.fixture
def settings_():
    return Settings(region_code=REGION, _env_file=None)


def test_import_reattribution_intake_pages_and_coverage_agree(db, settings_):
    want = expected()
    with db.begin() as conn:
        import_frame(conn, "areas", areas_frame(), settings_)
        import_frame(conn, "grids", grids_frame(GRIDS), settings_)
        import_frame(conn, "dwellings", dwellings_frame(), settings_)  # import attribution
        import_frame(conn, "incidents", incidents_frame("2025-06-01T08:00:00+08:00"), settings_)  # intake
    with db.connect() as conn:
        assert dwelling_grids(conn) == want
        assert incident_grids(conn, "2025-06-01T08:00:00+08:00") == want
        pages = {name: conn.execute(text(f"SELECT code FROM grids WHERE id = {point_grid_id_sql(':p')}"
                                         .replace(":p", "ST_GeomFromText(:wkt, 4326)")),
                                    {"wkt": p.wkt}).scalar() for name, (p, _) in POINTS.items()}
        assert pages == want
        stored = gpd.read_postgis("SELECT id, code, community_code, town_code, geom FROM grids "
                                  "WHERE valid_to IS NULL", conn, geom_col="geom")
    coverage = assign_to_grids(dwellings_frame().drop(columns="source_id"), stored)["grid_code"]
    assert dict(zip(POINTS, (None if pd.isna(c) else c for c in coverage))) == want


def test_reattribution_after_grid_edits_follows_the_rule(db, settings_):
    """Dwellings and incidents attributed to one big grid first; the real grids then replace it:
    the re-attribution gives every point the grid of the rule, and a whole-region re-derivation
    changes nothing."""
    want = expected()
    big = {"Z": box(0, 0, 4, 4)}
    with db.begin() as conn:
        import_frame(conn, "areas", areas_frame(), settings_)
        import_frame(conn, "grids", grids_frame(big), settings_)
        import_frame(conn, "dwellings", dwellings_frame(), settings_)
        import_frame(conn, "incidents", incidents_frame("2025-06-01T08:00:00+08:00"), settings_)
    with db.connect() as conn:
        assert set(dwelling_grids(conn).values()) == {"Z", None}
    with db.begin() as conn:
        report = import_frame(conn, "grids", grids_frame(GRIDS), settings_, replace=True)
    assert report.closed == 1 and report.dwellings_reattributed == sum(v is not None for v in want.values())
    with db.begin() as conn:
        assert dwelling_grids(conn) == want
        assert incident_grids(conn, "2025-06-01T08:00:00+08:00") == want
        assert reattribute_dwellings(conn, REGION) == 0


def test_geo_rule_against_brute_force_on_random_lattice_points():
    """grid_index against the brute force on points snapped to the lattice (many on edges and
    vertices) and random ones; ids break ties between equal codes."""
    rng = np.random.default_rng(5)
    xy = np.r_[rng.integers(0, 9, (300, 2)) / 2, rng.uniform(-0.5, 4.5, (300, 2))]
    points = [pt(x, y) for x, y in xy]
    codes = list(GRIDS)
    at = grid_index(points, list(GRIDS.values()), codes)
    got = [codes[i] if i >= 0 else None for i in at]
    assert got == [brute_force(p) for p in points]
    # equal codes: the smaller id wins, wherever it sits in the input
    twins = [box(0, 0, 2, 2), box(0, 0, 2, 2)]
    assert list(grid_index([pt(1, 1), pt(3, 3)], twins, ["A", "A"], ids=[7, 3])) == [1, -1]
    assert list(grid_index([pt(1, 1)], twins, ["A", "A"], ids=[2, 9])) == [0]


def test_statistics_counted_stations_and_grid_households_follow_the_rule(db, client, settings_):
    """Every other place that asks which grid a point is in gives the rule's grid too: the grid
    households of ``/collections/grids/items``, the incident statistics' households of dwellings
    not yet attributed, and the stations a coverage page counts in an area (a point on a shared edge
    or vertex counted once, in the rule's grid)."""
    import datetime as dt
    from collections import Counter

    from api.coverage import counted_kinds
    from api.incidents.filters import IncidentFilter
    from api.incidents.stats import area_stats
    from api.jurisdiction import EVERYWHERE

    want = expected()
    per_grid = Counter(code for code in want.values() if code is not None)
    stations = dwellings_frame().assign(kind="service_centre", name=list(POINTS))
    with db.begin() as conn:
        import_frame(conn, "areas", areas_frame(), settings_)
        import_frame(conn, "grids", grids_frame(GRIDS), settings_)
        import_frame(conn, "dwellings", dwellings_frame(), settings_)
        import_frame(conn, "stations", stations.drop(columns="households"), settings_, allow_outside=True)
    body = client.get("/collections/grids/items?limit=100").json()
    assert {f["properties"]["code"]: f["properties"]["households"] for f in body["features"]} == \
        {code: per_grid.get(code, 0) for code in GRIDS}
    with db.begin() as conn:
        conn.execute(text("UPDATE dwellings SET grid_code = NULL"))  # not attributed yet: the stats decide
        rows = area_stats(conn, EVERYWHERE, IncidentFilter(), tz="Asia/Shanghai", level="grid", min_count=0,
                          period=None, with_totals=False, percentiles=False).rows
        assert dict(zip(rows["code"], rows["households"].fillna(0).astype(int))) == {code: per_grid.get(code, 0)
                                                                           for code in GRIDS}
        conn.rollback()
    with db.connect() as conn:
        counted = {code: counted_kinds(conn, EVERYWHERE, kinds=None, at=dt.date.today(), area=code)
                   .get("service_centre", 0) for code in GRIDS}
        in_community = counted_kinds(conn, EVERYWHERE, kinds=None, at=dt.date.today(), area="C1")
    assert counted == {code: per_grid.get(code, 0) for code in GRIDS}
    assert in_community == {"service_centre": sum(per_grid.values())}
