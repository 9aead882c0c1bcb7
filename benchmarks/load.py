"""Load on loopback: many clients against ``gridmap serve`` as it runs in production (issue 16).

Usage::

    .venv/bin/python benchmarks/load.py                       # 500,000 households, 50 clients, 60 s
    .venv/bin/python benchmarks/load.py --households 50000 --seconds 15 --clients 20   # a quick run

1. the sample city (``geo.sample.make_district(households, seed=0)``, a year of incidents) imported
   through ``api.imports.import_frame`` into a scratch embedded PostGIS (destroyed afterwards);
2. an admin and an integration user made with ``gridmap user add``, the integration's API key with
   ``gridmap token create`` (the 12345-hotline case), the admin's bearer token from ``POST /token``;
3. for each server (the **baseline** first, ``--baseline-workers``, default 1 worker; then
   ``--workers``, default one per CPU), ``gridmap serve --production --workers N`` in its own
   process group, warmed up (every endpoint asked until each worker has answered it), then
   ``--clients`` concurrent clients (httpx, asyncio, one keep-alive connection each) for
   ``--seconds``, each request drawn from the mix:

   ========== ====================================================================== ======
   intake     ``POST /incidents`` (API key, ``Idempotency-Key``; 1 in 10 a retry of   3
              an earlier request with the same key and body, which must replay)
   map        ``GET /map`` (the overview page)                                       1
   coverage   ``GET /coverage``                                                      2
   stats      ``GET /incidents/stats``                                               2
   heatmap    ``GET /incidents/heatmap``                                             1
   reach      ``GET /stations/{id}/reach`` (a random counted station)                2
   whatif     ``POST /coverage/what-if`` (add a station at a random dwelling)         1
   ========== ====================================================================== ======

Printed per server: throughput overall and per endpoint, p50/p95/p99 per endpoint, answers by
status, the CPU the server (its workers and the PostgreSQL backends) and this client used (cores =
CPU seconds / wall seconds), the load average; then the check that the incidents in the database
grew by exactly the number of first-time 201s (retries replayed, nothing lost, nothing
duplicated).  Figures are printed, never asserted; the machine's other load makes them noisy.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter, defaultdict
from contextlib import contextmanager
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from scratch_db import scratch_postgis  # noqa: E402

MIX = {"intake": 3, "map": 1, "coverage": 2, "stats": 2, "heatmap": 1, "reach": 2, "whatif": 1}
RETRY_SHARE = 0.1
PASSWORD = "load benchmark password 1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def loadavg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def cli(env: dict, *args: str) -> str:
    r = subprocess.run([sys.executable, "-m", "api.cli", *args], cwd=ROOT, env=env, capture_output=True, text=True)
    if r.returncode:
        raise RuntimeError(f"gridmap {' '.join(args)} failed: {r.stdout}\n{r.stderr}")
    return r.stdout


def cpu_seconds(pids) -> float:
    """User + system CPU seconds of these processes, their live descendants and reaped children."""
    import psutil

    total = 0.0
    seen = set()
    for pid in pids:
        try:
            root = psutil.Process(pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            continue
        for p in procs:
            if p.pid in seen:
                continue
            seen.add(p.pid)
            try:
                t = p.cpu_times()
                total += t.user + t.system + t.children_user + t.children_system
            except psutil.NoSuchProcess:
                pass
    return total


class World:
    """What the clients draw their requests from."""

    def __init__(self, layers, categories: list[str], station_ids: list[int]):
        d = layers["dwellings"]
        self.xy = np.column_stack([d.geometry.x.to_numpy(), d.geometry.y.to_numpy()])
        self.categories = categories
        self.station_ids = station_ids


class Load:
    """One load run's requests and their outcomes."""

    def __init__(self, base: str, world: World, bearer: str, api_key: str, tag: str, seed: int):
        self.base, self.world, self.tag = base, world, tag
        self.read_headers = {"Authorization": f"Bearer {bearer}"}
        self.key_headers = {"X-API-Key": api_key}
        self.rng = random.Random(seed)
        self.sent: list[tuple[str, dict]] = []  # (Idempotency-Key, body) of intakes answered 201 first time
        self.n = 0
        self.results: list[tuple[str, int, float]] = []  # endpoint, status, seconds
        self.created = 0  # first-time 201s
        self.replayed = 0  # retries answered from the stored answer
        self.bad_replays = 0  # retries answered otherwise than the first time

    def pick(self) -> str:
        names, weights = zip(*MIX.items())
        return self.rng.choices(names, weights)[0]

    def point(self) -> tuple[float, float]:
        x, y = self.world.xy[self.rng.randrange(len(self.world.xy))]
        return float(x) + self.rng.uniform(-2e-5, 2e-5), float(y) + self.rng.uniform(-2e-5, 2e-5)

    def intake_body(self) -> tuple[str, dict]:
        self.n += 1
        lon, lat = self.point()
        when = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=self.rng.uniform(1, 600))
        return str(uuid.uuid4()), {
            "type": "Feature", "geometry": {"type": "Point", "coordinates": [lon, lat]},
            "properties": {"external_id": f"load-{self.tag}-{self.n}", "category": self.rng.choice(self.world.categories),
                           "reported_at": when.isoformat(timespec="seconds"), "reporter_kind": "resident",
                           "description": "load benchmark"}}

    async def one(self, http, name: str) -> None:
        retry = False
        t0 = time.perf_counter()
        if name == "intake":
            if self.sent and self.rng.random() < RETRY_SHARE:
                key, body = self.rng.choice(self.sent)
                retry = True
            else:
                key, body = self.intake_body()
            r = await http.post("/incidents", json=body, headers={**self.key_headers, "Idempotency-Key": key})
        elif name == "map":
            r = await http.get("/map", headers=self.read_headers)
        elif name == "coverage":
            r = await http.get("/coverage", headers=self.read_headers)
        elif name == "stats":
            r = await http.get("/incidents/stats", headers=self.read_headers)
        elif name == "heatmap":
            r = await http.get("/incidents/heatmap", headers=self.read_headers)
        elif name == "reach":
            sid = self.rng.choice(self.world.station_ids)
            r = await http.get(f"/stations/{sid}/reach", headers=self.read_headers)
        elif name == "whatif":
            lon, lat = self.point()
            r = await http.post("/coverage/what-if", json={"action": "add", "lon": lon, "lat": lat},
                                headers=self.read_headers)
        else:
            raise ValueError(name)
        took = time.perf_counter() - t0
        self.results.append((name, r.status_code, took))
        if name == "intake" and r.status_code == 201:
            if retry:
                ok = r.headers.get("Idempotent-Replayed") == "true"
                self.replayed += ok
                self.bad_replays += not ok
            elif r.headers.get("Idempotent-Replayed") != "true":
                self.created += 1
                self.sent.append((key, body))
        elif name == "intake" and retry:
            self.bad_replays += 1

    async def client(self, http, deadline: float) -> None:
        import httpx

        while time.perf_counter() < deadline:
            name = self.pick()
            try:
                await self.one(http, name)
            except httpx.HTTPError as exc:  # a refused or reset connection is an error of the server's
                self.results.append((name, -1, 0.0))
                print(f"  {name}: {type(exc).__name__} {exc}", file=sys.stderr)

    async def run(self, clients: int, seconds: float) -> float:
        import httpx

        https = [httpx.AsyncClient(base_url=self.base, timeout=120) for _ in range(clients)]
        t0 = time.perf_counter()
        deadline = t0 + seconds  # from when every client exists (making 50 takes seconds on a loaded machine)
        try:
            await asyncio.gather(*(self.client(h, deadline) for h in https))
        finally:
            for h in https:
                await h.aclose()
        return time.perf_counter() - t0


class Served:
    """``gridmap serve --production --workers N`` in its own process group."""

    def __init__(self, env: dict, workers: int):
        self.port = free_port()
        self.workers = workers
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "api.cli", "serve", "--production", "--workers", str(workers),
             "--port", str(self.port)], cwd=ROOT, env=env, start_new_session=True,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.base = f"http://127.0.0.1:{self.port}"

    def __enter__(self):
        import httpx

        t0 = time.perf_counter()
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gridmap serve exited: {self.proc.stderr.read()}")
            try:
                if httpx.get(f"{self.base}/health", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.perf_counter() - t0 > 180:
                raise RuntimeError("gridmap serve did not answer /health in 180 s")
            time.sleep(0.2)
        return self

    def __exit__(self, *exc):
        try:
            os.killpg(self.proc.pid, signal.SIGINT)
            self.proc.wait(60)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)


@contextmanager
def kept_postgis(home: Path):
    """The embedded cluster under ``home`` (made and started if need be), left running afterwards."""
    from api.db.embedded import EmbeddedPostgres

    home.mkdir(parents=True, exist_ok=True)
    home.chmod(0o755)
    yield EmbeddedPostgres(home).start(), home


AUDITED = ("areas", "grids", "dwellings", "stations", "streets", "incidents")


def _audit_triggers(engine, on: bool) -> None:
    from sqlalchemy import text

    with engine.begin() as conn:
        for t in AUDITED:
            for op in ("insert", "update", "delete"):
                conn.execute(text(f"ALTER TABLE {t} {'ENABLE' if on else 'DISABLE'} TRIGGER {t}_audit_{op}"))


def incident_count(engine) -> int:
    from sqlalchemy import text

    with engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM incidents")).scalar_one()


async def warm(load: Load, workers: int) -> None:
    """Ask every endpoint, concurrently, until each worker has had it several times (first answers
    compute the coverage run, the overview, the heatmap frames in that worker)."""
    import httpx

    async with httpx.AsyncClient(base_url=load.base, timeout=900) as http:
        for _ in range(3):
            await asyncio.gather(*(load.one(http, name) for name in MIX for _ in range(2 * workers)))
    load.results.clear()
    load.created = load.replayed = load.bad_replays = 0


def settle(pid: int, cap_s: float = 900.0) -> None:
    """Wait until the idle server stops working (each worker's background warm-up of its coverage
    run, drawing every station's area, has finished): under 0.1 core over 3 s, at most ``cap_s``."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < cap_s:
        c0 = cpu_seconds([pid])
        time.sleep(3)
        if (cpu_seconds([pid]) - c0) / 3 < 0.1:
            return
    print(f"   (the server was still busy after {cap_s:.0f} s of warm-up: measured anyway)")


def measure(env, engine, world, bearer, key, workers: int, clients: int, seconds: float, postmaster: int,
            tag: str) -> dict:
    with Served(env, workers) as srv:
        load = Load(srv.base, world, bearer, key, tag, seed=workers)
        t0 = time.perf_counter()
        asyncio.run(warm(load, workers))
        settle(srv.proc.pid)
        warm_s = time.perf_counter() - t0
        created_in_warmup = incident_count(engine)
        la0 = loadavg()
        c0, s0, p0 = time.process_time(), cpu_seconds([srv.proc.pid]), cpu_seconds([postmaster])
        wall = asyncio.run(load.run(clients, seconds))
        c1, s1, p1 = time.process_time(), cpu_seconds([srv.proc.pid]), cpu_seconds([postmaster])
        after = incident_count(engine)
    return {"workers": workers, "wall": wall, "warm_s": warm_s, "load": load, "loadavg_start": la0,
            "loadavg_end": loadavg(), "client_cores": (c1 - c0) / wall, "server_cores": (s1 - s0) / wall,
            "pg_cores": (p1 - p0) / wall, "grew": after - created_in_warmup}


def report(m: dict, baseline: dict | None) -> None:
    load: Load = m["load"]
    wall = m["wall"]
    by = defaultdict(list)
    statuses: dict[str, Counter] = defaultdict(Counter)
    for name, status, took in load.results:
        by[name].append(took)
        statuses[name][status] += 1
    n = len(load.results)
    errors = sum(c for s in statuses.values() for st, c in s.items() if st < 200 or st >= 400)
    print(f"\n== {m['workers']} worker(s){' (baseline)' if baseline is None else ''}: {n:,} requests in {wall:.1f} s "
          f"= {n / wall:.1f} requests/s"
          + (f"  ({(n / wall) / (baseline['n'] / baseline['wall']):.2f}x the baseline)" if baseline else "")
          + f"; {errors} errors; warm-up (first answers, background drawing) {m['warm_s']:.1f} s")
    print(f"   CPU: server workers {m['server_cores']:.2f} cores, PostgreSQL {m['pg_cores']:.2f} cores, "
          f"this client {m['client_cores']:.2f} cores (of {os.cpu_count()}); load average {m['loadavg_start']} "
          f"at start, {m['loadavg_end']} at end")
    print(f"   {'endpoint':<10} {'requests':>8} {'req/s':>7} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}  statuses")
    for name in MIX:
        xs = np.array(by.get(name, [0.0])) * 1000
        st = ", ".join(f"{k}: {v}" for k, v in sorted(statuses[name].items()))
        print(f"   {name:<10} {len(by.get(name, [])):>8,} {len(by.get(name, [])) / wall:>7.1f} "
              f"{np.percentile(xs, 50):>8.0f} {np.percentile(xs, 95):>8.0f} {np.percentile(xs, 99):>8.0f}  {st}")
    ok = m["grew"] == load.created and load.bad_replays == 0
    print(f"   incidents: {load.created:,} first-time 201s, {load.replayed:,} retries replayed "
          f"({load.bad_replays} not), the table grew by {m['grew']:,}: "
          + ("nothing lost, nothing duplicated" if ok else "MISMATCH"))


def main() -> None:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a stopped run still destroys its cluster
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--households", type=int, default=500_000)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 2, help="workers of the measured server")
    ap.add_argument("--baseline-workers", type=int, default=1, help="workers of the baseline (0: no baseline)")
    ap.add_argument("--home", type=Path, default=None,
                    help="keep the embedded cluster in this directory between runs (the sample is imported once, "
                         "when its database is empty); default: a scratch cluster destroyed afterwards")
    a = ap.parse_args()

    from sqlalchemy import text

    from api.db.engine import make_engine
    from api.db.migrate import upgrade
    from api.imports import import_frame
    from api.settings import Settings
    from geo.sample import make_district

    print(f"load average at start: {loadavg()}; {os.cpu_count()} CPUs (shared with whatever else runs); "
          f"{a.clients} clients for {a.seconds:g} s a server", flush=True)
    t = time.perf_counter()
    layers = make_district(a.households, seed=0)
    print(f"data: geo.sample.make_district({a.households:,}, seed=0): {len(layers['dwellings']):,} dwellings, "
          f"{len(layers['grids']):,} grids, {len(layers['stations']):,} stations, {len(layers['streets']):,} street "
          f"edges, {len(layers['incidents']):,} incidents ({time.perf_counter() - t:.1f} s)")
    with (kept_postgis(a.home) if a.home else scratch_postgis("gridmap-bench-load-")) as (url, home):
        engine = make_engine(url.replace("postgresql://", "postgresql+psycopg2://", 1))
        upgrade(engine)
        with engine.connect() as conn:
            present = conn.execute(text("SELECT count(*) FROM dwellings")).scalar_one()
        t = time.perf_counter()
        if not present:
            _audit_triggers(engine, on=False)  # setting up is not what is measured: the servers audit again
        for layer in () if present else ("areas", "grids", "streets", "stations", "dwellings", "incidents"):
            # a transaction and fresh statistics a layer: the next layer's attribution plans on them
            t1 = time.perf_counter()
            with engine.begin() as conn:
                import_frame(conn, layer, layers[layer], Settings(_env_file=None))
            with engine.begin() as conn:
                conn.execute(text("ANALYZE"))
            print(f"  {layer}: {len(layers[layer]):,} in {time.perf_counter() - t1:.1f} s", flush=True)
        if present:
            with engine.connect() as conn:
                n_inc = conn.execute(text("SELECT count(*) FROM incidents")).scalar_one()
            print(f"the kept cluster in {home} already holds the sample: {present:,} dwellings, {n_inc:,} incidents "
                  "(the sample's and those of earlier runs)")
        else:
            _audit_triggers(engine, on=True)
            print(f"loaded into PostGIS in {time.perf_counter() - t:.1f} s (audit triggers off for the setup only)")
        postmaster = int((home / "pg" / "data" / "postmaster.pid").read_text().split()[0])

        env = {k: v for k, v in os.environ.items() if not k.startswith("GRIDMAP_")}
        env.update({"GRIDMAP_DATABASE_URL": url, "GRIDMAP_HOME": str(home / "app"), "PYTHONPATH": str(ROOT)})
        run = f"{int(time.time())}"  # users of this run (a kept cluster keeps those of earlier runs)
        admin, hotline = f"load-admin-{run}", f"hotline-{run}"
        cli(env, "user", "add", admin, "--role", "admin", "--password", PASSWORD)
        towns = layers["areas"].loc[layers["areas"]["level"] == "town", "code"].astype(str)
        cli(env, "user", "add", hotline, "--role", "integration", "--no-password",
            *(x for code in towns for x in ("--area", code)))
        key = cli(env, "token", "create", hotline, "--name", "12345-hotline").strip().splitlines()[-1].strip()

        import httpx

        with Served(env, 1) as srv:
            bearer = httpx.post(f"{srv.base}/token", data={"username": admin, "password": PASSWORD}
                                ).json()["access_token"]
            h = {"Authorization": f"Bearer {bearer}"}
            categories = [c["code"] for c in httpx.get(f"{srv.base}/incidents/categories", headers=h).json()]
            st = httpx.get(f"{srv.base}/coverage/stations", headers=h, timeout=600).json()
            station_ids = [f["properties"]["id"] for f in st["features"]]
        world = World(layers, categories, station_ids)
        del layers
        print(f"users: load-admin (admin, bearer token from POST /token), hotline (integration in all {len(towns)} "
              f"towns, API key from gridmap token create); {len(categories)} categories, {len(station_ids):,} counted stations")

        baseline = None
        if a.baseline_workers:
            m = measure(env, engine, world, bearer, key, a.baseline_workers, a.clients, a.seconds, postmaster,
                        f"base-{run}")
            report(m, None)
            baseline = {"n": len(m["load"].results), "wall": m["wall"]}
        m = measure(env, engine, world, bearer, key, a.workers, a.clients, a.seconds, postmaster, f"main-{run}")
        report(m, baseline)
        engine.dispose()


if __name__ == "__main__":
    main()
