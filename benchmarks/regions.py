"""Many counties in one database (issue 18): Dask across counties, one county beside the others.

Counties: ``geo.sample.make_regions(N, households, seed=0, incidents=K)``, as ``gridmap sample
--regions N --households H --incidents K`` writes them (distinct codes 320281, 320282, ...), loaded
through ``api.imports.import_frame`` into two scratch embedded PostGIS clusters: one holding every
county, one holding the first county alone (``VACUUM ANALYZE`` and a checkpoint after loading, so
that no autovacuum of the fresh partitions runs during a measurement).

Figures printed, each beside its baseline measured in the same run:
- one county's coverage (a fresh service: layers read, network, snap, search, tables, stored) with
  the other counties loaded vs the same county alone in the other cluster, measured alternately
  (alone, beside, alone, ...) so that the load of a shared machine falls on both (issue: within 10%);
- its parts in both (layers read, network build, snap, search and tables), to show where a
  difference lies;
- the county's full recompute (a dwelling write: snap, search, per-area tables, stored; the network
  kept) on a warm service, and the minimal pipeline on the same arrays (k-d tree nearest edge
  piece, one scipy Dijkstra from all stations, bincount per grid: a lower bound) (issue: <= 1.0 s);
- the first ``GET /coverage`` after a restart (a new app on the same database and data directory,
  a question that needs a run: ``?area=`` its town), without and with the networks and snaps the
  previous app kept in ``<home>/cache/coverage`` (issue: <= 3 s with them);
- that county's incident statistics per grid for one year (``api.incidents.stats.area_stats``) with
  and without the other counties (median of ``--repeat``, alternately);
- coverage of every county as Dask tasks on ``--workers`` local worker processes
  (:func:`api.coverage.regions.run_regions`), warm (cluster started and gridmap imported on the
  workers beforehand) and from cold (as ``gridmap coverage --all-regions`` runs), vs the same tasks
  one after another in this process (:func:`api.coverage.regions.region_task`): speed-ups.

Run:  .venv/bin/python benchmarks/regions.py [--regions 8] [--households 100000] [--incidents 20000]
"""

from __future__ import annotations

import argparse
import gc
import shutil
import statistics
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from api.coverage import CoverageParams, CoverageService  # noqa: E402
from api.coverage.regions import region_task, run_regions, warm_worker  # noqa: E402
from api.db.engine import make_engine  # noqa: E402
from api.db.migrate import upgrade  # noqa: E402
from api.imports import import_frame  # noqa: E402
from api.incidents.filters import IncidentFilter  # noqa: E402
from api.incidents.stats import area_stats  # noqa: E402
from api.jurisdiction import EVERYWHERE  # noqa: E402
from api.settings import Settings  # noqa: E402
from geo.sample import make_regions  # noqa: E402
from scratch_db import scratch_postgis  # noqa: E402

LAYERS = ("areas", "grids", "streets", "stations", "dwellings", "incidents")
#: The service's progress messages, in order, and the names the parts are printed under.
STEPS = {"loading layers": "read", "building the street network": "network", "snapping dwellings": "snap",
         "computing travel times": "search", "coverage per area": "tables", "storing the run": "store"}


def load(engine, layers, codes, settings):
    for code in codes:
        with engine.begin() as conn:
            for layer in LAYERS:
                f = layers[layer]
                import_frame(conn, layer, f[f["region_code"] == code].reset_index(drop=True), settings)


def settle(engine) -> None:
    """Statistics and visibility maps of the freshly loaded partitions made now, and the dirty pages
    written, so that no autovacuum or checkpoint of the load runs during a measurement."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE")
        try:
            conn.exec_driver_sql("CHECKPOINT")
        except Exception:  # noqa: BLE001 - a role without pg_checkpoint: VACUUM ANALYZE is the main part
            pass


def service(engine, settings, store_dir=None) -> CoverageService:
    """A fresh service (a new process's), without background warm-up; no disk store unless given
    (the benchmark never writes into the real data directory)."""
    return CoverageService(engine, walk_speed_kmh=settings.walk_speed_kmh, bike_speed_kmh=settings.bike_speed_kmh,
                           max_snap_m=settings.max_snap_m, warm_polygons=False, store_dir=store_dir)


def timed(svc, code) -> tuple[float, dict]:
    """(seconds, {part: seconds}) of ``svc.run`` for county ``code``, its parts from the progress steps."""
    parts, last, name = {}, [time.perf_counter()], [None]

    def say(msg):
        now = time.perf_counter()
        if name[0]:
            parts[name[0]] = parts.get(name[0], 0.0) + now - last[0]
        name[0], last[0] = STEPS.get(msg, msg), now

    t0 = time.perf_counter()
    svc.run(EVERYWHERE, CoverageParams(minutes=8.0, region=code), progress=say)
    say(None)
    return time.perf_counter() - t0, parts


def alternate(fns: dict, repeat: int) -> dict:
    """Each function called ``repeat + 1`` times, in turn (a, b, a, b, ...); the first round warms the
    process and is not kept.  {name: [values]}."""
    out = {k: [] for k in fns}
    for i in range(repeat + 1):
        for k, f in fns.items():
            gc.collect()
            v = f()
            if i:
                out[k].append(v)
    return out


def med_parts(runs) -> dict:
    return {k: statistics.median(p.get(k, 0.0) for _, p in runs) for k in STEPS.values()}


def show_parts(p: dict) -> str:
    return ", ".join(f"{k} {v:.3f}" for k, v in p.items())


def stats_time(engine, settings, code) -> float:
    flt = IncidentFilter(start=datetime(2025, 11, 1, tzinfo=timezone.utc), end=datetime(2026, 11, 1, tzinfo=timezone.utc),
                         area=code)
    with engine.connect() as conn:
        t0 = time.perf_counter()
        area_stats(conn, EVERYWHERE, flt, tz=settings.timezone, level="grid")
        return time.perf_counter() - t0


def minimal_pipeline(run, budget_s: float) -> float:
    """Seconds of a minimal pipeline on the run's own arrays (a lower bound, not the same answer):
    dwellings projected as coordinate arrays, the nearest edge piece by a k-d tree of piece midpoints
    (6 candidates, exact point-segment distance), stations on their nearest node, one scipy
    Dijkstra from all of them, each dwelling's time from its piece's ends, households per grid by
    bincount."""
    import numpy as np
    import shapely
    from scipy.sparse.csgraph import dijkstra
    from scipy.spatial import cKDTree

    from geo.crs import WGS84, transformer

    net, dw, st = run.net, run.inputs.dwellings, run.counted
    t0 = time.perf_counter()
    fwd = transformer(WGS84, net.crs)
    lon, lat = shapely.get_coordinates(dw.geometry.values).T
    p = np.column_stack(fwd.transform(lon, lat))
    slon, slat = shapely.get_coordinates(st.geometry.values).T
    sp = np.column_stack(fwd.transform(slon, slat))
    starts = np.ones(len(net.coords), dtype=bool)
    starts[net.coord_off[1:] - 1] = False  # the last vertex of an edge starts no piece
    i = np.flatnonzero(starts)
    a, b = net.coords[i], net.coords[i + 1]
    edge = np.repeat(np.arange(net.n_edges), np.diff(net.coord_off) - 1)
    _, cand = cKDTree((a + b) / 2).query(p, k=6)
    d = b[cand] - a[cand]
    t = np.clip(np.einsum("nkj,nkj->nk", p[:, None] - a[cand], d) / np.maximum(np.einsum("nkj,nkj->nk", d, d), 1e-12), 0, 1)
    dist = np.linalg.norm(a[cand] + t[..., None] * d - p[:, None], axis=2)
    best = cand[np.arange(len(p)), dist.argmin(axis=1)]
    e = edge[best]
    along = net.vcum[i[best]] + t[np.arange(len(p)), dist.argmin(axis=1)] * np.linalg.norm(b[best] - a[best], axis=1)
    _, s_node = cKDTree(net.node_xy).query(sp)
    node_t = dijkstra(net.graph, indices=np.unique(s_node), min_only=True, limit=budget_s)
    v = net.edge_speed[e]
    time_s = np.minimum(node_t[net.edge_u[e]] + along / v, node_t[net.edge_v[e]] + (net.edge_len[e] - along) / v) \
        + dist.min(axis=1) / v
    codes, grid = np.unique(run.assignment["grid_code"].astype(str).to_numpy(), return_inverse=True)
    hh = dw["households"].to_numpy(dtype=float)
    np.bincount(grid, weights=hh * (time_s <= budget_s), minlength=len(codes))
    return time.perf_counter() - t0


def first_request(url, home, code, town, keep_store: bool) -> float:
    """Seconds of the first ``GET /coverage?region=&area=`` of a new app (a restart) on ``url`` with
    data directory ``home``; without ``keep_store`` the previous apps' networks and snaps are removed."""
    from fastapi.testclient import TestClient

    from api.app import create_app

    if not keep_store:
        shutil.rmtree(Path(home) / "cache", ignore_errors=True)
    st = Settings(home=home, database_url=url, _env_file=None)
    with TestClient(create_app(st)) as client:
        t0 = time.perf_counter()
        r = client.get("/coverage", params={"region": code, "area": town, "level": "grid"})
        took = time.perf_counter() - t0
    for th in threading.enumerate():  # the app's background warm-up, cancelled at shutdown: let it end
        if th.name.startswith("coverage-warm-"):
            th.join()
    assert r.status_code == 200, r.text
    return took


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--regions", type=int, default=8)
    ap.add_argument("--households", type=int, default=100_000, help="households per county")
    ap.add_argument("--incidents", type=int, default=20_000, help="incidents per county")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-dask", action="store_true", help="skip the Dask figures")
    args = ap.parse_args()
    settings = Settings()
    t0 = time.perf_counter()
    layers = make_regions(args.regions, args.households, seed=0, incidents=args.incidents)
    codes = sorted(set(layers["areas"]["region_code"]))
    print(f"{len(codes)} counties of {args.households:,} households and {args.incidents:,} incidents "
          f"generated in {time.perf_counter() - t0:.1f} s", flush=True)
    first = codes[0]
    town = layers["areas"].query("region_code == @first and level == 'town'")["code"].iloc[0]
    failed = []
    with scratch_postgis("gridmap-bench-regions-") as (url, _home), \
            scratch_postgis("gridmap-bench-alone-") as (url_alone, _home_alone), \
            tempfile.TemporaryDirectory(prefix="gridmap-bench-home-") as app_home:
        engine, alone = make_engine(url), make_engine(url_alone)
        for e in (engine, alone):
            upgrade(e, "heads")
        t0 = time.perf_counter()
        load(alone, layers, [first], settings)
        settle(alone)
        t_one = time.perf_counter() - t0
        t0 = time.perf_counter()
        load(engine, layers, codes, settings)
        settle(engine)
        print(f"county {first} loaded alone in {t_one:.1f} s; all {len(codes)} counties in {time.perf_counter() - t0:.1f} s",
              flush=True)

        res = alternate({"alone": lambda: timed(service(alone, settings), first),
                         "beside": lambda: timed(service(engine, settings), first)}, args.repeat)
        a_t = statistics.median(t for t, _ in res["alone"])
        b_t = statistics.median(t for t, _ in res["beside"])
        print(f"one county's coverage (fresh service, median of {args.repeat}, alternately): {b_t:.3f} s beside "
              f"{len(codes) - 1} others vs {a_t:.3f} s alone: ratio {b_t / a_t:.2f} (target <= 1.10)")
        print(f"  parts alone:  {show_parts(med_parts(res['alone']))}")
        print(f"  parts beside: {show_parts(med_parts(res['beside']))}", flush=True)

        svc = service(engine, settings)
        run = svc.run(EVERYWHERE, CoverageParams(minutes=8.0, region=first))
        n_dw = len(run.inputs.dwellings)
        rec = []
        reused0 = svc.stats["snaps_reused"]
        for _ in range(args.repeat):
            with engine.begin() as conn:  # a dwelling write: the dwellings' version moves
                conn.exec_driver_sql(f"UPDATE dwellings SET households = households WHERE id = "
                                     f"(SELECT min(id) FROM dwellings WHERE region_code = '{first}')")
            gc.collect()
            rec.append(timed(svc, first))
        r_t = statistics.median(t for t, _ in rec)
        r_parts = med_parts(rec)
        r_core = r_parts["snap"] + r_parts["search"] + r_parts["tables"]
        mins = [minimal_pipeline(run, 480.0) for _ in range(args.repeat)]
        m_t = statistics.median(mins)
        print(f"full recompute of county {first} after a dwelling write ({n_dw:,} dwellings, network kept; median of "
              f"{args.repeat}): {r_t:.3f} s (target <= 1.0 s): {show_parts(r_parts)}; snap + search + tables "
              f"{r_core:.3f} s vs the minimal pipeline {m_t:.3f} s: ratio {r_core / m_t:.2f} (issue: <= 1.5); "
              f"the snap reused {(svc.stats['snaps_reused'] - reused0) / args.repeat:,.0f} of {n_dw:,} dwellings' "
              f"snaps a run (the written dwelling snapped again)", flush=True)

        first_request(url, app_home, first, town, keep_store=False)  # the process's imports and first app
        rs = alternate({"cold": lambda: first_request(url, app_home, first, town, keep_store=False),
                        "kept": lambda: first_request(url, app_home, first, town, keep_store=True)}, args.repeat)
        cold, kept = statistics.median(rs["cold"]), statistics.median(rs["kept"])
        print(f"first GET /coverage?area={town} after a restart (new app, same database and data directory; "
              f"median of {args.repeat}): {kept:.3f} s with the kept networks and snaps (target <= 3 s) vs "
              f"{cold:.3f} s building them", flush=True)

        st = alternate({"alone": lambda: stats_time(alone, settings, first),
                        "beside": lambda: stats_time(engine, settings, first)}, args.repeat)
        sa, sb = statistics.median(st["alone"]), statistics.median(st["beside"])
        print(f"one county's incident statistics per grid, one year: {sb * 1000:.1f} ms beside the others vs "
              f"{sa * 1000:.1f} ms alone: ratio {sb / sa:.2f}", flush=True)
        alone.dispose()
        if not args.no_dask:
            failed += dask_figures(url, settings, codes, args.workers)
        engine.dispose()
    if failed:
        print(f"FAILED counties: {failed}")
        return 1
    return 0


def dask_figures(url, settings, codes, workers) -> list:
    speeds = {"walk": settings.walk_speed_kmh, "bike": settings.bike_speed_kmh}
    plain = {k: v for k, v in CoverageParams(minutes=8.0).as_dict().items() if k != "region"}
    t0 = time.perf_counter()
    seq = [region_task(url, speeds, settings.max_snap_m, plain, c) for c in codes]
    t_seq = time.perf_counter() - t0
    failed = [r["region"] for r in seq if r["error"]]
    from distributed import Client, LocalCluster

    t0 = time.perf_counter()
    par = run_regions(url, settings, CoverageParams(minutes=8.0), codes, workers=workers)
    t_cold = time.perf_counter() - t0
    failed += [r.region for r in par if r.error]
    t0 = time.perf_counter()
    with LocalCluster(n_workers=workers, threads_per_worker=1, dashboard_address=None) as cl, Client(cl) as client:
        client.run(warm_worker)
        t_start = time.perf_counter() - t0
        t0 = time.perf_counter()
        par = run_regions(url, settings, CoverageParams(minutes=8.0), codes, client=client)
        t_par = time.perf_counter() - t0
    failed += [r.region for r in par if r.error]
    print(f"coverage of all {len(codes)} counties one after another in this process: {t_seq:.2f} s")
    print(f"  Dask, {workers} warm workers (cluster started and imports done beforehand, {t_start:.2f} s): "
          f"{t_par:.2f} s, speed-up {t_seq / t_par:.2f}x (cores {workers})")
    print(f"  Dask from cold (gridmap coverage --all-regions: cluster start + worker imports included): "
          f"{t_cold:.2f} s, speed-up {t_seq / t_cold:.2f}x", flush=True)
    return failed


if __name__ == "__main__":
    sys.exit(main())
