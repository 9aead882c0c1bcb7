"""Files and frames of the import tests: a town (T1) of two communities (C1 west, C2 east) and three
grids near 120.05 E 31.05 N, written as the files a user would import (areas GeoJSON, grids
GeoPackage, dwellings CSV with Chinese headers, a whole sample GeoPackage); ``load_base`` imports
the areas and grids through the CLI; ``counts`` fingerprints the tables.

The ``cli`` fixture (``tests/api/conftest.py``) runs ``gridmap`` with ``GRIDMAP_REGION_CODE`` =
:data:`REGION`.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from sqlalchemy import text

from geo.io import read_layer

REGION = "320281"


TOWN = shapely.box(120.0, 31.0, 120.1, 31.1)


C1 = shapely.box(120.0, 31.0, 120.05, 31.1)


C2 = shapely.box(120.05, 31.0, 120.1, 31.1)


GRIDS = {"G1": (shapely.box(120.0, 31.0, 120.05, 31.05), "C1"),
         "G2": (shapely.box(120.0, 31.05, 120.05, 31.1), "C1"),
         "G3": (shapely.box(120.05, 31.0, 120.1, 31.1), "C2")}


TABLES = ("areas", "grids", "dwellings", "stations", "streets", "incidents")


def counts(engine) -> dict:
    with engine.connect() as conn:
        out = {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one() for t in TABLES}
        out["grid_rows"] = conn.execute(text("SELECT md5(string_agg(id || code || coalesce(valid_to::text,''), ',' "
                                             "ORDER BY id)) FROM grids")).scalar_one()
    return out


def areas_file(tmp_path):
    frame = gpd.GeoDataFrame(
        {"region_code": [REGION] * 3, "code": ["T1", "C1", "C2"], "name": ["澄江街道", "一社区", "二社区"],
         "level": ["town", "community", "community"], "parent_code": [None, "T1", "T1"]},
        geometry=[TOWN, C1, C2], crs=4326)
    path = tmp_path / "areas.geojson"
    frame.to_file(path)
    return path


def grids_frame(geoms=None):
    geoms = geoms or {k: v[0] for k, v in GRIDS.items()}
    return gpd.GeoDataFrame(
        {"code": list(geoms), "name": [f"网格{k}" for k in geoms], "community_code": [GRIDS[k][1] for k in geoms],
         "town_code": ["T1"] * len(geoms), "chief": ["张三"] * len(geoms)},
        geometry=list(geoms.values()), crs=4326)


def grids_file(tmp_path, frame=None, name="grids.gpkg"):
    path = tmp_path / name
    (grids_frame() if frame is None else frame).to_file(path, layer="网格")
    return path


def dwellings_csv(tmp_path, n=40, seed=1, name="dwellings.csv"):
    rng = np.random.default_rng(seed)
    lon, lat = rng.uniform(120.001, 120.099, n), rng.uniform(31.001, 31.099, n)
    df = pd.DataFrame({"编号": [f"D{i}" for i in range(n)], "户数": rng.integers(1, 60, n), "经度": lon, "纬度": lat})
    path = tmp_path / name
    df.to_csv(path, index=False)
    return path, df


def load_base(cli, tmp_path):
    r = cli("import", "areas", areas_file(tmp_path))
    assert r.exit_code == 0, r.output
    r = cli("import", "grids", grids_file(tmp_path), "--layer", "网格")
    assert r.exit_code == 0, r.output


def sample_gpkg(tmp_path, grids=None):
    path = tmp_path / "sample.gpkg"
    read_layer(areas_file(tmp_path), layer_name="areas").to_file(path, layer="areas")
    (grids if grids is not None else grids_frame()).assign(region_code=REGION).to_file(path, layer="grids")
    _, df = dwellings_csv(tmp_path)
    gpd.GeoDataFrame({"region_code": REGION, "source_id": df["编号"], "households": df["户数"]},
                     geometry=shapely.points(df["经度"], df["纬度"]), crs=4326).to_file(path, layer="dwellings")
    gpd.GeoDataFrame({"region_code": [REGION], "source_id": ["S1"], "name": ["中心"], "kind": ["service_centre"]},
                     geometry=[shapely.Point(120.01, 31.01)], crs=4326).to_file(path, layer="stations")
    gpd.GeoDataFrame({"region_code": [REGION], "source_id": ["R1"], "road_class": ["residential"]},
                     geometry=[shapely.LineString([(120.0, 31.05), (120.1, 31.05)])], crs=4326).to_file(
        path, layer="streets")
    return path, df
