"""The lattice district of the coverage API tests (``district``): 4 communities of 4 grids on a
generated street lattice, plus a fifth community with dwellings, a station and no street at all
(the straight-line fallback); ``load`` imports it through :func:`api.imports.import_frame`."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from api.imports import import_frame
from api.settings import Settings

from tests.support import netgen

REGION = "320281"


BUDGET = 480.0


def district(seed: int = 7, households: int = 3000, stations: int = 10):
    """A lattice district: 4 communities of 4 grids each, plus a fifth community with dwellings,
    a station and no street at all (the straight-line fallback)."""
    L = netgen.lattice(26, 26, seed=seed, households=households, stations=stations)
    x0, y0, x1, y1 = L["streets"].total_bounds
    x0, y0, x1, y1 = x0 - 0.001, y0 - 0.001, x1 + 0.001, y1 + 0.001
    xs, ys = np.linspace(x0, x1, 5), np.linspace(y0, y1, 5)
    grids, comm = [], {}
    for i in range(4):
        for j in range(4):
            c = f"C{1 + (i // 2) * 2 + j // 2}"
            box = shapely.box(xs[i], ys[j], xs[i + 1], ys[j + 1])
            grids.append((f"G{i}{j}", f"网格{i}{j}", c, box))
            comm.setdefault(c, []).append(box)
    east = shapely.box(x1, y0, x1 + 0.008, y1)
    grids.append(("G5", "网格东", "C5", east))
    comm["C5"] = [east]
    areas = gpd.GeoDataFrame(
        {"code": ["T1", *comm], "name": ["镇", *[f"社区{c}" for c in comm]],
         "level": ["town"] + ["community"] * len(comm), "parent_code": [None] + ["T1"] * len(comm)},
        geometry=[shapely.box(x0, y0, x1 + 0.008, y1)] + [shapely.union_all(v) for v in comm.values()], crs=4326)
    grids = gpd.GeoDataFrame(pd.DataFrame(grids, columns=["code", "name", "community_code", "geometry"]),
                             geometry="geometry", crs=4326)
    rng = np.random.default_rng(seed)
    n_e = 80
    east_pts = shapely.points(rng.uniform(x1 + 0.0005, x1 + 0.0075, n_e), rng.uniform(y0 + 0.0005, y1 - 0.0005, n_e))
    dw = pd.concat([L["dwellings"], gpd.GeoDataFrame(
        {"region_code": REGION, "source_id": [f"e{i}" for i in range(n_e)], "households": rng.integers(1, 30, n_e)},
        geometry=east_pts, crs=4326)], ignore_index=True)
    st = pd.concat([L["stations"], gpd.GeoDataFrame(
        {"region_code": REGION, "source_id": ["east"], "name": ["东站"], "kind": ["service_centre"]},
        geometry=[shapely.Point(x1 + 0.004, (y0 + y1) / 2)], crs=4326)], ignore_index=True)
    return {"areas": areas, "grids": grids, "streets": L["streets"], "stations": st, "dwellings": dw}


def load(engine, layers):
    with engine.begin() as conn:
        for layer in ("areas", "grids", "streets", "stations", "dwellings"):
            frame = layers[layer].drop(columns=[c for c in ("opened_on", "closed_on") if c in layers[layer]])
            import_frame(conn, layer, frame, Settings(), region_code=REGION)
