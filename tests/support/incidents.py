"""A tiny hand-made world for the incident tests (``make_world``, ``incident_frame``).

Town T1 with communities C1 (west) and C2 (east); four grids 0.01 degrees square:

    lat 31.91-31.92   G3 (C1)   G4 (C2)
    lat 31.90-31.91   G1 (C1)   G2 (C2)
                  lon 120.00   120.01   120.02

G1 has two versions: until CHANGE it spans lon 120.000-120.010, from CHANGE on it shrinks to
120.000-120.005 and G2 grows west to 120.005 (G2 also has two versions).  Community C1's area
polygon extends west to 119.99 beyond the grids, so a point at lon 119.995 is outside every grid
but inside C1.  Dwellings: G1 300 households, G2 200, G3 100, G4 0 (none).
"""

from __future__ import annotations

from datetime import datetime, timezone

import geopandas as gpd
from shapely.geometry import Point
from sqlalchemy import text

REGION = "320281"
CHANGE = datetime(2025, 3, 1, tzinfo=timezone.utc)
HOUSEHOLDS = {"G1": 300, "G2": 200, "G3": 100}


def box(x0, y0, x1, y1) -> str:
    return f"MULTIPOLYGON((({x0} {y0}, {x1} {y0}, {x1} {y1}, {x0} {y1}, {x0} {y0})))"


GRIDS = [  # code, community, valid_from, valid_to, geometry
    ("G1", "C1", None, CHANGE, box(120.0, 31.90, 120.01, 31.91)),
    ("G1", "C1", CHANGE, None, box(120.0, 31.90, 120.005, 31.91)),
    ("G2", "C2", None, CHANGE, box(120.01, 31.90, 120.02, 31.91)),
    ("G2", "C2", CHANGE, None, box(120.005, 31.90, 120.02, 31.91)),
    ("G3", "C1", None, None, box(120.0, 31.91, 120.01, 31.92)),
    ("G4", "C2", None, None, box(120.01, 31.91, 120.02, 31.92)),
]


def make_world(engine) -> None:
    """Write the areas, grid versions and dwellings above (the database must be empty)."""
    with engine.begin() as conn:
        areas = [
            ("T1", "Town 1", "town", None, box(119.98, 31.89, 120.03, 31.93)),
            ("C1", "Community 1", "community", "T1", box(119.99, 31.90, 120.01, 31.92)),
            ("C2", "Community 2", "community", "T1", box(120.01, 31.90, 120.02, 31.92)),
        ]
        for code, name, level, parent, wkt in areas:
            conn.execute(text(
                "INSERT INTO areas (region_code, code, name, level, parent_code, geom) "
                "VALUES (:r, :c, :n, :l, :p, ST_GeomFromText(:w, 4326))"),
                {"r": REGION, "c": code, "n": name, "l": level, "p": parent, "w": wkt})
        for code, comm, vf, vt, wkt in GRIDS:
            conn.execute(text(
                "INSERT INTO grids (region_code, code, name, community_code, valid_from, valid_to, geom) "
                "VALUES (:r, :c, :c, :cm, COALESCE(CAST(:vf AS timestamptz), '-infinity'), :vt, "
                "ST_GeomFromText(:w, 4326))"),
                {"r": REGION, "c": code, "cm": comm, "vf": vf, "vt": vt, "w": wkt})
        centres = {"G1": (120.002, 31.905), "G2": (120.015, 31.905), "G3": (120.005, 31.915)}
        for code, hh in HOUSEHOLDS.items():
            x, y = centres[code]
            comm = "C1" if code in ("G1", "G3") else "C2"
            for k in range(2):  # two buildings a grid
                conn.execute(text(
                    "INSERT INTO dwellings (region_code, source_id, households, community_code, grid_code, geom) "
                    "VALUES (:r, :s, :h, :cm, :g, ST_SetSRID(ST_MakePoint(:x, :y), 4326))"),
                    {"r": REGION, "s": f"{code}-{k}", "h": hh // 2, "cm": comm, "g": code,
                     "x": x + k * 1e-4, "y": y})


def incident_frame(rows: list[dict]) -> gpd.GeoDataFrame:
    """GeoDataFrame (EPSG:4326) from dicts with ``lon``/``lat`` and incident columns."""
    geoms = [Point(r["lon"], r["lat"]) if r.get("lon") is not None else None for r in rows]
    data = [{k: v for k, v in r.items() if k not in ("lon", "lat")} for r in rows]
    return gpd.GeoDataFrame(data, geometry=geoms, crs=4326)
