"""The features world of the read and write API tests: one town, two communities (west and east
halves), nx x ny square grids near Jiangyin, random dwellings and stations, and one grid (G00) with
a historical boundary version, inserted straight into the tables (``seed``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import numpy as np
import shapely
from shapely.geometry import MultiPolygon, box
from sqlalchemy import insert

from api.db.models import areas, dwellings, grids, stations

REGION = "320281"
X0, Y0 = 120.28, 31.90  # near Jiangyin


CELL = 0.004  # degrees; one grid cell


KINDS = ("service_centre", "grid_station", "neighbourhood_point", "elderly_canteen")


@dataclass
class World:
    grid_cells: dict[str, shapely.Polygon]  # code -> current geometry
    points: np.ndarray  # dwellings lon/lat
    households: np.ndarray
    station_kinds: list[str]
    old_version_at: datetime  # an instant when grid G00 had its old boundary


def _mp(poly) -> str:
    return MultiPolygon([poly]).wkt


def _ewkt(wkt: str) -> str:
    return f"SRID=4326;{wkt}"


def seed(engine, nx: int = 4, ny: int = 3, n_dwellings: int = 300, n_stations: int = 40, seed: int = 7) -> World:
    """One town, two communities (west/east halves), nx*ny square grids, random dwellings and
    stations, and one grid (G00) with a historical boundary version."""
    rng = np.random.default_rng(seed)
    cells: dict[str, shapely.Polygon] = {}
    grid_rows, area_rows = [], []
    half = nx // 2
    for c, (lo, hi) in enumerate(((0, half), (half, nx))):
        area_rows.append(dict(region_code=REGION, code=f"C{c}", name=f"社区{c}", level="community",
                              parent_code="T1", geom=_ewkt(_mp(box(X0 + lo * CELL, Y0, X0 + hi * CELL, Y0 + ny * CELL)))))
    area_rows.append(dict(region_code=REGION, code="T1", name="城东街道", level="town", parent_code=None,
                          geom=_ewkt(_mp(box(X0, Y0, X0 + nx * CELL, Y0 + ny * CELL)))))
    changed = datetime(2024, 1, 1, tzinfo=timezone.utc)
    for i in range(nx):
        for j in range(ny):
            code = f"G{i}{j}"
            poly = box(X0 + i * CELL, Y0 + j * CELL, X0 + (i + 1) * CELL, Y0 + (j + 1) * CELL)
            cells[code] = poly
            row = dict(region_code=REGION, code=code, name=f"第{i}{j}网格", community_code=f"C{int(i >= half)}",
                       town_code="T1", chief=f"网格长{i}{j}", worker=f"网格员{i}{j}", phone="0510-1234",
                       geom=_ewkt(_mp(poly)))
            if code == "G00":
                old = box(X0, Y0, X0 + CELL / 2, Y0 + CELL / 2)
                grid_rows.append({**row, "valid_to": changed, "geom": _ewkt(_mp(old))})
                row["valid_from"] = changed
            grid_rows.append(row)
    pts = np.column_stack([X0 + rng.uniform(0, nx * CELL, n_dwellings), Y0 + rng.uniform(0, ny * CELL, n_dwellings)])
    hh = rng.integers(1, 40, n_dwellings)
    kinds = [KINDS[k] for k in rng.integers(0, len(KINDS), n_stations)]
    spts = np.column_stack([X0 + rng.uniform(0, nx * CELL, n_stations), Y0 + rng.uniform(0, ny * CELL, n_stations)])
    with engine.begin() as conn:
        conn.execute(insert(areas), area_rows)
        for row in grid_rows:  # one by one: rows differ in which columns they set
            conn.execute(insert(grids).values(**row))
        conn.execute(insert(dwellings), [
            dict(region_code=REGION, source_id=f"d{k}", households=int(hh[k]),
                 community_code=f"C{int(pts[k, 0] >= X0 + half * CELL)}",
                 geom=_ewkt(f"POINT({pts[k, 0]} {pts[k, 1]})"))
            for k in range(n_dwellings)
        ])
        conn.execute(insert(stations), [
            dict(region_code=REGION, source_id=f"s{k}", name=f"站点{k}", kind=kinds[k],
                 community_code=f"C{int(spts[k, 0] >= X0 + half * CELL)}",
                 geom=_ewkt(f"POINT({spts[k, 0]} {spts[k, 1]})"))
            for k in range(n_stations)
        ])
    return World(cells, pts, hh, kinds, changed - timedelta(days=30))
