"""The OGC API (tipg inside gridmap) and the overview map on the generated sample city.

Usage::

    .venv/bin/python benchmarks/ogc.py [--households 500000] [--repeat 30]

1. ``geo.sample.make_district`` generates the city (500,000 households by default), imported
   through ``api.imports.import_frame`` into a scratch embedded PostGIS; gridmap is served by
   uvicorn on loopback in a child process (as ``gridmap serve`` does);
2. a z14 vector tile over the city centre of every vector-tile layer the map pages draw, asked
   exactly as the page asks it (the collection and ``properties=`` read from the ``gridmap.tileLayer``
   specs in the rendered ``/map`` and ``/coverage/map``, the URL built as
   ``api/static/gridmap/tiles.js`` builds it), and of the dwellings with all their properties (no
   page draws them as tiles yet): p50/p95 of ``--repeat`` requests;
3. ``/collections/dwellings/items?filter=households>100&limit=1000``: p50/p95;
4. the overview map (``/map``) of the whole city in headless Chromium until every layer is drawn
   (``gridmap.pending === 0``), median of 3 page loads; beside it, measured the same way in the same
   run, the old way of drawing the grids: every grid as GeoJSON paged from
   ``/collections/grids/items`` with its households (what ``/map`` fetched before the vector tiles),
   timed as the browser's fetch of all those pages; the ratio is printed.

Beside every figure: the load average (``os.getloadavg()``; the machine is shared) and the CPU
seconds the server (uvicorn) and PostgreSQL (every process of the cluster) spent during it.
``--database-url`` measures an existing database (migrated, holding a city) instead of making one.

Figures are printed, never asserted.  Targets (issue 17): tile p95 <= 50 ms, filter p95 <= 200 ms,
map ready <= 2 s.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

READY = "window.gridmap && gridmap.started > 0 && gridmap.pending === 0"
OLD_GRIDS = """async () => {
  const t0 = performance.now(); let url = '/collections/grids/items?limit=10000', n = 0;
  while (url) {
    const fc = await (await fetch(url, {headers: {Accept: 'application/geo+json'}})).json();
    n += fc.features.length;
    const next = (fc.links || []).find(l => l.rel === 'next');
    url = next ? next.href : null;
  }
  return [performance.now() - t0, n];
}"""


TILE_LAYER = re.compile(r"gridmap\.tileLayer\((\{.*?\}), map_")
PAGES = ("/map", "/coverage/map")


def _page_tile_urls(base: str, z: int, x: int, y: int) -> list[tuple[str, str]]:
    """(page and layer, tile URL) for every vector-tile layer of :data:`PAGES`, the URL as
    ``api/static/gridmap/tiles.js`` builds it from the layer's spec (collection, ``properties``)."""
    out, seen = [], set()
    for page in PAGES:
        with urllib.request.urlopen(base + page, timeout=120) as r:
            html = r.read().decode()
        for raw in TILE_LAYER.findall(html):
            spec = json.loads(raw)
            url = f"/collections/{spec['collection']}/tiles/WebMercatorQuad/{z}/{x}/{y}"
            if spec.get("properties"):
                url += "?properties=" + urllib.parse.quote(",".join(spec["properties"]))
            if url not in seen:
                seen.add(url)
                out.append((f"{page} {spec['collection']}", url))
    return out


class Cpu:
    """CPU seconds (user + system) of the server process and of every process of the PostgreSQL
    cluster, between :meth:`start` and :meth:`took`."""

    def __init__(self, server_pids: list[int], postmaster_pid: int):
        self.server = [psutil.Process(p) for p in server_pids]
        self.postmaster = psutil.Process(postmaster_pid)

    def _now(self) -> tuple[float, float]:
        def cpu(procs):
            total = 0.0
            for p in procs:
                try:
                    t = p.cpu_times()
                    total += t.user + t.system
                except psutil.NoSuchProcess:
                    pass
            return total
        # backends come and go (the pool keeps its own), so the cluster's figure sums the living ones
        # and the ones already reaped (the postmaster's children_* times)
        pm = self.postmaster.cpu_times()
        return cpu(self.server), cpu([self.postmaster, *self.postmaster.children(recursive=True)]) \
            + pm.children_user + pm.children_system

    def start(self) -> None:
        self.t0 = self._now()

    def took(self) -> str:
        s, p = self._now()
        return f"CPU server {s - self.t0[0]:.2f} s, postgres {p - self.t0[1]:.2f} s"


def _postmaster(port: int) -> int:
    """The pid of the PostgreSQL server listening on ``port`` (its cluster's root process)."""
    for p in psutil.process_iter(["name", "cmdline"]):
        cmd = p.info["cmdline"] or []
        if p.info["name"] in ("postgres", "postmaster") and "-p" in cmd and cmd[cmd.index("-p") + 1:][:1] == [str(port)]:
            return p.pid
    raise RuntimeError(f"no PostgreSQL server started with -p {port} on this machine")


def load() -> str:
    a, b, c = os.getloadavg()
    return f"load {a:.2f} {b:.2f} {c:.2f}"


def _times(url: str, repeat: int) -> tuple[list[float], int]:
    out, size = [], 0
    for _ in range(repeat):
        t0 = time.perf_counter()
        with urllib.request.urlopen(url, timeout=60) as r:
            body = r.read()
            assert r.status == 200
        out.append(time.perf_counter() - t0)
        size = len(body)
    return out, size


def _p(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))]


@contextmanager
def _city(households: int, database_url: str | None):
    """``(url, home)`` of a database holding the sample city: made in a scratch cluster, or the
    one at ``database_url`` (migrated to head first)."""
    from sqlalchemy import text

    from api.db.engine import make_engine
    from api.db.migrate import upgrade
    from api.imports import import_frame
    from api.settings import Settings
    from scratch_db import scratch_postgis

    if database_url:
        upgrade(make_engine(database_url))
        home = Path(tempfile.mkdtemp(prefix="gridmap-bench-ogc-"))
        try:
            yield database_url, home
        finally:
            shutil.rmtree(home, ignore_errors=True)
        return
    from geo.sample import make_district

    t0 = time.perf_counter()
    layers = make_district(households, seed=0, incidents=0)
    print(f"sample: {households:,} households, {len(layers['dwellings']):,} dwellings, "
          f"{len(layers['grids']):,} grids, {len(layers['streets']):,} streets ({time.perf_counter() - t0:.1f} s)")
    with scratch_postgis() as (url, home):
        settings = Settings(home=home / "home", database_url=url, _env_file=None)
        engine = make_engine(url)
        upgrade(engine)
        t0 = time.perf_counter()
        with engine.begin() as conn:
            for layer in ("areas", "grids", "streets", "stations", "dwellings"):
                import_frame(conn, layer, layers[layer], settings)
            conn.execute(text("ANALYZE"))
        print(f"imported in {time.perf_counter() - t0:.1f} s")
        yield url, home


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--households", type=int, default=500_000)
    ap.add_argument("--repeat", type=int, default=30)
    ap.add_argument("--database-url", help="measure this database (holding a city) instead of making one")
    args = ap.parse_args()

    import morecantile
    from sqlalchemy import text

    from api.db.engine import make_engine
    from tests.support.browser import chromium
    from tests.support.server import serve_process

    with _city(args.households, args.database_url) as (url, home):
        engine = make_engine(url)
        with engine.connect() as conn:
            lon, lat = conn.execute(text("SELECT ST_X(c), ST_Y(c) FROM (SELECT ST_Centroid(ST_Extent(geom)::geometry) c "
                                         "FROM dwellings) s")).one()
            n_big = conn.execute(text("SELECT count(*) FROM dwellings WHERE households > 100")).scalar_one()
            n_hh = conn.execute(text("SELECT coalesce(sum(households), 0) FROM dwellings")).scalar_one()
        engine.dispose()
        postmaster = _postmaster(engine.url.port)
        print(f"city: {n_hh:,} households; {load()}")
        (home / "srv").mkdir()
        with serve_process(url, home / "srv") as served:
            base = served.url
            server = [p.pid for p in psutil.Process().children() if "uvicorn" in " ".join(p.cmdline())]
            cpu = Cpu(server, postmaster)
            t = morecantile.tms.get("WebMercatorQuad").tile(lon, lat, 14)
            tiles = _page_tile_urls(base, t.z, t.x, t.y)
            tiles.append(("dwellings (all properties; no page draws them)",
                          f"/collections/dwellings/tiles/WebMercatorQuad/{t.z}/{t.x}/{t.y}"))
            for what, u in tiles:
                _times(base + u, 2)  # warm
                cpu.start()
                ts, size = _times(base + u, args.repeat)
                print(f"z14 tile over the centre ({t.x},{t.y}), {what}: p50 {_p(ts, .5) * 1000:.1f} ms, "
                      f"p95 {_p(ts, .95) * 1000:.1f} ms, {size / 1024:.0f} KiB (target p95 <= 50 ms) "
                      f"[{u}; {cpu.took()} for {args.repeat}; {load()}]")
            u = f"{base}/collections/dwellings/items?filter=households%3E100&limit=1000"
            _times(u, 2)
            cpu.start()
            ts, size = _times(u, args.repeat)
            print(f"dwellings filter=households>100&limit=1000 ({n_big:,} match): p50 {_p(ts, .5) * 1000:.0f} ms, "
                  f"p95 {_p(ts, .95) * 1000:.0f} ms, {size / 1024:.0f} KiB (target p95 <= 200 ms) "
                  f"[{cpu.took()} for {args.repeat}; {load()}]")
            with chromium() as browser:
                ready, old, cpu_new, cpu_old = [], [], [], []
                for i in range(4):
                    ctx = browser.new_context(viewport={"width": 1280, "height": 800})
                    page = ctx.new_page()
                    cpu.start()
                    t0 = time.perf_counter()
                    page.goto(base + "/map")
                    page.wait_for_function(READY, timeout=120_000)
                    took = time.perf_counter() - t0
                    if i:  # the first load warms the server's caches
                        ready.append(took)
                        cpu_new.append(cpu.took())
                        cpu.start()
                        ms, n = page.evaluate(OLD_GRIDS)
                        old.append(ms / 1000)
                        cpu_old.append(cpu.took())
                    ctx.close()
                r, o = statistics.median(ready), statistics.median(old)
                print(f"overview map of the whole city ready in Chromium: {r:.2f} s median (target <= 2 s) "
                      f"[per run: {' | '.join(cpu_new)}; {load()}]")
                print(f"  the old way, same run: the grids alone as GeoJSON pages with households ({n:,} grids): "
                      f"{o:.2f} s median; ratio old / new {o / r:.1f}x [per run: {' | '.join(cpu_old)}; {load()}]")


if __name__ == "__main__":
    main()
