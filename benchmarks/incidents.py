"""Incident benchmark: bulk intake with grid attribution, statistics, the heatmap page.

City: geo.sample.make_district is not in the tree yet, so this script builds its own county-sized
city directly in SQL: 42 x 39 = 1,638 grids (0.01 x 0.008 degrees, edges densified to ~40 vertices
so point-in-polygon is not trivial; 10% of grids have two boundary versions), 273 communities in
14 towns, 100,000 dwellings holding ~500,000 households; then 1,000,000 incidents over ten years
(clustered + uniform, realistic statuses).  All in a scratch embedded PostGIS that is destroyed at
the end.

Figures printed (targets from issue 4):
- bulk intake incl. validation + grid attribution + events: >= 5,000 incidents/s
- stats one town one month: <= 300 ms; whole city one year: <= 2 s
- heatmap page, whole city, one year: <= 1 s server time and <= 2 MB; baseline beside it:
  folium's raw-point HeatMap of the same incidents (page size, build time), same run.

Run:  .venv/bin/python benchmarks/incidents.py [--incidents 1000000]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from api.db.embedded import EmbeddedPostgres  # noqa: E402
from api.db.engine import make_engine  # noqa: E402
from api.db.migrate import upgrade  # noqa: E402
from api.incidents.intake import ingest_frame, validate_incidents, known_categories  # noqa: E402
from api.incidents.stats import area_stats  # noqa: E402
from api.jurisdiction import EVERYWHERE  # noqa: E402
from api.settings import Settings  # noqa: E402

REGION = "320281"
COLS, ROWS, DX, DY = 42, 39, 0.01, 0.008
X0, Y0 = 120.05, 31.70
NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)


def build_city(engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("""
        INSERT INTO grids (region_code, code, name, community_code, town_code, valid_from, geom)
        SELECT :r, format('G%s_%s', i, j), format('网格 %s-%s', i, j),
               format('C%s_%s', i / 2, j / 3), format('T%s_%s', i / 6, j / 21),
               CASE WHEN (i * 7 + j) % 10 = 0 THEN timestamptz '2021-01-01' ELSE '-infinity' END,
               ST_Multi(ST_Segmentize(ST_MakeEnvelope(:x0 + i * :dx, :y0 + j * :dy, :x0 + (i + 1) * :dx,
                                                      :y0 + (j + 1) * :dy, 4326), 0.001))
        FROM generate_series(0, :cols - 1) i, generate_series(0, :rows - 1) j"""),
            dict(r=REGION, x0=X0, y0=Y0, dx=DX, dy=DY, cols=COLS, rows=ROWS))
        # the older version of every 10th grid: shifted half a cell east until 2021
        conn.execute(text("""
        INSERT INTO grids (region_code, code, name, community_code, town_code, valid_from, valid_to, geom)
        SELECT region_code, code, name, community_code, town_code, '-infinity', valid_from,
               ST_Multi(ST_Translate(geom, :dx / 2, 0)) FROM grids WHERE valid_from > '-infinity'"""), dict(dx=DX))
        conn.execute(text("""
        INSERT INTO areas (region_code, code, name, level, parent_code, geom)
        SELECT :r, community_code, community_code, 'community', min(town_code), ST_Multi(ST_Union(geom))
        FROM grids WHERE valid_to IS NULL GROUP BY community_code"""), dict(r=REGION))
        conn.execute(text("""
        INSERT INTO areas (region_code, code, name, level, geom)
        SELECT :r, town_code, town_code, 'town', ST_Multi(ST_Union(geom))
        FROM grids WHERE valid_to IS NULL GROUP BY town_code"""), dict(r=REGION))
        conn.execute(text("""
        INSERT INTO dwellings (region_code, source_id, households, community_code, grid_code, geom)
        SELECT :r, 'd' || k, 5, g.community_code, g.code,
               ST_SetSRID(ST_MakePoint(ST_XMin(g.geom) + random() * :dx, ST_YMin(g.geom) + random() * :dy), 4326)
        FROM generate_series(1, 100000) k
        JOIN grids g ON g.valid_to IS NULL AND g.code = format('G%s_%s', k % :cols, (k / :cols) % :rows)"""),
            dict(r=REGION, dx=DX, dy=DY, cols=COLS, rows=ROWS))
        conn.execute(text("ANALYZE"))


def make_incidents(n: int, seed: int = 42) -> gpd.GeoDataFrame:
    rng = np.random.default_rng(seed)
    w, h = COLS * DX, ROWS * DY
    k = 40
    centres = np.column_stack([X0 + rng.uniform(0, w, k), Y0 + rng.uniform(0, h, k)])
    clustered = rng.random(n) < 0.5
    c = rng.integers(0, k, n)
    lon = np.where(clustered, centres[c, 0] + rng.normal(0, 0.01, n), X0 + rng.uniform(-0.01, w + 0.01, n))
    lat = np.where(clustered, centres[c, 1] + rng.normal(0, 0.008, n), Y0 + rng.uniform(-0.01, h + 0.01, n))
    reported = pd.to_datetime(NOW) - pd.to_timedelta(rng.uniform(1, 3650, n), unit="D")
    cats = np.array(["safety_hazard", "dispute", "environment", "illegal_construction", "property", "parking",
                     "street_light", "elderly_care", "other"])[rng.integers(0, 9, n)]
    age = (pd.to_datetime(NOW) - reported).days.to_numpy()
    u = rng.random(n)
    status = np.where(u < 0.85, "resolved", np.where(u < 0.97, "closed_other", "in_progress"))
    status = np.where((age < 10) & (u > 0.5), "reported", status)
    closed = np.isin(status, ["resolved", "closed_other"])
    closed_at = reported + pd.to_timedelta(np.where(closed, rng.gamma(2.0, 18.0, n), 0), unit="h")
    closed_at = pd.Series(closed_at).where(closed, pd.NaT)
    return gpd.GeoDataFrame({
        "external_id": [f"12345-{i:08d}" for i in range(n)],
        "category": cats, "reported_at": reported, "status": status, "closed_at": closed_at.to_numpy(),
        "close_reason": np.where(status == "closed_other", "duplicate", None),
        "reporter_kind": "hotline_12345",
    }, geometry=gpd.points_from_xy(lon, lat), crs=4326)


def timed(fn, repeat: int = 5):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--incidents", type=int, default=1_000_000)
    ap.add_argument("--chunk", type=int, default=100_000)
    args = ap.parse_args()

    home = Path(tempfile.mkdtemp(prefix="gridmap-bench-inc-"))
    home.chmod(0o755)
    pg = EmbeddedPostgres(home)
    try:
        url = pg.start()
        engine = make_engine(url)
        upgrade(engine)
        t = time.perf_counter()
        build_city(engine)
        with engine.connect() as conn:
            g, hh = conn.execute(text("SELECT (SELECT count(*) FROM grids WHERE valid_to IS NULL), "
                                      "(SELECT sum(households) FROM dwellings)")).one()
        print(f"city (own generator; geo.sample not yet available): {g} grids, {hh} households "
              f"in 100,000 dwellings, built in {time.perf_counter() - t:.1f} s")

        frame = make_incidents(args.incidents)
        print(f"{len(frame):,} incidents generated")

        # --- intake -------------------------------------------------------------------------
        with engine.connect() as conn:
            cats = known_categories(conn)
        t = time.perf_counter()
        validate_incidents(frame.iloc[: args.chunk], cats)
        v_rate = args.chunk / (time.perf_counter() - t)
        t0 = time.perf_counter()
        inserted = outside = 0
        for s in range(0, len(frame), args.chunk):
            with engine.begin() as conn:
                rep = ingest_frame(conn, frame.iloc[s: s + args.chunk], region_code=REGION, actor="bench")
            inserted += rep.inserted
            outside += rep.outside_grid
        dt = time.perf_counter() - t0
        rate = inserted / dt
        print(f"bulk intake: {inserted:,} incidents in {dt:.1f} s = {rate:,.0f}/s "
              f"(target >= 5,000/s: {'OK' if rate >= 5000 else 'MISSED'}); validation alone "
              f"{v_rate:,.0f} rows/s; {outside:,} outside every grid; chunks of {args.chunk:,}, one transaction each")
        t = time.perf_counter()
        with engine.begin() as conn:
            rep = ingest_frame(conn, frame.iloc[: args.chunk], region_code=REGION, actor="bench")
        print(f"retry of a {args.chunk:,} chunk: {rep.inserted} inserted, {rep.duplicates:,} duplicates "
              f"in {time.perf_counter() - t:.2f} s")
        with engine.connect() as conn:  # what autovacuum would have done after the load
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE"))
        with engine.begin() as conn:
            n_ev = conn.execute(text("SELECT count(*) FROM incident_events")).scalar()
            # check attribution on a sample with an independent spatial join in shapely/geopandas
        print(f"incident_events rows: {n_ev:,}")
        with engine.connect() as conn:
            sample = gpd.read_postgis(text(
                "SELECT external_id, grid_code, reported_at, geom FROM incidents TABLESAMPLE SYSTEM (0.5)"),
                conn, geom_col="geom")
            grids = gpd.read_postgis(text("SELECT code, valid_from, valid_to, geom FROM grids"), conn, geom_col="geom")
        j = gpd.sjoin(sample, grids, predicate="intersects", how="left")
        ok = (j.valid_from <= j.reported_at) & (j.valid_to.isna() | (j.valid_to > j.reported_at))
        exp = j[ok].sort_values("code").groupby("external_id")["code"].first()
        got = sample.set_index("external_id")["grid_code"]
        agree = (got.reindex(exp.index) == exp).mean()
        none_ok = got[~got.index.isin(exp.index)].isna().all()
        print(f"attribution check (geopandas sjoin on a {len(sample):,} sample): {agree:.4%} agree, "
              f"outside-grid rows all unattributed: {none_ok}")

        # --- statistics ---------------------------------------------------------------------
        month = (datetime(2025, 6, 1, tzinfo=timezone.utc), datetime(2025, 7, 1, tzinfo=timezone.utc))
        year = (datetime(2025, 1, 1, tzinfo=timezone.utc), datetime(2026, 1, 1, tzinfo=timezone.utc))
        with engine.connect() as conn:
            town = conn.execute(text("SELECT code FROM areas WHERE level = 'town' ORDER BY code LIMIT 1")).scalar()
            for label, kw, target in [
                ("one town, one month, per grid", dict(level="grid", area=town, start=month[0], end=month[1]), 0.3),
                ("whole city, one year, per town", dict(level="town", start=year[0], end=year[1]), 2.0),
                ("whole city, one year, per grid", dict(level="grid", start=year[0], end=year[1]), 2.0),
                ("whole city, one year, per community", dict(level="community", start=year[0], end=year[1]), 2.0),
            ]:
                sec, s = timed(lambda: area_stats(conn, EVERYWHERE, period="month", **kw))
                print(f"stats {label}: {sec * 1000:.0f} ms median of 5 ({len(s.rows)} rows, "
                      f"{s.totals['incidents']:,} incidents; target <= {target * 1000:.0f} ms: "
                      f"{'OK' if sec <= target else 'MISSED'})")

        # --- heatmap page -------------------------------------------------------------------
        import folium
        import folium.plugins

        from api.pages.base import render_page
        from api.pages.incidents import heatmap_map

        settings = Settings(home=home, database_url=url, _env_file=None)
        with engine.connect() as conn:
            def page():
                m, info = heatmap_map(conn, settings, EVERYWHERE, "zh", start=year[0], end=year[1])
                return render_page(m, "heatmap", "zh"), info
            sec, (html_, info) = timed(page, repeat=3)
            print(f"heatmap page, whole city one year ({info['n']:,} incidents, mode {info['mode']}, "
                  f"{info['cell_m']} m cells, {info['frames']} frames): {sec * 1000:.0f} ms, "
                  f"{len(html_.encode()) / 1e6:.2f} MB (targets <= 1000 ms, <= 2 MB)")
            sec_w, (html_w, info_w) = timed(lambda: (render_page(heatmap_map(
                conn, settings, EVERYWHERE, "zh", start=year[0], end=year[1], period="week")[0], "h", "zh"), None),
                repeat=1)
            print(f"heatmap page, whole city one year by week: {sec_w * 1000:.0f} ms, "
                  f"{len(html_w.encode()) / 1e6:.2f} MB")
            sec10, (html10, info10) = timed(lambda: (lambda r: (render_page(r[0], "h", "zh"), r[1]))(heatmap_map(
                conn, settings, EVERYWHERE, "zh", start=NOW - timedelta(days=3660), end=NOW)), repeat=1)
            print(f"heatmap page, whole city ten years ({info10['n']:,} incidents): {sec10 * 1000:.0f} ms, "
                  f"{len(html10.encode()) / 1e6:.2f} MB")
            t = time.perf_counter()
            pts = conn.execute(text("SELECT ST_Y(geom), ST_X(geom) FROM incidents "
                                    "WHERE reported_at >= :a AND reported_at < :b"), {"a": year[0], "b": year[1]}).all()
            m = folium.Map(location=[Y0 + ROWS * DY / 2, X0 + COLS * DX / 2], zoom_start=11, tiles=None)
            folium.plugins.HeatMap([[a, b] for a, b in pts]).add_to(m)
            raw = m.get_root().render()
            dt = time.perf_counter() - t
            print(f"baseline folium raw-point HeatMap of the same {len(pts):,} incidents: {dt * 1000:.0f} ms, "
                  f"{len(raw.encode()) / 1e6:.2f} MB  -> ours is {dt / sec:.1f}x faster and "
                  f"{len(raw.encode()) / len(html_.encode()):.1f}x smaller")
    finally:
        pg.destroy()
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
