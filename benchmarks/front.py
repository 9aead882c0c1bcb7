"""The front door: the home page's counts and the Excel/CSV exports, on the generated sample city.

Usage::

    .venv/bin/python benchmarks/front.py [--households 500000] [--repeat 5]

1. ``geo.sample.make_district`` generates the city (500,000 households by default; no incidents),
   imported through ``api.imports.import_frame`` into a scratch embedded PostGIS;
2. ``GET /`` (the home page: towns, communities, grids, households, stations, incidents counted in
   SQL) through the app in-process, median of ``--repeat`` requests;
3. ``GET /export/dwellings?format=xlsx`` and ``?format=csv`` (``api.sheets``: headers in the
   language, codes as text, rounded numbers, times in the zone), median of ``--repeat``;
4. baseline, same run, same frame: pandas ``DataFrame.to_excel`` (openpyxl engine) and
   ``DataFrame.to_csv`` of the dwellings read by ``api.db.export.layer_frame`` with lon/lat columns:
   what a pandas user would write; the ratio gridmap / baseline is printed (the gridmap figure
   includes the database read and the HTTP response; the baseline only the writing).

Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))


def _median(fn, repeat: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--households", type=int, default=500_000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()

    from fastapi.testclient import TestClient

    from api.app import create_app
    from api.db.export import layer_frame
    from api.imports import import_frame
    from api.jurisdiction import EVERYWHERE
    from api.settings import Settings
    from geo.sample import make_district
    from scratch_db import scratch_postgis

    t0 = time.perf_counter()
    layers = make_district(args.households, seed=0, incidents=0)
    print(f"sample: {args.households:,} households, {len(layers['dwellings']):,} dwellings, "
          f"{len(layers['grids']):,} grids ({time.perf_counter() - t0:.1f} s)")
    with scratch_postgis() as (url, home):
        settings = Settings(home=home / "home", database_url=url, _env_file=None)
        with TestClient(create_app(settings)) as client:
            engine = client.app.state.engine
            t0 = time.perf_counter()
            with engine.begin() as conn:
                for layer in ("areas", "grids", "streets", "stations", "dwellings"):
                    import_frame(conn, layer, layers[layer], settings)
            print(f"imported in {time.perf_counter() - t0:.1f} s")
            client.get("/")  # warm
            t_home, r = _median(lambda: client.get("/"), args.repeat)
            assert r.status_code == 200
            print(f"GET / (home page, counts in SQL): {t_home * 1000:.0f} ms median, {len(r.content) / 1024:.0f} KiB")
            t_x, r = _median(lambda: client.get("/export/dwellings?format=xlsx"), args.repeat)
            assert r.status_code == 200
            size_x = len(r.content)
            t_c, r = _median(lambda: client.get("/export/dwellings?format=csv"), args.repeat)
            assert r.status_code == 200
            size_c = len(r.content)
            with engine.connect() as conn:
                frame = layer_frame(conn, "dwellings", EVERYWHERE)
            plain = frame.drop(columns="geometry").assign(lon=frame.geometry.x, lat=frame.geometry.y)
            t_bx, _ = _median(lambda: plain.to_excel(io.BytesIO(), index=False, engine="openpyxl"), args.repeat)
            t_bc, _ = _median(lambda: plain.to_csv(io.StringIO(), index=False), args.repeat)
    n = len(frame)
    print(f"dwellings .xlsx: {t_x:.2f} s for {n:,} rows ({n / t_x:,.0f} rows/s, {size_x / 1e6:.1f} MB); "
          f"baseline pandas to_excel(openpyxl) {t_bx:.2f} s; ratio {t_x / t_bx:.2f}x")
    print(f"dwellings .csv:  {t_c:.2f} s ({size_c / 1e6:.1f} MB); baseline pandas to_csv {t_bc:.2f} s; "
          f"ratio {t_c / t_bc:.2f}x")


if __name__ == "__main__":
    main()
