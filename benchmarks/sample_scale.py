"""How long the sample generator takes for a county-level city, and how big the city is.

    .venv/bin/python benchmarks/sample_scale.py [--households 500000] [--seed 0] [--write]

Prints the generation time and peak memory against the budget (well under 60 s, a few GB), the
street node count against the >= 150,000 the coverage benchmark needs, and the structure (towns,
communities, grids and their share within 255-345 households, stations, incidents).  With
``--write``, also the time pyogrio takes to write the same layers to a GeoPackage, as a baseline
the generation time is compared with.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import shapely

BUDGET_S = 60.0
NODES_TARGET = 150_000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--households", type=int, default=500_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--write", action="store_true", help="also time writing the GeoPackage")
    a = ap.parse_args()

    from geo.sample import make_district

    t0 = time.perf_counter()
    d = make_district(a.households, seed=a.seed)
    gen = time.perf_counter() - t0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    s = d["streets"].geometry.values
    ends = np.concatenate([shapely.get_coordinates(shapely.get_point(s, 0)), shapely.get_coordinates(shapely.get_point(s, -1))])
    nodes, deg = np.unique(ends, axis=0, return_counts=True)
    areas = d["areas"]
    hh = d["dwellings"].groupby("grid_code").households.sum()
    print(f"make_district({a.households:,} households, seed {a.seed})")
    print(f"  generation      {gen:8.2f} s   ({gen / BUDGET_S:.2f} x the {BUDGET_S:.0f} s budget)")
    print(f"  peak memory     {peak_mb:8.0f} MB")
    print(f"  street nodes    {len(nodes):8,}     ({len(nodes) / NODES_TARGET:.2f} x the {NODES_TARGET:,} target); "
          f"junctions (degree >= 3) {int((deg >= 3).sum()):,}, dead ends {int((deg == 1).sum()):,}")
    print(f"  street edges    {len(s):8,}")
    print(f"  towns           {(areas.level == 'town').sum():8,}")
    print(f"  communities     {(areas.level == 'community').sum():8,}")
    print(f"  grids           {len(d['grids']):8,}     {((hh >= 255) & (hh <= 345)).mean():.1%} within 255-345 households")
    print(f"  dwellings       {len(d['dwellings']):8,}     {int(d['dwellings'].households.sum()):,} households")
    print(f"  stations        {len(d['stations']):8,}")
    print(f"  incidents       {len(d['incidents']):8,}")
    if a.write:
        import pyogrio

        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "city.gpkg"
            t0 = time.perf_counter()
            for name, frame in d.items():
                pyogrio.write_dataframe(frame, out, layer=name, driver="GPKG")
            wr = time.perf_counter() - t0
            print(f"  baseline: pyogrio writing the same layers to GeoPackage {wr:.2f} s "
                  f"({out.stat().st_size / 2**20:.0f} MB); generation / write = {gen / wr:.2f}")


if __name__ == "__main__":
    main()
