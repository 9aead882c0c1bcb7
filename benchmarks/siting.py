"""Benchmark of the siting engine (geo.siting) beside PySAL spopt on the same instances, one run.

    .venv/bin/python benchmarks/siting.py            # the issue's sizes on the 500,000-household city
    .venv/bin/python benchmarks/siting.py --small    # a quick run on a 60,000-household district
    .venv/bin/python benchmarks/siting.py --city-only --no-spopt   # only the whole-city case

Instances come from the sample city's network (``geo.sample.make_district``, pure, no database):
walking times along the streets, 8-minute budget.  ``demand x candidates`` instances take the
dwellings around a random point (every other one of the nearest 2n, so K binds) and random
street nodes in the same area; both engines get the same matrix (spopt a dense one: times beyond
the budget set to a large number).  spopt's build (``MCLP.from_cost_matrix``) and solve (PuLP + CBC)
are timed separately in a child process, its build capped by ``--spopt-timeout``.  The whole-city
case uses every street node within reach of a gap as a candidate, existing stations kept.
Prints figures and ratios; asserts nothing.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import resource
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

_SHARED: dict = {}


def _spopt_child(q, k, budget):
    """Build and solve spopt's MCLP on the dense matrix inherited from the parent (fork)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pulp
        from spopt.locate import MCLP

        cost, w = _SHARED["cost"], _SHARED["w"]
        t = time.perf_counter()
        model = MCLP.from_cost_matrix(cost, w, budget, p_facilities=k)
        q.put(("built", time.perf_counter() - t))
        t = time.perf_counter()
        model.solve(pulp.PULP_CBC_CMD(msg=False))
        q.put(("solved", time.perf_counter() - t, float(model.problem.objective.value())))


def spopt_mclp(cost, w, k, budget, timeout_s):
    """(build_s or None, solve_s or None, objective or None, note)."""
    _SHARED["cost"], _SHARED["w"] = cost, w
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    p = ctx.Process(target=_spopt_child, args=(q, k, budget))
    p.start()
    build = solve = obj = None
    note = ""
    try:
        msg = q.get(timeout=timeout_s)
        build = msg[1]
        msg = q.get(timeout=max(timeout_s, 60))
        solve, obj = msg[1], msg[2]
    except Exception:
        note = f"did not finish {'building' if build is None else 'solving'} in {timeout_s:g} s"
    finally:
        if p.is_alive():
            p.kill()
        p.join()
        _SHARED.clear()
    return build, solve, obj, note


CPU: dict = {}


def timed(f, *a, **kw):
    """``(f(...), wall seconds)``; the CPU seconds of this process go to ``CPU[f.__name__]`` (under a
    high load average the wall time is inflated, the CPU time much less)."""
    t, c = time.perf_counter(), time.process_time()
    out = f(*a, **kw)
    CPU[getattr(f, "__name__", "f")] = time.process_time() - c
    return out, time.perf_counter() - t


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--small", action="store_true", help="60,000 households, smaller instances")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--minutes", type=float, default=8.0)
    ap.add_argument("--mip-gap", type=float, default=0.01)
    ap.add_argument("--spopt-timeout", type=float, default=600.0, help="cap on spopt's build, seconds")
    ap.add_argument("--no-spopt", action="store_true")
    ap.add_argument("--city-only", action="store_true",
                    help="only the whole-city case (skip the demand x candidates instances)")
    a = ap.parse_args()
    budget = a.minutes * 60

    from geo.network import build_network
    from geo.reach import compute_reach
    from geo.sample import make_district
    from geo.siting import from_frames, gap_node_candidates, mclp, street_node_candidates
    from geo.snap import snap_frame

    households = 60_000 if a.small else 500_000
    sizes = [(2000, 200, 20), (5000, 500, 40)] if a.small else [(5000, 500, 40), (20000, 1000, 80)]
    city_k = 20 if a.small else 50
    print(f"sample city: make_district({households:,}), walk, budget {budget:g} s, mip_gap {a.mip_gap:g}; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    L, t_gen = timed(make_district, households, seed=a.seed)
    net, t_net = timed(build_network, L["streets"])
    dw, st = L["dwellings"], L["stations"]
    ds, t_snap = timed(snap_frame, net, dw)
    print(f"  generated in {t_gen:.1f} s; network {net.n_nodes:,} nodes / {net.n_edges:,} edges in {t_net:.1f} s; "
          f"{len(dw):,} dwellings snapped in {t_snap:.1f} s; {len(st):,} stations")
    rng = np.random.default_rng(a.seed)
    xy = net.project(dw)
    nodes = street_node_candidates(net)
    node_xy = net.node_xy[nodes["node"].to_numpy()]

    if a.city_only:
        sizes = []
    print("\n== MCLP, demand x candidates (no existing stations), same matrix for both engines ==")
    print(f"optimal: mip_gap 0 (a proven optimum); {a.mip_gap:.0%}: mip_gap {a.mip_gap:g} (certified gap reported); "
          "ratio: spopt build + solve over the optimal solve")
    hdr = (f"{'instance':>16} {'K':>3} | {'build s':>7} {'optimal s':>9} {'status':>9} {f'{a.mip_gap:.0%} s':>6} "
           f"{'gap':>7} {'greedy ms':>9} {'greedy gap':>10} | {'spopt build s':>13} {'spopt solve s':>13} "
           f"{'same opt':>8} | {'ratio':>6}")
    print(hdr)
    for n, m, k in sizes:
        c = xy[rng.integers(len(xy))]
        dd = np.hypot(*(xy - c).T)
        near = np.argsort(dd)[: 2 * n]
        rows = np.sort(rng.choice(near, n, replace=False))
        R = dd[near].max()
        pool = np.flatnonzero(np.hypot(*(node_xy - c).T) <= R)
        cands = nodes.iloc[np.sort(rng.choice(pool, m, replace=False))]
        M, t_build = timed(from_frames, net, dw.iloc[rows], cands, budget_s=budget, dwelling_snap=ds.take(rows))
        r, t_exact = timed(mclp, M, k, mip_gap=0.0)
        cpu_opt = CPU["mclp"]
        r1, t_gap = timed(mclp, M, k, mip_gap=a.mip_gap)
        g, t_greedy = timed(mclp, M, k, method="greedy")
        ggap = (r.objective - g.objective) / r.objective if r.objective else 0.0
        line = (f"{n:>7,} x {m:>6,} {k:>3} | {t_build:7.2f} {t_exact:9.2f} {r.status:>9} {t_gap:6.2f} {r1.gap:7.2%} "
                f"{t_greedy * 1e3:9.1f} {ggap:10.2%} |")
        cpu_build = CPU["from_frames"]
        obj = None
        if a.no_spopt:
            print(line + " (spopt skipped)")
        else:
            dense = np.full((n, m), 1e9)
            t = M.time_s.tocoo()
            dense[t.row, t.col] = t.data
            b, s, obj, note = spopt_mclp(dense, M.weights, k, budget, a.spopt_timeout)
            if b is None or s is None:
                print(line + f" spopt {note}" + (f" (build {b:.1f} s)" if b is not None else ""))
            else:
                same = "yes" if abs(obj - r.objective) <= 1e-6 * max(1.0, obj) else f"{obj:g}"
                print(line + f" {b:13.2f} {s:13.2f} {same:>8} | {(b + s) / t_exact:6.1f}x")
        print(f"{'':>22} covered {r.objective:,.0f} of {M.total_households:,.0f} households "
              f"({r.objective / M.total_households:.1%}); optimum={r.objective:g} ({r.status}); at {a.mip_gap:g}: "
              f"{r1.objective:g} bound {r1.bound:g}; spopt={obj if obj is None else f'{obj:g}'}; "
              f"greedy={g.objective:g}; {r.size.get('undominated', '-')} undominated sites; "
              f"CPU: build {cpu_build:.2f} s, optimal {cpu_opt:.2f} s")

    print("\n== the whole city: every street node within reach of a gap, existing stations kept ==")
    (reach, t_reach) = timed(compute_reach, net, st, dw, breaks_s=(budget,), dwelling_snap=ds)
    gaps, t_gaps = timed(gap_node_candidates, net, dw, reach.covered(), budget_s=budget, dwelling_snap=ds)
    hh = reach.households
    print(f"  coverage now {hh[reach.covered()].sum():,} of {hh.sum():,} households; "
          f"{int((~reach.covered()).sum()):,} dwellings in gaps; {len(gaps):,} candidate nodes ({t_gaps:.2f} s)")
    cpu_reach = CPU["compute_reach"] + CPU["gap_node_candidates"]
    M, t_build = timed(from_frames, net, dw, gaps, st, budget_s=budget, dwelling_snap=ds)
    cpu_build = CPU["from_frames"]
    print(f"  matrix {M.n_demand:,} x ({M.n_candidates:,} + {M.n_existing:,}) with {M.time_s.nnz:,} pairs "
          f"built in {t_build:.1f} s, CPU {cpu_build:.1f} s ({len(gaps) + len(st):,} bounded searches)")
    r, t_exact = timed(mclp, M, city_k, mip_gap=a.mip_gap)
    cpu_exact = CPU["mclp"]
    runs = [timed(mclp, M, city_k, method="greedy") for _ in range(5)]
    g, t_greedy = runs[0]
    t_best = min(t for _, t in runs)
    print(f"  exact MCLP K={city_k}: {t_exact:.2f} s, status {r.status}, newly covered {r.objective:,.0f}, "
          f"bound {r.bound:,.1f}, gap {r.gap:.3%}, LP bound {r.lp_bound}, size {r.size}")
    print(f"  greedy preview: {t_greedy * 1e3:.1f} ms first call, {t_best * 1e3:.1f} ms best of 5, newly covered {g.objective:,.0f} "
          f"({g.objective / r.objective:.2%} of the exact answer), certified bound {g.bound:,.0f}")
    print(f"  exact solve CPU {cpu_exact:.2f} s; greedy CPU {CPU['mclp'] * 1e3:.1f} ms (the last call)")
    print(f"  end to end (reach + gap nodes + matrix + exact): {t_reach + t_gaps + t_build + t_exact:.1f} s, "
          f"CPU {cpu_reach + cpu_build + cpu_exact:.1f} s")
    dense_gb = int((~reach.covered()).sum()) * len(gaps) * 8 / 1e9
    print(f"  spopt not run on the city: its dense matrix of only the gap dwellings would hold "
          f"{dense_gb:.1f} GB of float64")
    print(f"\nload average at the end {os.getloadavg()[0]:.1f} (1 min), {os.getloadavg()[1]:.1f} (5 min)")
    print(f"peak memory (max RSS): {peak_mb():,.0f} MB in this process; "
          f"{resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024:,.0f} MB the largest spopt child")


if __name__ == "__main__":
    main()
