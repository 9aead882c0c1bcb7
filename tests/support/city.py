"""The incident city of the heatmap and hotspot tests: N x N grids of 0.005 degrees in 4 communities
of one town, one dwelling a grid, incidents clustered around one corner over a year.

``WINDOW`` is the query window (``from``/``to``) that holds every incident of the city.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
from sqlalchemy import text

REGION = "320281"
N = 8  # N x N grids of 0.005 degrees
X0, Y0, D = 120.0, 31.9, 0.005
END = datetime(2025, 12, 31, tzinfo=timezone.utc)
WINDOW = {"from": "2024-12-01T00:00:00+08:00", "to": "2026-01-01T00:00:00+08:00"}


def make_city(engine, n_incidents: int, seed: int = 1) -> None:
    """N x N grids in 4 communities of one town, 150-450 households a grid, incidents clustered
    around one corner over a year, half resolved."""
    rng = np.random.default_rng(seed)
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO areas (region_code, code, name, level, parent_code, geom) VALUES "
            "(:r, 'T1', '示例镇', 'town', NULL, ST_Multi(ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4326)))"),
            {"r": REGION, "x0": X0, "y0": Y0, "x1": X0 + N * D, "y1": Y0 + N * D})
        h = N // 2
        for k, (cx, cy) in enumerate([(0, 0), (1, 0), (0, 1), (1, 1)]):
            conn.execute(text(
                "INSERT INTO areas (region_code, code, name, level, parent_code, geom) VALUES "
                "(:r, :c, :c, 'community', 'T1', ST_Multi(ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4326)))"),
                {"r": REGION, "c": f"C{k}", "x0": X0 + cx * h * D, "y0": Y0 + cy * h * D,
                 "x1": X0 + (cx + 1) * h * D, "y1": Y0 + (cy + 1) * h * D})
        for i in range(N):
            for j in range(N):
                code, comm = f"G{i}{j}", f"C{(i >= h) + 2 * (j >= h)}"
                conn.execute(text(
                    "INSERT INTO grids (region_code, code, name, community_code, town_code, geom) VALUES "
                    "(:r, :c, :c, :cm, 'T1', ST_Multi(ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4326)))"),
                    {"r": REGION, "c": code, "cm": comm, "x0": X0 + i * D, "y0": Y0 + j * D,
                     "x1": X0 + (i + 1) * D, "y1": Y0 + (j + 1) * D})
                conn.execute(text(
                    "INSERT INTO dwellings (region_code, source_id, households, community_code, grid_code, geom) "
                    "VALUES (:r, :c, :h, :cm, :c, ST_SetSRID(ST_MakePoint(:x, :y), 4326))"),
                    {"r": REGION, "c": code, "h": int(rng.integers(150, 450)), "cm": comm,
                     "x": X0 + (i + 0.5) * D, "y": Y0 + (j + 0.5) * D})
        hot = rng.random(n_incidents) < 0.4
        lon = np.where(hot, rng.normal(X0 + 1.5 * D, 0.004, n_incidents), rng.uniform(X0, X0 + N * D, n_incidents))
        lat = np.where(hot, rng.normal(Y0 + 1.5 * D, 0.004, n_incidents), rng.uniform(Y0, Y0 + N * D, n_incidents))
        lon = np.clip(lon, X0 + 1e-6, X0 + N * D - 1e-6)
        lat = np.clip(lat, Y0 + 1e-6, Y0 + N * D - 1e-6)
        conn.execute(text(
            "INSERT INTO incidents (region_code, external_id, category, reported_at, status, closed_at, "
            "grid_code, community_code, town_code, due_at, geom) "
            "SELECT :r, 'p' || i, CASE WHEN i % 3 = 0 THEN 'parking' ELSE 'dispute' END, t, "
            "CASE WHEN i % 2 = 0 THEN 'resolved' ELSE 'reported' END, "
            "CASE WHEN i % 2 = 0 THEN t + interval '20 hours' END, "
            "'G' || floor((x - :x0) / :d)::int || floor((y - :y0) / :d)::int, NULL, 'T1', t + interval '1 day', "
            "ST_SetSRID(ST_MakePoint(x, y), 4326) "
            "FROM unnest(CAST(:lon AS float8[]), CAST(:lat AS float8[]), CAST(:t AS timestamptz[])) "
            "WITH ORDINALITY AS u(x, y, t, i)"),
            {"r": REGION, "lon": lon.tolist(), "lat": lat.tolist(), "x0": X0, "y0": Y0, "d": D,
             "t": [END - timedelta(days=float(d)) for d in rng.uniform(1, 360, n_incidents)]})
