"""The OGC API (tipg inside gridmap) and the overview map on the generated sample city.

Usage::

    .venv/bin/python benchmarks/ogc.py [--households 500000] [--repeat 30]

1. ``geo.sample.make_district`` generates the city (500,000 households by default), imported
   through ``api.imports.import_frame`` into a scratch embedded PostGIS; gridmap is served by
   uvicorn on loopback in a child process (as ``gridmap serve`` does);
2. a z14 vector tile of the grids and of the dwellings over the city centre
   (``/collections/{id}/tiles/WebMercatorQuad/14/x/y``): p50/p95 of ``--repeat`` requests;
3. ``/collections/dwellings/items?filter=households>100&limit=1000``: p50/p95;
4. the overview map (``/map``) of the whole city in headless Chromium until every layer is drawn
   (``gridmap.pending === 0``), median of 3 page loads; beside it, measured the same way in the same
   run, the old way of drawing the grids: every grid as GeoJSON paged from
   ``/collections/grids/items`` with its households (what ``/map`` fetched before the vector tiles),
   timed as the browser's fetch of all those pages; the ratio is printed.

Figures are printed, never asserted.  Targets (issue 17): tile p95 <= 50 ms, filter p95 <= 200 ms,
map ready <= 2 s.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import urllib.request
from pathlib import Path

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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--households", type=int, default=500_000)
    ap.add_argument("--repeat", type=int, default=30)
    args = ap.parse_args()

    import morecantile
    from sqlalchemy import text

    from api.db.engine import make_engine
    from api.db.migrate import upgrade
    from api.imports import import_frame
    from api.settings import Settings
    from geo.sample import make_district
    from scratch_db import scratch_postgis
    from tests.support.browser import chromium
    from tests.support.server import serve_process

    t0 = time.perf_counter()
    layers = make_district(args.households, seed=0, incidents=0)
    print(f"sample: {args.households:,} households, {len(layers['dwellings']):,} dwellings, "
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
        with engine.connect() as conn:
            lon, lat = conn.execute(text("SELECT ST_X(c), ST_Y(c) FROM (SELECT ST_Centroid(ST_Extent(geom)::geometry) c "
                                         "FROM dwellings) s")).one()
            n_big = conn.execute(text("SELECT count(*) FROM dwellings WHERE households > 100")).scalar_one()
        (home / "srv").mkdir()
        with serve_process(url, home / "srv") as served:
            base = served.url
            t = morecantile.tms.get("WebMercatorQuad").tile(lon, lat, 14)
            for coll in ("grids", "dwellings", "streets"):
                u = f"{base}/collections/{coll}/tiles/WebMercatorQuad/{t.z}/{t.x}/{t.y}"
                _times(u, 2)  # warm
                ts, size = _times(u, args.repeat)
                print(f"z14 tile {coll} over the centre ({t.x},{t.y}): p50 {_p(ts, .5) * 1000:.1f} ms, "
                      f"p95 {_p(ts, .95) * 1000:.1f} ms, {size / 1024:.0f} KiB (target p95 <= 50 ms)")
            u = f"{base}/collections/dwellings/items?filter=households%3E100&limit=1000"
            _times(u, 2)
            ts, size = _times(u, args.repeat)
            print(f"dwellings filter=households>100&limit=1000 ({n_big:,} match): p50 {_p(ts, .5) * 1000:.0f} ms, "
                  f"p95 {_p(ts, .95) * 1000:.0f} ms, {size / 1024:.0f} KiB (target p95 <= 200 ms)")
            with chromium() as browser:
                ready, old = [], []
                for i in range(4):
                    ctx = browser.new_context(viewport={"width": 1280, "height": 800})
                    page = ctx.new_page()
                    t0 = time.perf_counter()
                    page.goto(base + "/map")
                    page.wait_for_function(READY, timeout=120_000)
                    took = time.perf_counter() - t0
                    if i:  # the first load warms the server's caches
                        ready.append(took)
                        ms, n = page.evaluate(OLD_GRIDS)
                        old.append(ms / 1000)
                    ctx.close()
                r, o = statistics.median(ready), statistics.median(old)
                print(f"overview map of the whole city ready in Chromium: {r:.2f} s median (target <= 2 s)")
                print(f"  the old way, same run: the grids alone as GeoJSON pages with households ({n:,} grids): "
                      f"{o:.2f} s median; ratio old / new {o / r:.1f}x")


if __name__ == "__main__":
    main()
