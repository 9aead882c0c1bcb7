"""Benchmark of plans through the API: a redraw stored as a plan, moves on the live plan, publish.

    .venv/bin/python benchmarks/plans.py [--households 500000] [--moves 200] [--seed 0]

Generates ``geo.sample.make_district(households, seed)``, keeps the town holding the community with
the most households (its areas, grids, streets, stations and dwellings), loads it into a scratch
embedded PostGIS through ``api.imports.import_frame`` and drives the app in process
(``fastapi.testclient.TestClient``: routes, service, PostGIS; no network).  Prints:

* ``POST /plans`` for that community (inputs read, engine, units and grids stored);
* ``POST /plans/{id}/moves`` p50/p95 over ``--moves`` random boundary moves (each unit moved into a
  neighbouring grid; refused splits count, they are answered too), target p95 <= 100 ms; baseline:
  the same moves on the bare engine (:meth:`geo.zoning.Partition.move`, no HTTP, no database) in
  the same run, and the ratio;
* the first move after the live partition was dropped (rebuilt from the database);
* ``POST /plans/{id}/publish`` (stale check, grids through the import service with history,
  re-attribution); baseline: the same grids through ``import_frame(replace=True)`` alone, in a
  transaction rolled back, and the ratio.

With ``--all`` it measures instead what ``gridmap plan create --all`` does on the whole city (every
layer loaded, :func:`api.plans.create_plans` with ``all=True``, ``GRIDMAP_PLAN_WORKERS`` processes):
the time (target <= 60 s on 2 cores), grids, share in 300 +- 15% where feasible (target >= 99%),
contiguous (100%) and on streets (>= 90%); baseline: :func:`geo.zoning.solve_county` alone on the same
inputs read in the same run (no database), and the ratio (what reading and storing the plan costs).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from district import town_of_largest  # noqa: E402
from scratch_db import loaded_postgis, scratch_postgis  # noqa: E402


def ms(xs, q):
    return 1000 * float(np.percentile(xs, q))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--households", type=int, default=500_000)
    ap.add_argument("--moves", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--all", action="store_true", help="gridmap plan create --all on the whole city")
    ap.add_argument("--workers", type=int, default=2)
    a = ap.parse_args()
    if a.all:
        return city(a)

    from fastapi.testclient import TestClient
    from sqlalchemy import text

    from api.app import create_app
    from api.imports import import_frame
    from api.settings import Settings
    from geo.sample import make_district
    from geo.zoning import MoveRefused

    t = time.perf_counter()
    layers = make_district(a.households, seed=a.seed, incidents=0)
    code, part = town_of_largest(layers)
    print(f"data: make_district({a.households:,}, seed={a.seed}) ({time.perf_counter() - t:.1f} s); community {code}, "
          f"its town: {len(part['areas'])} areas, {len(part['grids'])} grids, {len(part['dwellings']):,} dwellings, "
          f"{len(part['streets']):,} street edges")
    del layers
    with loaded_postgis(part, "gridmap-bench-plans-") as (url, home, engine, load_s):
        print(f"loaded in {load_s:.1f} s")
        settings = Settings(home=home / "app", database_url=url, _env_file=None)
        with TestClient(create_app(settings)) as api:
            t = time.perf_counter()
            r = api.post("/plans", json={"community": code})
            create_s = time.perf_counter() - t
            assert r.status_code == 201, r.text
            plan = r.json()["plans"][0]
            pid = plan["id"]
            m = plan["metrics"]
            print(f"POST /plans (community {code}): {create_s:.2f} s; {m['grids']} grids, {m['households']} households, "
                  f"in band {m['share_in_band']:.0%}, contiguous {m['share_contiguous']:.0%}")
            # the live partition: pick boundary units and their neighbouring grids
            from api.jurisdiction import EVERYWHERE
            from api.db.plans import plan_row, rebuild_partition

            with engine.connect() as conn:
                p = api.app.state.plans.get(conn, plan_row(conn, pid, EVERYWHERE), code)  # the app's own
            nb = p.graph.lists()[0]
            rng = np.random.default_rng(a.seed)
            asg = p.assignment
            boundary = [u for u in range(len(p.units)) if any(asg[v] != asg[u] for v in nb[u])]
            picks = []
            for _ in range(a.moves):
                u = boundary[int(rng.integers(len(boundary)))]
                picks.append(u)
            times, statuses = [], {}
            for u in picks:
                asg = p.assignment
                to = sorted({int(asg[v]) for v in nb[u]} - {int(asg[u])})
                if not to:
                    continue
                body = {"units": [str(p.units.ids[u])], "to": p.labels[to[0]]}
                t = time.perf_counter()
                r = api.post(f"/plans/{pid}/moves", json=body)
                times.append(time.perf_counter() - t)
                statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
            # baseline: the same kind of moves on the bare engine partition
            with engine.connect() as conn:
                q = rebuild_partition(conn, plan_row(conn, pid, EVERYWHERE), code)
            nbq = q.graph.lists()[0]
            base = []
            for u in picks:
                aq = q.assignment
                to = sorted({int(aq[v]) for v in nbq[u]} - {int(aq[u])})
                if not to:
                    continue
                t = time.perf_counter()
                try:
                    q.move([str(q.units.ids[u])], q.labels[to[0]])
                except MoveRefused:
                    pass
                base.append(time.perf_counter() - t)
            p95, p50, b95 = ms(times, 95), ms(times, 50), ms(base, 95)
            print(f"POST /plans/{{id}}/moves over {len(times)} moves on {len(p.units)} units "
                  f"({', '.join(f'{k}: {v}' for k, v in sorted(statuses.items()))}): p50 {p50:.1f} ms, p95 {p95:.1f} ms "
                  f"(target <= 100 ms: {'met' if p95 <= 100 else 'MISSED'}); baseline Partition.move p95 {b95:.2f} ms; "
                  f"ratio {p95 / max(b95, 1e-6):.0f}x")
            api.app.state.plans.drop(pid)
            u = picks[0]
            asg = q.assignment
            to = sorted({int(asg[v]) for v in nbq[u]} - {int(asg[u])}) or [0]
            t = time.perf_counter()
            api.post(f"/plans/{pid}/moves", json={"units": [str(q.units.ids[u])], "to": q.labels[to[0]]})
            print(f"first move after the live partition was dropped (rebuilt from PostGIS): "
                  f"{1000 * (time.perf_counter() - t):.0f} ms")
            # publish, against the bare import of the same grids (rolled back)
            from api.plans.publish import plan_grid_frame

            with engine.connect() as conn:
                with conn.begin() as tx:
                    row = plan_row(conn, pid, EVERYWHERE)
                    at = conn.execute(text("SELECT now()")).scalar_one()
                    frame = plan_grid_frame(conn, row, at)
                    t = time.perf_counter()
                    import_frame(conn, "grids", frame, settings, region_code=row.region_code, replace=True)
                    bare = time.perf_counter() - t
                    tx.rollback()
            t = time.perf_counter()
            r = api.post(f"/plans/{pid}/publish")
            pub = time.perf_counter() - t
            assert r.status_code == 200, r.text
            g, re_ = r.json()["grids"], r.json()["reattributed"]
            print(f"POST /plans/{{id}}/publish: {pub:.2f} s ({g['new_versions']} new versions, {g['added']} added, "
                  f"{g['closed']} closed; {re_['dwellings']} dwellings, {re_['incidents']} incidents re-attributed); "
                  f"baseline import_frame(grids, replace=True) of the same grids {bare:.2f} s; ratio {pub / bare:.2f}x")


IMPOSSIBLE = {"unit_above_max", "no_count_fits", "community_too_small", "island_unit"}


def cpu_s() -> float:
    """CPU seconds of this process and its finished children (the county's workers)."""
    import resource

    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def city(a) -> None:
    """``gridmap plan create --all`` (what it calls: create_plans, all=True) on the whole city."""
    import os
    from sqlalchemy import text

    from api.db.engine import make_engine
    from api.db.migrate import upgrade
    from api.imports import import_frame
    from api.jurisdiction import EVERYWHERE
    from api.plans import PlanSpec, create_plans
    from api.plans.inputs import community_codes, read_inputs
    from api.settings import Settings
    from geo.sample import make_district
    from geo.zoning import solve_county

    t = time.perf_counter()
    layers = make_district(a.households, seed=a.seed, incidents=0)
    print(f"data: make_district({a.households:,}, seed={a.seed}) ({time.perf_counter() - t:.1f} s): "
          f"{(layers['areas'].level == 'community').sum()} communities, {len(layers['grids']):,} grids, "
          f"{len(layers['dwellings']):,} dwellings, {len(layers['streets']):,} street edges")
    with scratch_postgis("gridmap-bench-plans-all-") as (url, home):
        engine = make_engine(url.replace("postgresql://", "postgresql+psycopg2://", 1))
        upgrade(engine)
        t = time.perf_counter()
        with engine.begin() as conn:
            for layer in ("areas", "grids", "streets", "stations"):
                t1 = time.perf_counter()
                import_frame(conn, layer, layers[layer], Settings(_env_file=None))
                print(f"  {layer}: {len(layers[layer]):,} rows in {time.perf_counter() - t1:.1f} s", flush=True)
            conn.execute(text("ANALYZE"))
        # dwellings town by town (one import of all 190,355 in one statement ran > 35 min on this machine)
        d = layers["dwellings"]
        town = d["community_code"].str[:9]
        for i, code in enumerate(sorted(town.unique())):
            t1 = time.perf_counter()
            with engine.begin() as conn:
                import_frame(conn, "dwellings", d[town == code], Settings(_env_file=None))
                conn.execute(text("ANALYZE dwellings"))
            print(f"  dwellings of town {code}: {(town == code).sum():,} in {time.perf_counter() - t1:.1f} s", flush=True)
        print(f"loaded in {time.perf_counter() - t:.1f} s", flush=True)
        del layers, d
        settings = Settings(home=home / "app", database_url=url, plan_workers=a.workers, _env_file=None)
        t, c, load0 = time.perf_counter(), cpu_s(), os.getloadavg()[0]
        phases: dict = {}
        _, answer, _ = create_plans(engine, settings, EVERYWHERE, PlanSpec(all=True, author="bench"), timings=phases)
        all_s, all_cpu, load1 = time.perf_counter() - t, cpu_s() - c, os.getloadavg()[0]
        m = answer["plans"][0]["metrics"]
        reasons = answer["plans"][0]["reasons"] or []
        # in band where feasible: grids not flagged by a reason that makes the band impossible
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT community_code, code, households FROM plan_grids "
                                     "WHERE plan_id = :p"), {"p": answer["plans"][0]["id"]}).all()
        lo, hi = round(300 * 0.85), round(300 * 1.15)
        bad = {(r["community"], r.get("grid")) for r in reasons if r.get("code") in IMPOSSIBLE}
        whole = {r["community"] for r in reasons if r.get("code") in IMPOSSIBLE and not r.get("grid")}
        feas = [r for r in rows if (r.community_code, r.code) not in bad and r.community_code not in whole]
        share = np.mean([lo <= r.households <= hi for r in feas]) if feas else float("nan")
        print(f"gridmap plan create --all (create_plans, all=True, {a.workers} workers): {all_s:.1f} s "
              f"(target <= 60 s: {'met' if all_s <= 60 else 'MISSED'}; CPU {all_cpu:.1f} s in this process and its workers, PostgreSQL's "
              f"not counted; load average {load0:.1f} -> {load1:.1f}); {m['grids']:,} grids over "
              f"{len(answer['plans'][0]['communities'])} communities; in band where feasible {share:.2%} "
              f"({len(rows) - len(feas)} grids flagged infeasible; target >= 99%); in band overall "
              f"{m['share_in_band']:.2%}; contiguous {m['share_contiguous']:.2%}; boundary on streets "
              f"{m.get('street_share', float('nan')):.2%} (target >= 90%); phases: reading "
              f"{phases.get('read_s', 0):.1f} s, engine {phases.get('solve_s', 0):.1f} s, writing the plan "
              f"{phases.get('write_s', 0):.1f} s")
        # baseline: the engine alone on the same inputs (no database read or write)
        with engine.connect() as conn:
            pairs = community_codes(conn, EVERYWHERE)
            region = pairs[0][0]
            t = time.perf_counter()
            inp = read_inputs(conn, region, [c for _, c in pairs])
            read_s = time.perf_counter() - t
        t, c = time.perf_counter(), cpu_s()
        solve_county(inp.areas.assign(level="community"), inp.streets, inp.dwellings,
                     inp.grids if len(inp.grids) else None, params=PlanSpec(all=True).zoning(), workers=a.workers)
        eng_s, eng_cpu = time.perf_counter() - t, cpu_s() - c
        print(f"baseline: geo.zoning.solve_county alone on the same inputs {eng_s:.1f} s (CPU {eng_cpu:.1f} s, load "
              f"average {os.getloadavg()[0]:.1f}; reading them {read_s:.1f} s); "
              f"ratio {all_s / eng_s:.2f}x")


if __name__ == "__main__":
    main()
