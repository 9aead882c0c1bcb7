"""Benchmark of the coverage API (service + routes) on the sample city, through a real PostGIS.

    .venv/bin/python benchmarks/coverage_api.py --households 500000

Generates ``geo.sample.make_district(households)``, loads it into a scratch embedded PostGIS under
a temporary home (chmod 755, destroyed afterwards) through ``api.db.load.load_frame``, and calls
the app in process (FastAPI TestClient).  Prints:

* the cold first ``GET /coverage`` (layers read from PostGIS, network, snap, reach, tables, run
  stored) and the warm one (cached run), and their ratio;
* ``GET /stations/{id}/reach`` p50/p95 over 200 random stations (target p95 <= 100 ms), against
  one ``pgr_drivingDistance`` call per station on the same graph and costs (baseline, a sample);
* ``POST /coverage/what-if`` (add at random dwellings, close random stations) p50/p95, against
  the full recompute the service does after a real station write (``POST /stations`` then
  ``GET /coverage``: network and dwelling snap reused);
* peak memory of this process.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))


def pct(xs, q):
    return 1000 * float(np.percentile(xs, q))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--households", type=int, default=500_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--stations", type=int, default=200, help="stations sampled for /stations/{id}/reach")
    ap.add_argument("--pg-sample", type=int, default=10, help="stations in the pgRouting baseline")
    a = ap.parse_args()

    from fastapi.testclient import TestClient
    from sqlalchemy import text

    from api.app import create_app
    from api.db.embedded import EmbeddedPostgres
    from api.db.engine import make_engine
    from api.db.load import load_frame
    from api.db.migrate import upgrade
    from api.settings import Settings
    from geo.validate import validate_frame

    try:
        from geo.sample import make_district
        source = "geo.sample.make_district"
    except ImportError:  # pragma: no cover - the generator is committed; kept for old checkouts
        print("geo.sample is not available: nothing to benchmark on")
        return
    t = time.perf_counter()
    layers = make_district(a.households, seed=a.seed, incidents=0)
    print(f"data: {source}({a.households:,}); {len(layers['dwellings']):,} dwellings, "
          f"{len(layers['stations']):,} stations, {len(layers['streets']):,} street edges "
          f"({time.perf_counter() - t:.1f} s)")

    home = Path(tempfile.mkdtemp(prefix="gridmap-bench-api-"))
    home.chmod(0o755)
    pg = EmbeddedPostgres(home)
    try:
        url = pg.start()
        engine = make_engine(url if "+" in url.split("://")[0] else url.replace("postgresql://", "postgresql+psycopg2://", 1))
        upgrade(engine)
        t = time.perf_counter()
        with engine.begin() as conn:
            for layer in ("areas", "grids", "streets", "stations", "dwellings"):
                load_frame(conn, layer, validate_frame(layer, layers[layer]))
        with engine.begin() as conn:
            conn.execute(text("ANALYZE"))
        print(f"loaded into PostGIS in {time.perf_counter() - t:.1f} s")
        del layers

        settings = Settings(home=home / "app", database_url=url, _env_file=None)
        with TestClient(create_app(settings)) as client:
            # cold and warm /coverage
            t = time.perf_counter()
            r = client.get("/coverage")
            cold = time.perf_counter() - t
            assert r.status_code == 200, r.text
            body = r.json()
            warm = []
            for _ in range(20):
                t = time.perf_counter()
                assert client.get("/coverage").status_code == 200
                warm.append(time.perf_counter() - t)
            tot = body["totals"]
            print(f"GET /coverage cold (read layers, network {body['network']['nodes']:,} nodes, snap, reach, "
                  f"{len(body['rows']):,} grids, run stored): {cold:.2f} s; warm p50 {pct(warm, 50):.1f} ms, "
                  f"p95 {pct(warm, 95):.1f} ms ({cold / np.median(warm):,.0f}x faster than cold); "
                  f"covered {tot['covered_households']:,} of {tot['households']:,} ({tot['covered_pct']:.1f}%)")

            # one station's reach: the budget disks are drawn ahead in a background thread after a run
            from api.db.coverage import CoverageParams, service_for
            import datetime as dt

            from api.jurisdiction import EVERYWHERE

            svc = service_for(client.app.state.engine, settings)
            run = svc.run(EVERYWHERE, CoverageParams(minutes=8.0, at=dt.date.today()))
            with engine.connect() as conn:
                ids = np.array(conn.execute(text("SELECT id FROM stations ORDER BY id")).scalars().all())
            rng = np.random.default_rng(1)
            sample = rng.choice(ids, min(a.stations, ids.size), replace=False)
            cold_reach = []
            for sid in sample[:30]:  # shape=ring is another cache key: drawn on request, as before warm-up
                t = time.perf_counter()
                r = client.get(f"/stations/{int(sid)}/reach?shape=ring")
                cold_reach.append(time.perf_counter() - t)
                assert r.status_code in (200, 409), r.text
            run.warmed.wait()
            print(f"all {len(run.reach.station_ids):,} station budget disks drawn ahead in the background: "
                  f"{run.warm_seconds:.1f} s after the cold run")
            per = []
            for sid in sample:
                t = time.perf_counter()
                r = client.get(f"/stations/{int(sid)}/reach")
                per.append(time.perf_counter() - t)
                assert r.status_code in (200, 409), r.text  # 409: too far from a street to count
            print(f"GET /stations/{{id}}/reach warm (polygon + households + own/exclusive): p50 {pct(per, 50):.1f} ms, "
                  f"p95 {pct(per, 95):.1f} ms over {len(per)} random stations (target p95 <= 100 ms); "
                  f"polygon drawn on request: p50 {pct(cold_reach, 50):.0f} ms, p95 {pct(cold_reach, 95):.0f} ms "
                  f"over {len(cold_reach)}")

            # baseline: one pgr_drivingDistance per station on the same graph and costs
            from coverage import pg_load  # benchmarks/coverage.py: the engine graph as pgRouting edges

            raw = engine.raw_connection()
            try:
                pg_load(raw.driver_connection, run.net, run.reach.station_snap)
                cur = raw.driver_connection.cursor()
                sql = "SELECT id, source, target, cost, reverse_cost FROM bench_edges"
                starts = [int(run.net.n_nodes + 1 + j) for j in np.flatnonzero(run.reach.station_snap.ok)]
                loop = []
                for s in rng.choice(starts, min(a.pg_sample, len(starts)), replace=False):
                    t = time.perf_counter()
                    cur.execute("SELECT count(*) FROM pgr_drivingDistance(%s, %s, %s, directed => true)",
                                (sql, int(s), 480.0))
                    cur.fetchone()
                    loop.append(time.perf_counter() - t)
                cur.execute("DROP TABLE bench_edges")
                raw.driver_connection.commit()
            finally:
                raw.close()
            print(f"baseline pgr_drivingDistance for one station (node times only, no polygon or households): "
                  f"p50 {pct(loop, 50):.0f} ms over {len(loop)} stations; the reach endpoint's p50 is "
                  f"{np.median(loop) / np.median(per):.1f}x faster")

            # what-if vs the full recompute after a real write
            dws = run.inputs.dwellings.geometry.values
            pts = dws[rng.choice(len(dws), 50, replace=False)]
            adds, closes = [], []
            for p in pts:
                t = time.perf_counter()
                r = client.post("/coverage/what-if", json={"action": "add", "lon": p.x, "lat": p.y})
                adds.append(time.perf_counter() - t)
                assert r.status_code == 200, r.text
            counted = [int(s) for s in run.reach.station_ids]
            for sid in rng.choice(counted, 50, replace=False):
                t = time.perf_counter()
                r = client.post("/coverage/what-if", json={"action": "close", "station_id": int(sid)})
                closes.append(time.perf_counter() - t)
                assert r.status_code == 200, r.text
            p = pts[0]
            r = client.post("/stations", json={"type": "Feature", "geometry": {"type": "Point",
                                                                               "coordinates": [p.x, p.y]},
                                               "properties": {"source_id": "bench-new", "name": "bench",
                                                              "kind": "grid_station"}})
            assert r.status_code == 201, r.text
            t = time.perf_counter()
            assert client.get("/coverage").status_code == 200
            recompute = time.perf_counter() - t
            print(f"POST /coverage/what-if add: p50 {pct(adds, 50):.1f} ms, p95 {pct(adds, 95):.1f} ms; close: "
                  f"p50 {pct(closes, 50):.1f} ms, p95 {pct(closes, 95):.1f} ms; baseline full recompute after a "
                  f"station write (GET /coverage, network and snap reused): {1000 * recompute:.0f} ms "
                  f"({recompute / np.median(adds):.1f}x the add p50)")
            print(f"service: {svc.stats}")
        engine.dispose()
    finally:
        pg.destroy()
        shutil.rmtree(home, ignore_errors=True)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory (ru_maxrss, this process): {peak:,.0f} MB")


if __name__ == "__main__":
    main()
