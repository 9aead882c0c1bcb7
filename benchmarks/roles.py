"""Least privilege and audited plans: what the role split and the plan audit cost.

Usage::

    .venv/bin/python benchmarks/roles.py [--households 12000] [--rounds 3]

1. a scratch embedded PostGIS (``benchmarks/scratch_db.py``), migrated as the owner with the
   application's role granted (``api.db.engine.migrate``), the sample district imported as the
   application's role;
2. **start-up**: ``EmbeddedPostgres.start()`` on the running cluster (what every ``gridmap``
   command pays) with the role check (``_ensure_roles``, the new cost) against the same start with
   it skipped (the **baseline**), and ``migrate()`` at the head (the grants check included) against
   ``upgrade()`` at the head alone (the **baseline**);
3. **import**: the whole sample imported (one transaction) as the application's role against the
   same import as the owner (the **baseline**: privilege checks are the difference);
4. **plan audit**: ``create_plans`` for one community with the plan tables' audit triggers
   (migration 0010) on, against the same with them disabled (the **baseline**, the cost before
   0010), and the audit rows it wrote.

Best of ``--rounds`` alternating rounds; figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

LAYERS = ("areas", "grids", "streets", "stations", "dwellings", "incidents")
PLAN_TABLES = ("plans", "plan_units", "plan_grids")


def _best(fn, rounds: int) -> float:
    out = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return min(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--households", type=int, default=12_000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()

    from sqlalchemy import text

    from api.db.embedded import EmbeddedPostgres
    from api.db.engine import get_owner_engine, make_engine, migrate
    from api.db.migrate import upgrade
    from api.imports import import_frame
    from api.jurisdiction import EVERYWHERE
    from api.plans import PlanSpec, create_plans
    from api.settings import Settings
    from geo.sample import make_district
    from scratch_db import scratch_postgis

    with scratch_postgis("gridmap-bench-roles-") as (_owner_url, home):
        settings = Settings(home=home, _env_file=None)
        migrate(settings)
        pg = EmbeddedPostgres(home)
        app, owner = make_engine(pg.url()), make_engine(pg.owner_url())

        class NoRoles(EmbeddedPostgres):
            def _ensure_roles(self) -> None:  # the start before this change
                pass

        print("start-up (running cluster), best of", args.rounds)
        for _ in range(2):
            base = _best(lambda: NoRoles(home).start(), args.rounds)
            new = _best(lambda: EmbeddedPostgres(home).start(), args.rounds)
        print(f"  start():   without the role check {base * 1000:7.1f} ms   with it {new * 1000:7.1f} ms   "
              f"ratio {new / base:.2f}")
        for _ in range(2):
            base = _best(lambda: upgrade(get_owner_engine(settings)), args.rounds)
            new = _best(lambda: migrate(settings), args.rounds)
        print(f"  at head:   upgrade() {base * 1000:7.1f} ms   migrate() with the grants check {new * 1000:7.1f} ms   "
              f"ratio {new / base:.2f}")

        layers = make_district(args.households, seed=7)
        rows = sum(len(layers[k]) for k in LAYERS)

        def empty():
            with owner.begin() as conn:
                conn.execute(text("TRUNCATE incident_events, incidents, dwellings, stations, streets, grids, areas, "
                                  "plan_grids, plan_units, plans, audit_log RESTART IDENTITY CASCADE"))

        def load(engine):
            empty()
            t0 = time.perf_counter()
            with engine.begin() as conn:
                for layer in LAYERS:
                    import_frame(conn, layer, layers[layer], settings)
            return time.perf_counter() - t0

        as_owner, as_app = [], []
        for i in range(args.rounds):  # alternating which goes first: the machine warms up as it goes
            for engine, out in ((owner, as_owner), (app, as_app))[:: 1 if i % 2 == 0 else -1]:
                out.append(load(engine))
        print(f"import of {rows:,} rows ({args.households:,} households), best of {args.rounds}")
        print(f"  as the owner {min(as_owner):6.2f} s   as the app role {min(as_app):6.2f} s   "
              f"ratio {min(as_app) / min(as_owner):.2f}")

        with app.connect() as conn:
            comm = conn.execute(text("SELECT code FROM areas WHERE level = 'community' ORDER BY code LIMIT 1")).scalar_one()

        def triggers(on: bool):
            with owner.begin() as conn:
                for t in PLAN_TABLES:  # the plan tables' only triggers are 0010's audit ones
                    for op in ("insert", "update", "delete"):
                        conn.execute(text(f"ALTER TABLE {t} {'ENABLE' if on else 'DISABLE'} TRIGGER {t}_audit_{op}"))

        def plan():
            t0 = time.perf_counter()
            create_plans(app, settings, EVERYWHERE, PlanSpec(community=comm, target=300))
            return time.perf_counter() - t0

        off, on = [], []
        audit_rows = 0
        def audited():
            with app.connect() as conn:
                return conn.execute(text("SELECT count(*) FROM audit_log WHERE table_name LIKE 'plan%'")).scalar_one()

        for i in range(args.rounds):  # alternating which goes first
            for audit_on in ((False, True) if i % 2 == 0 else (True, False)):
                triggers(audit_on)
                n0 = audited()
                (on if audit_on else off).append(plan())
                if audit_on:
                    audit_rows = audited() - n0
        triggers(True)
        with app.connect() as conn:
            units = conn.execute(text("SELECT count(*) FROM plan_units WHERE plan_id = (SELECT max(id) FROM plans)")
                                 ).scalar_one()
        print(f"plan create (community {comm}, {units:,} units), best of {args.rounds}")
        print(f"  audit off {min(off):6.2f} s   audit on {min(on):6.2f} s   ratio {min(on) / min(off):.2f}   "
              f"({audit_rows:,} audit rows a plan)")
        app.dispose()
        owner.dispose()
        get_owner_engine(settings).dispose()


if __name__ == "__main__":
    main()
