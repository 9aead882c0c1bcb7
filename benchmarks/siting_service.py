"""Benchmark of the siting service (api/siting) on a stored district, beside the engine alone.

    .venv/bin/python benchmarks/siting_service.py                       # the 500,000-household city
    .venv/bin/python benchmarks/siting_service.py --households 12000    # small (benchmarks/run_all.py)

A district from ``geo.sample.make_district`` is loaded into a scratch PostGIS; then, in one run:

* the coverage run the service starts from (``CoverageService.run``, cold: read, network, snap, reach);
* ``SitingService.propose`` for MCLP with K new sites on gap candidates, cold (candidates + matrix +
  solve + gain curve) and warm (the matrix cached: only the solve), the greedy preview warm, and
  ``POST /siting`` warm through the app (JSON with per-area tables and service areas);
* the baseline: ``geo.siting`` alone on the same frames in memory (``gap_node_candidates``,
  ``from_frames``, ``mclp``), no database, no service: the ratio says what the service adds.

Prints figures and ratios; asserts nothing.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from scratch_db import loaded_postgis  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--households", type=int, default=500_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--k", type=int, default=50, help="new sites (MCLP)")
    ap.add_argument("--repeat", type=int, default=3, help="warm repetitions")
    a = ap.parse_args()

    import numpy as np
    from fastapi.testclient import TestClient

    from api.app import create_app
    from api.coverage import CoverageService
    from api.jurisdiction import EVERYWHERE
    from api.settings import Settings
    from api.siting import SitingParams, SitingService
    from geo.network import build_network
    from geo.reach import compute_reach
    from geo.sample import make_district
    from geo.siting import from_frames, gap_node_candidates, mclp

    t = time.perf_counter()
    layers = make_district(a.households, seed=a.seed, incidents=0)
    print(f"data: geo.sample.make_district({a.households:,}, seed={a.seed}); {len(layers['dwellings']):,} dwellings, "
          f"{len(layers['stations']):,} stations, {len(layers['streets']):,} street edges "
          f"({time.perf_counter() - t:.1f} s)")

    # -- the baseline: the engine alone on the frames in memory
    t0 = time.perf_counter()
    net = build_network(layers["streets"], "walk")
    st = layers["stations"].copy()
    st["source_id"] = st["source_id"].astype(str)
    reach = compute_reach(net, st, layers["dwellings"], breaks_s=(480.0,))
    t_cov_geo = time.perf_counter() - t0
    t0 = time.perf_counter()
    cands = gap_node_candidates(net, layers["dwellings"], reach.covered(480.0), dwelling_snap=reach.dwelling_snap)
    m = from_frames(net, layers["dwellings"], cands, st, dwelling_snap=reach.dwelling_snap)
    t_matrix_geo = time.perf_counter() - t0
    k = min(a.k, m.n_candidates)
    t0 = time.perf_counter()
    r_geo = mclp(m, k)
    t_solve_geo = time.perf_counter() - t0
    print(f"engine alone (geo, in memory): network + reach {t_cov_geo:.2f} s; {len(cands):,} gap candidates and "
          f"matrix ({m.time_s.nnz:,} pairs) {t_matrix_geo:.2f} s; MCLP K={k} {t_solve_geo:.2f} s "
          f"({r_geo.status}, gap {100 * r_geo.gap:.3f}%, +{r_geo.objective:,.0f} households)")

    with loaded_postgis(layers, "gridmap-bench-siting-") as (url, home, engine, load_s):
        print(f"loaded into PostGIS in {load_s:.1f} s")

        svc = SitingService(CoverageService(engine, warm_polygons=False))
        p = SitingParams(k=k)
        t0 = time.perf_counter()
        run = svc.coverage_run(EVERYWHERE, p)
        t_cov = time.perf_counter() - t0
        t0 = time.perf_counter()
        cold = svc.propose(EVERYWHERE, p)
        t_cold = time.perf_counter() - t0
        warm = []
        for i in range(1, a.repeat + 1):  # other questions on the same matrix: only the solve and the curve
            t0 = time.perf_counter()
            w = svc.propose(EVERYWHERE, p.with_(k=max(1, k - i)))
            warm.append(time.perf_counter() - t0)
        greedy = []
        for i in range(a.repeat):
            t0 = time.perf_counter()
            g = svc.propose(EVERYWHERE, p.with_(k=max(1, k - i), method="greedy", curve=False))
            greedy.append(time.perf_counter() - t0)
        w = svc.propose(EVERYWHERE, p)
        same = abs(cold.result.objective - r_geo.objective) < 1e-6
        print(f"service: coverage run (cold) {t_cov:.2f} s; propose cold (candidates + matrix {cold.matrix_s:.2f} s "
              f"+ solve {cold.result.solve_s:.2f} s + gain curve) {t_cold:.2f} s; another K on the cached matrix "
              f"median {1000 * np.median(warm):.0f} ms; greedy preview median {1000 * np.median(greedy):.0f} ms "
              f"(K={max(1, k - a.repeat + 1)}: +{g.result.objective:,.0f}); same question again from memory")
        print(f"same optimum as the engine alone: {same}; service cold / engine (matrix + solve): "
              f"{t_cold / (t_matrix_geo + t_solve_geo):.2f}x; coverage run / engine network + reach: "
              f"{t_cov / t_cov_geo:.2f}x")

        settings = Settings(home=home / "app", database_url=url, _env_file=None)
        with TestClient(create_app(settings)) as client:
            body = {"k": k, "job": False}
            t0 = time.perf_counter()
            r = client.post("/siting", json=body)
            first = time.perf_counter() - t0
            assert r.status_code == 200, r.text[:300]
            times = []
            for _ in range(a.repeat):
                t0 = time.perf_counter()
                client.post("/siting", json=body)
                times.append(time.perf_counter() - t0)
            print(f"POST /siting (app's own services): first {first:.2f} s (coverage run + matrix + solve + JSON with "
                  f"{len(r.json()['levels']['grid']):,} grids and {len(r.json()['sites'])} service areas), repeat "
                  f"median {1000 * np.median(times):.0f} ms (the proposal from memory), {len(r.content) / 1e6:.2f} MB")
    print(f"peak memory (max RSS) {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MiB")


if __name__ == "__main__":
    main()
