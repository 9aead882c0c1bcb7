"""Import rate: read_layer + the import service (validate_frame, then load_frame) per layer, on the generated sample city.

Usage::

    .venv/bin/python benchmarks/import_rate.py [--households 500000] [--baseline-rows 100000] [--profile]

1. ``geo.sample.make_district`` generates the city (500,000 households by default; while that
   module is missing, :func:`fallback_city`, and the output says which) and every layer is
   written to one GeoPackage in a temporary directory;
2. a scratch embedded PostGIS is created under a temporary home (mode 755 so the ``postgres``
   user reaches it when run as root), migrated, and destroyed at the end;
3. per layer, in load order (areas, grids, dwellings, stations, streets): the time to read the
   GeoPackage layer, to validate it and to load it (one transaction), and features/s for each
   stage and end to end;
4. baseline, same run, same database: ``GeoDataFrame.to_postgis`` (pandas ``to_sql`` through
   GeoAlchemy2, what a geopandas user would write) for the first ``--baseline-rows`` dwellings,
   into a scratch table; the ratio of gridmap's dwellings load rate to it is printed.

With ``--profile``, each layer's load is also broken down (cProfile and statement timing add
their own overhead, so read the shares, not the totals): the SQL statements by their first words
(wall time from the client, summed), the audit trigger function's time from
``pg_stat_xact_user_functions`` (``track_functions = 'pl'`` set for the database by the
superuser), the commit, and the Python functions of ``api``/``geo`` with the largest cumulative time.

Every run prints the load average (``os.getloadavg()``) before and after: the machine is shared.

Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import cProfile
import collections
import inspect
import os
import pstats
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

LAYERS = ("areas", "grids", "dwellings", "stations", "streets")


def fallback_city(households: int, seed: int = 0) -> dict:
    """A plain synthetic county used only while ``geo.sample`` is not available.

    Square communities of ~1,400 households on a 1 km lattice, each cut into 2 x 2 grids of
    ~350 households; buildings of 1-9 households (mean 5) placed uniformly; 14 stations per
    community (1 + 3 + 10); a 100 m street lattice; towns are columns of communities.
    """
    import geopandas as gpd
    import numpy as np
    import shapely

    rng = np.random.default_rng(seed)
    side = max(1, int(np.ceil(np.sqrt(households / 1400))))
    lon0, lat0, km_lon, km_lat = 120.0, 31.5, 1 / 94.9, 1 / 111.0  # degrees per km near 31.5N
    cells = [(i, j) for i in range(side) for j in range(side)]
    comm = [shapely.box(lon0 + i * km_lon, lat0 + j * km_lat, lon0 + (i + 1) * km_lon, lat0 + (j + 1) * km_lat)
            for i, j in cells]
    towns = [shapely.box(lon0 + i * km_lon, lat0, lon0 + (i + 1) * km_lon, lat0 + side * km_lat) for i in range(side)]
    areas = gpd.GeoDataFrame({
        "region_code": "320281",
        "code": [f"T{i:02d}" for i in range(side)] + [f"C{i:02d}{j:02d}" for i, j in cells],
        "name": [f"镇{i}" for i in range(side)] + [f"社区{i}-{j}" for i, j in cells],
        "level": ["town"] * side + ["community"] * len(cells),
        "parent_code": [None] * side + [f"T{i:02d}" for i, _ in cells],
    }, geometry=towns + comm, crs=4326)
    g_geom, g_code, g_comm = [], [], []
    for (i, j) in cells:
        for a in range(2):
            for b in range(2):
                x0, y0 = lon0 + (i + a / 2) * km_lon, lat0 + (j + b / 2) * km_lat
                g_geom.append(shapely.box(x0, y0, x0 + km_lon / 2, y0 + km_lat / 2))
                g_code.append(f"G{i:02d}{j:02d}{a}{b}")
                g_comm.append(f"C{i:02d}{j:02d}")
    grids = gpd.GeoDataFrame({"region_code": "320281", "code": g_code, "name": g_code, "community_code": g_comm},
                             geometry=g_geom, crs=4326)
    hh = rng.integers(1, 10, size=households // 5 + 1)
    hh = hh[np.cumsum(hh) <= households]
    n = len(hh)
    dwellings = gpd.GeoDataFrame({
        "region_code": "320281", "source_id": np.char.add("D", np.arange(n).astype(str)), "households": hh,
        "name": None,
    }, geometry=shapely.points(rng.uniform(lon0, lon0 + side * km_lon, n), rng.uniform(lat0, lat0 + side * km_lat, n)),
        crs=4326)
    ns = 14 * len(cells)
    kinds = np.tile(["service_centre"] + ["grid_station"] * 3 + ["neighbourhood_point"] * 10, len(cells))
    stations = gpd.GeoDataFrame({
        "region_code": "320281", "source_id": np.char.add("S", np.arange(ns).astype(str)), "name": kinds,
        "kind": kinds,
    }, geometry=shapely.points(rng.uniform(lon0, lon0 + side * km_lon, ns), rng.uniform(lat0, lat0 + side * km_lat, ns)),
        crs=4326)
    m = side * 10 + 1  # 100 m lattice
    xs, ys = lon0 + np.arange(m) * km_lon / 10, lat0 + np.arange(m) * km_lat / 10
    X, Y = np.meshgrid(xs, ys)
    h = np.stack([np.column_stack([X[:, :-1].ravel(), Y[:, :-1].ravel()]),
                  np.column_stack([X[:, 1:].ravel(), Y[:, 1:].ravel()])], axis=1)
    v = np.stack([np.column_stack([X[:-1, :].ravel(), Y[:-1, :].ravel()]),
                  np.column_stack([X[1:, :].ravel(), Y[1:, :].ravel()])], axis=1)
    segs = np.concatenate([h, v])
    ne = len(segs)
    streets = gpd.GeoDataFrame({
        "region_code": "320281", "source_id": np.char.add("R", np.arange(ne).astype(str)),
        "road_class": np.where(rng.random(ne) < 0.1, "secondary", "residential"),
    }, geometry=shapely.linestrings(segs), crs=4326)
    return {"areas": areas, "grids": grids, "dwellings": dwellings, "stations": stations, "streets": streets}


def make_city(households: int, out: Path) -> dict[str, int]:
    """Generate the sample city (geo.sample when present) and write its layers to ``out`` (GeoPackage)."""
    import geopandas as gpd

    t0 = time.perf_counter()
    try:
        from geo.sample import make_district
    except ImportError:
        district = fallback_city(households)
        source = "benchmarks/import_rate.py fallback_city (geo.sample not available)"
    else:
        params = inspect.signature(make_district).parameters
        kwargs = {"households": households} if "households" in params else {}
        district = make_district(**kwargs)
        source = "geo.sample.make_district"
    print(f"generated the city with {source} in {time.perf_counter() - t0:.1f} s")
    frames = district if isinstance(district, dict) else {
        name: getattr(district, name) for name in LAYERS + ("incidents",) if hasattr(district, name)}
    sizes = {}
    t0 = time.perf_counter()
    for name in LAYERS:
        frame = frames.get(name)
        if frame is None:
            continue
        if not isinstance(frame, gpd.GeoDataFrame):
            frame = gpd.GeoDataFrame(frame)
        frame.to_file(out, layer=name, driver="GPKG")
        sizes[name] = len(frame)
    print(f"wrote {out.name} in {time.perf_counter() - t0:.1f} s: "
          + ", ".join(f"{k} {v:,}" for k, v in sizes.items()))
    return sizes


def _load() -> str:
    return "load average " + " / ".join(f"{x:.2f}" for x in os.getloadavg())


class StatementTimer:
    """Wall time of every SQL statement sent through ``engine``, summed by its first words."""

    def __init__(self, engine):
        from sqlalchemy import event

        self.on = False
        self.times: collections.Counter = collections.Counter()
        self.calls: collections.Counter = collections.Counter()
        self._start: list[float] = []

        @event.listens_for(engine, "before_cursor_execute")
        def _before(conn, cursor, statement, parameters, context, executemany):
            self._start.append(time.perf_counter())

        @event.listens_for(engine, "after_cursor_execute")
        def _after(conn, cursor, statement, parameters, context, executemany):
            t = time.perf_counter() - self._start.pop()
            if self.on:
                label = re.sub(r"_gm_load_[0-9a-f]+", "<staged>", " ".join(statement.split()))[:90]
                self.times[label] += t
                self.calls[label] += 1

    def report(self, top: int = 8) -> list[str]:
        out = [f"    sql {t:7.3f} s  x{self.calls[k]:<3} {k}" for k, t in self.times.most_common(top)]
        self.times.clear()
        self.calls.clear()
        return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--households", type=int, default=500_000)
    ap.add_argument("--baseline-rows", type=int, default=100_000)
    ap.add_argument("--profile", action="store_true", help="break each layer's load down (adds overhead)")
    args = ap.parse_args()
    print(f"start: {_load()}")

    from sqlalchemy import text

    from api.db.embedded import EmbeddedPostgres
    from api.db.engine import make_engine
    from api.db.migrate import upgrade
    from api.imports import import_frame
    from api.settings import Settings
    from geo.io import read_layer

    work = Path(tempfile.mkdtemp(prefix="gridmap-bench-"))
    work.chmod(0o755)
    gpkg = work / "city.gpkg"
    pg = None
    try:
        make_city(args.households, gpkg)
        (work / "home").mkdir(exist_ok=True)
        (work / "home").chmod(0o755)
        pg = EmbeddedPostgres(work / "home")
        pg.start()
        url = pg.owner_url()  # the schema's owner: this benchmark migrates its scratch cluster
        url = url if "+" in url.split("://")[0] else url.replace("postgresql://", "postgresql+psycopg2://", 1)
        engine = make_engine(url)
        upgrade(engine)
        settings = Settings(_env_file=None)
        timer = None
        if args.profile:
            su = make_engine(pg.superuser_url())
            with su.begin() as conn:
                conn.execute(text("ALTER DATABASE " + su.url.database + " SET track_functions = 'pl'"))
            su.dispose()
            engine.dispose()  # new sessions pick the setting up
            timer = StatementTimer(engine)
        profiles = []

        rows = []
        dwellings_frame = None
        for layer in LAYERS:
            try:
                t0 = time.perf_counter()
                frame = read_layer(gpkg, layer_name=layer, file_layer=layer)
            except Exception as exc:  # noqa: BLE001 - a layer the generator did not make
                print(f"{layer}: not in the sample ({exc})")
                continue
            validated = {}

            def validated_at(clean, validated=validated):  # the service calls this between its two steps
                validated["t"], validated["clean"] = time.perf_counter(), clean
                return clean

            prof = cProfile.Profile() if args.profile else None
            if timer is not None:
                timer.on = True
            t1 = time.perf_counter()
            with engine.begin() as conn:
                if prof is not None:
                    prof.enable()
                fn_sql = text("SELECT funcname, calls, total_time FROM pg_stat_xact_user_functions")
                before = {f.funcname: f for f in conn.execute(fn_sql)} if prof is not None else {}
                report = import_frame(conn, layer, frame, settings, before_write=validated_at)
                if prof is not None:
                    prof.disable()
                    # the view holds the session's counts not yet flushed: this layer's are the difference
                    Fn = collections.namedtuple("Fn", "funcname calls total_time")
                    funcs = [Fn(f.funcname, f.calls - getattr(before.get(f.funcname), "calls", 0),
                                f.total_time - getattr(before.get(f.funcname), "total_time", 0))
                             for f in conn.execute(fn_sql)]
                    funcs = sorted((f for f in funcs if f.calls), key=lambda f: -f.total_time)
                tc = time.perf_counter()
            t3 = time.perf_counter()
            if prof is not None:
                timer.on = False
                lines = [f"{layer}: load {t3 - validated['t']:.3f} s (profiled), commit {t3 - tc:.3f} s"]
                lines += [f"    db function {f.funcname} x{f.calls}: {f.total_time / 1000:.3f} s (inside the sql)"
                          for f in funcs]
                lines += timer.report()
                stats = pstats.Stats(prof)
                rows_ = [(v[3], k) for k, v in stats.stats.items()
                         if ("/api/" in k[0] or "/geo/" in k[0]) and "benchmarks" not in k[0]]
                for cum, (fn, line, name) in sorted(rows_, reverse=True)[:10]:
                    short = fn[fn.rfind("/api/") + 1:] if "/api/" in fn else fn[fn.rfind("/geo/") + 1:]
                    lines.append(f"    py  {cum:7.3f} s  {short}:{line} {name}")
                profiles.append(lines)
            t2, clean = validated["t"], validated["clean"]
            n = len(clean)
            rows.append((layer, n, t1 - t0, t2 - t1, t3 - t2, report))
            if layer == "dwellings":
                dwellings_frame = clean

        print()
        print(f"{'layer':<10} {'features':>9} {'read s':>7} {'valid s':>8} {'load s':>7} "
              f"{'read/s':>9} {'valid/s':>9} {'load/s':>9} {'total/s':>9}")
        tot_n = tot_t = 0.0
        for layer, n, r, v, w, report in rows:
            total = r + v + w
            tot_n += n
            tot_t += total
            print(f"{layer:<10} {n:>9,} {r:>7.2f} {v:>8.2f} {w:>7.2f} {n / r:>9,.0f} {n / v:>9,.0f} "
                  f"{n / w:>9,.0f} {n / total:>9,.0f}   ({report.inserted:,} inserted)")
        print(f"{'all':<10} {int(tot_n):>9,} {'':>7} {'':>8} {'':>7} {'':>9} {'':>9} {'':>9} {tot_n / tot_t:>9,.0f}")
        for lines in profiles:
            print()
            print("\n".join(lines))

        if dwellings_frame is not None and args.baseline_rows:
            sample = dwellings_frame.iloc[: args.baseline_rows].copy()
            sample["region_code"] = sample["region_code"].fillna("320281")
            t0 = time.perf_counter()
            with engine.begin() as conn:
                sample.to_postgis("baseline_dwellings", conn, if_exists="replace", index=False)
            base = time.perf_counter() - t0
            with engine.begin() as conn:
                got = conn.execute(text("SELECT count(*) FROM baseline_dwellings")).scalar_one()
                conn.execute(text("DROP TABLE baseline_dwellings"))
            ours = next((n / w for layer, n, _, _, w, _ in rows if layer == "dwellings"), float("nan"))
            print()
            print(f"baseline: GeoDataFrame.to_postgis, {got:,} dwellings in {base:.2f} s = {got / base:,.0f} rows/s "
                  "(plain insert: no validation, no upsert, no attribution)")
            print(f"gridmap load_frame (COPY + checks + point-in-polygon + upsert): {ours:,.0f} rows/s = "
                  f"{ours / (got / base):.1f}x the baseline")
        print(f"end: {_load()}")
        engine.dispose()
    finally:
        if pg is not None:
            pg.destroy()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
