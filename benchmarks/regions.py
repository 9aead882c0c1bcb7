"""Many counties in one database (issue 18): Dask across counties, one county beside the others.

Counties: ``geo.sample.make_regions(N, households, seed=0, incidents=K)``, as ``gridmap sample
--regions N --households H --incidents K`` writes them (distinct codes 320281, 320282, ...), loaded
through ``api.imports.import_frame`` into a scratch embedded PostGIS (partitioned by county, 0009).

Figures printed, each beside its baseline measured in the same run:
- coverage of every county as Dask tasks on ``--workers`` local worker processes
  (:func:`api.coverage.regions.run_regions`), warm (cluster started and gridmap imported on the
  workers beforehand) and from cold (as ``gridmap coverage --all-regions`` runs), vs the same tasks
  one after another in this process (:func:`api.coverage.regions.region_task`): speed-ups;
- one county's coverage (a fresh service: network, snap, search, tables, stored) with the other
  counties loaded vs the same county alone in an otherwise empty database (issue: within 10%);
- that county's incident statistics per grid for one year (``api.incidents.stats.area_stats``) with
  and without the other counties (median of ``--repeat``).

Run:  .venv/bin/python benchmarks/regions.py [--regions 8] [--households 100000] [--incidents 20000]
"""

from __future__ import annotations

import argparse
import statistics
import sys
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


def load(engine, layers, codes, settings):
    for code in codes:
        with engine.begin() as conn:
            for layer in LAYERS:
                f = layers[layer]
                import_frame(conn, layer, f[f["region_code"] == code].reset_index(drop=True), settings)


def one_county(engine, settings, code, repeat):
    """(coverage seconds, fresh service; median stats seconds) of county ``code``."""
    times = []
    for _ in range(repeat + 1):  # the first warms the process (imports, CRS pipelines): not counted
        svc = CoverageService.from_settings(engine, settings, warm_polygons=False)
        t0 = time.perf_counter()
        svc.run(EVERYWHERE, CoverageParams(minutes=8.0, region=code))
        times.append(time.perf_counter() - t0)
    times = times[1:]
    flt = IncidentFilter(start=datetime(2025, 11, 1, tzinfo=timezone.utc), end=datetime(2026, 11, 1, tzinfo=timezone.utc),
                         area=code)
    st = []
    for _ in range(repeat + 1):
        with engine.connect() as conn:
            t0 = time.perf_counter()
            area_stats(conn, EVERYWHERE, flt, tz=settings.timezone, level="grid")
            st.append(time.perf_counter() - t0)
    return statistics.median(times), statistics.median(st[1:])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--regions", type=int, default=8)
    ap.add_argument("--households", type=int, default=100_000, help="households per county")
    ap.add_argument("--incidents", type=int, default=20_000, help="incidents per county")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    settings = Settings()
    t0 = time.perf_counter()
    layers = make_regions(args.regions, args.households, seed=0, incidents=args.incidents)
    codes = sorted(set(layers["areas"]["region_code"]))
    print(f"{len(codes)} counties of {args.households:,} households and {args.incidents:,} incidents "
          f"generated in {time.perf_counter() - t0:.1f} s", flush=True)
    first = codes[0]
    with scratch_postgis("gridmap-bench-regions-") as (url, _home):
        engine = make_engine(url)
        upgrade(engine, "heads")
        load(engine, layers, [first], settings)
        alone_cov, alone_stats = one_county(engine, settings, first, args.repeat)
        t0 = time.perf_counter()
        load(engine, layers, codes[1:], settings)
        print(f"other {len(codes) - 1} counties loaded in {time.perf_counter() - t0:.1f} s", flush=True)
        with_cov, with_stats = one_county(engine, settings, first, args.repeat)
        print(f"one county's coverage (fresh service, median of {args.repeat}): {with_cov:.3f} s beside "
              f"{len(codes) - 1} others vs {alone_cov:.3f} s alone: ratio {with_cov / alone_cov:.2f} (target <= 1.10)")
        print(f"one county's incident statistics per grid, one year: {with_stats * 1000:.1f} ms beside the others vs "
              f"{alone_stats * 1000:.1f} ms alone: ratio {with_stats / alone_stats:.2f}")
        speeds = {"walk": settings.walk_speed_kmh, "bike": settings.bike_speed_kmh}
        plain = {k: v for k, v in CoverageParams(minutes=8.0).as_dict().items() if k != "region"}
        t0 = time.perf_counter()
        seq = [region_task(url, speeds, settings.max_snap_m, plain, c) for c in codes]
        t_seq = time.perf_counter() - t0
        failed = [r["region"] for r in seq if r["error"]]
        from distributed import Client, LocalCluster

        t0 = time.perf_counter()
        par = run_regions(url, settings, CoverageParams(minutes=8.0), codes, workers=args.workers)
        t_cold = time.perf_counter() - t0
        failed += [r.region for r in par if r.error]
        t0 = time.perf_counter()
        with LocalCluster(n_workers=args.workers, threads_per_worker=1, dashboard_address=None) as cl, \
                Client(cl) as client:
            client.run(warm_worker)
            t_start = time.perf_counter() - t0
            t0 = time.perf_counter()
            par = run_regions(url, settings, CoverageParams(minutes=8.0), codes, client=client)
            t_par = time.perf_counter() - t0
        failed += [r.region for r in par if r.error]
        print(f"coverage of all {len(codes)} counties one after another in this process: {t_seq:.2f} s")
        print(f"  Dask, {args.workers} warm workers (cluster started and imports done beforehand, {t_start:.2f} s): "
              f"{t_par:.2f} s, speed-up {t_seq / t_par:.2f}x (cores {args.workers})")
        print(f"  Dask from cold (gridmap coverage --all-regions: cluster start + worker imports included): "
              f"{t_cold:.2f} s, speed-up {t_seq / t_cold:.2f}x")
        engine.dispose()
    if failed:
        print(f"FAILED counties: {failed}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
