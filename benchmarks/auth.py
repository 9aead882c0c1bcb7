"""Access control and audit: what the audit triggers cost an import, and what authenticating costs a request.

Usage::

    .venv/bin/python benchmarks/auth.py [--households 100000] [--incidents 100000] [--requests 500]

1. a scratch embedded PostGIS, migrated; the sample district (``geo.sample.make_district``);
2. import cost: every layer imported through ``api.imports.import_frame`` (one transaction) into
   the emptied database, with the audit triggers of migration 0006 disabled (the **baseline**,
   what the import cost before audit) and with them on, alternating ``--rounds`` times, the best
   of each; rows/s per layer, the ratio, and the size of ``audit_log`` per audited row;
3. request cost: ``GET /collections/areas/items?limit=10`` through the in-process ASGI client,
   ``--requests`` times each, best of ``--rounds`` alternating rounds: open mode (no user: the **baseline**, no credentials read), an
   admin's signed bearer token, its API key, and a town official's token (a jurisdiction built
   from its town, cached per data version); requests/s and the extra milliseconds a request.

Figures are printed, never asserted.
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
AUDITED = ("areas", "grids", "dwellings", "stations", "streets", "incidents")


def _triggers(engine, on: bool) -> None:
    from sqlalchemy import text

    with engine.begin() as conn:
        for t in AUDITED:
            for op in ("insert", "update", "delete"):
                conn.execute(text(f"ALTER TABLE {t} {'ENABLE' if on else 'DISABLE'} TRIGGER {t}_audit_{op}"))


def _empty(engine) -> None:
    from sqlalchemy import text

    with engine.begin() as conn:
        conn.execute(text("TRUNCATE incident_events, incidents, dwellings, stations, streets, grids, areas, "
                          "audit_log, api_tokens, users RESTART IDENTITY CASCADE"))


def _import(engine, layers, settings) -> dict[str, float]:
    from api.imports import import_frame

    out = {}
    with engine.begin() as conn:
        for layer in LAYERS:
            t0 = time.perf_counter()
            import_frame(conn, layer, layers[layer], settings)
            out[layer] = time.perf_counter() - t0
    return out


def _rate(client, n: int, headers: dict) -> float:
    url = "/collections/areas/items?limit=10"
    assert client.get(url, headers=headers).status_code == 200
    t0 = time.perf_counter()
    for _ in range(n):
        client.get(url, headers=headers)
    return n / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--households", type=int, default=100_000)
    ap.add_argument("--incidents", type=int, default=100_000)
    ap.add_argument("--requests", type=int, default=500)
    ap.add_argument("--rounds", type=int, default=2, help="alternating rounds; the best of each is printed")
    args = ap.parse_args()

    from fastapi.testclient import TestClient
    from sqlalchemy import text

    from api.app import create_app
    from api.auth import accounts, tokens
    from api.db.engine import make_engine
    from api.db.migrate import upgrade
    from api.settings import Settings
    from geo.sample import make_district
    from scratch_db import scratch_postgis

    t0 = time.perf_counter()
    layers = make_district(args.households, seed=0, incidents=args.incidents)
    print(f"sample: {args.households:,} households, {args.incidents:,} incidents "
          f"({time.perf_counter() - t0:.1f} s to generate)")
    with scratch_postgis() as (url, home):
        engine = make_engine(url.replace("postgresql://", "postgresql+psycopg2://", 1))
        upgrade(engine)
        settings = Settings(home=home, database_url=url, _env_file=None)

        base: dict[str, float] = {}
        audited: dict[str, float] = {}
        for rnd in range(args.rounds):  # alternating, best of each: neither run gets the warm caches alone
            for on, best in ((False, base), (True, audited)):
                _empty(engine)
                _triggers(engine, on)
                for layer, t in _import(engine, layers, settings).items():
                    best[layer] = min(t, best.get(layer, t))
        with engine.connect() as conn:
            n_audit = conn.execute(text("SELECT count(*) FROM audit_log")).scalar_one()
            size = conn.execute(text("SELECT pg_total_relation_size('audit_log')")).scalar_one()
        print("\nimport, one transaction per run (rows/s):")
        print(f"{'layer':<10} {'rows':>9} {'no audit (baseline)':>20} {'audited':>10} {'ratio':>7}")
        for layer in LAYERS:
            n = len(layers[layer])
            print(f"{layer:<10} {n:>9,} {n / base[layer]:>20,.0f} {n / audited[layer]:>10,.0f} "
                  f"{base[layer] / audited[layer]:>7.2f}")
        tb, ta = sum(base.values()), sum(audited.values())
        print(f"{'all':<10} {sum(len(layers[x]) for x in LAYERS):>9,} {tb:>19.2f}s {ta:>9.2f}s {tb / ta:>7.2f}"
              f"   (audited/baseline time {ta / tb:.2f}x)")
        print(f"audit_log: {n_audit:,} rows, {size / 1e6:.1f} MB ({size / max(n_audit, 1):,.0f} bytes a row)")

        app = create_app(settings)
        town = str(layers["areas"].loc[layers["areas"]["level"] == "town", "code"].iloc[0])
        r_open = r_token = r_key = r_off = 0.0
        with TestClient(app) as client:
            for rnd in range(args.rounds):  # best of each over alternating rounds
                with engine.begin() as conn:
                    conn.execute(text("TRUNCATE api_tokens, users RESTART IDENTITY CASCADE"))
                app.state.auth_closed = False  # no user again: open mode
                r_open = max(r_open, _rate(client, args.requests, {}))
                with engine.begin() as conn:
                    uid = accounts.add_user(conn, "bench", "bench password", "admin", [])
                    _, key = accounts.create_key(conn, "bench", "bench")
                    oid = accounts.add_user(conn, "town-official", "bench password", "official", [town])
                r_token = max(r_token, _rate(client, args.requests,
                                             {"Authorization": f"Bearer {tokens.issue(settings, uid)[0]}"}))
                r_key = max(r_key, _rate(client, args.requests, {"X-API-Key": key}))
                r_off = max(r_off, _rate(client, args.requests,
                                         {"Authorization": f"Bearer {tokens.issue(settings, oid)[0]}"}))
        print(f"\nrequests, {args.requests} x GET /collections/areas/items?limit=10 (in-process client):")
        print(f"open mode (baseline) {r_open:8.1f} req/s")
        for name, r in (("bearer token", r_token), ("API key", r_key), ("town official", r_off)):
            print(f"{name:<20} {r:8.1f} req/s   ratio {r / r_open:.2f}   +{1000 / r - 1000 / r_open:.2f} ms a request")
        engine.dispose()


if __name__ == "__main__":
    main()
