"""api.db.export.read_frame, the layer reader of coverage and exports, builds the same frames as
geopandas.read_postgis of the same query, and as a frame built from SQLAlchemy rows (the reader it
replaced): columns, dtypes, values, order, geometries and CRS."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from sqlalchemy import text, update

from api.db.export import layer_query, read_frame
from api.db.models import LAYER_TABLES, stations
from api.imports import import_frame
from api.jurisdiction import EVERYWHERE, Jurisdiction
from api.settings import Settings
from geo.sample import make_district


@pytest.fixture
def sample(db):
    layers = make_district(3000, seed=2, incidents=40)
    region = str(layers["areas"]["region_code"].iloc[0])
    with db.begin() as conn:
        for layer in ("areas", "grids", "streets", "stations", "dwellings"):
            import_frame(conn, layer, layers[layer], Settings())
        import_frame(conn, "incidents", layers["incidents"], Settings(), region_code=region, actor="test")
        # a nullable int column holding some NULLs, and a station with every optional field NULL
        sid = conn.execute(text("SELECT min(id) FROM stations")).scalar_one()
        conn.execute(update(stations).where(stations.c.id == sid).values(
            capacity=None, opening_hours=None, opened_on=None, closed_on=None, address=None, community_code=None))
    return layers


def postgis(conn, stmt) -> gpd.GeoDataFrame:
    """geopandas.read_postgis of the compiled statement, its ``geom`` renamed ``geometry``.

    read_postgis parses geometries sent as PostGIS sends a geometry column (hex EWKB text), not
    the statement's binary WKB, so the statement's rows are read through an outer query that
    hex-encodes ``geom`` (same rows, same order)."""
    compiled = stmt.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True})
    cols = ", ".join(f'q."{c}"' for c in stmt.selected_columns.keys() if c != "geom")
    sql = f"SELECT {cols}, encode(q.geom, 'hex') AS geom FROM ({compiled}) AS q ORDER BY q.id"
    frame = gpd.read_postgis(text(sql), conn, geom_col="geom", crs=4326)
    return frame.rename_geometry("geometry")


def from_rows(conn, stmt) -> gpd.GeoDataFrame:
    """The frame as built before: ``pandas.DataFrame`` of the SQLAlchemy rows (one by one)."""
    rows = conn.execute(stmt).all()
    df = pd.DataFrame(rows, columns=list(stmt.selected_columns.keys()))
    wkb = df.pop("geom")  # (the old reader left this column in an empty frame)
    geoms = shapely.from_wkb([bytes(g) for g in wkb]) if len(df) else []
    return gpd.GeoDataFrame(df, geometry=gpd.GeoSeries(geoms, crs=4326), crs=4326)


def same(new: gpd.GeoDataFrame, ref: gpd.GeoDataFrame, what: str) -> None:
    assert list(new.columns) == list(ref.columns), what
    assert new.crs == ref.crs and new.crs.to_epsg() == 4326, what
    assert new.geometry.name == "geometry" == ref.geometry.name, what
    assert len(new) == len(ref), what
    pd.testing.assert_index_equal(new.index, ref.index)
    for c in new.columns:
        if c == "geometry":
            assert (shapely.equals_exact(new.geometry.values, ref.geometry.values, 0)
                    | (new.geometry.isna().to_numpy() & ref.geometry.isna().to_numpy())).all(), what
            continue
        assert new[c].dtype == ref[c].dtype, f"{what}.{c}: {new[c].dtype} vs {ref[c].dtype}"
        pd.testing.assert_series_equal(pd.Series(new[c]), pd.Series(ref[c]), check_exact=True, obj=f"{what}.{c}")


def queries(conn, layers):
    comm = str(layers["areas"].loc[layers["areas"]["level"] == "community", "code"].iloc[0])
    region = str(layers["areas"]["region_code"].iloc[0])
    for layer in LAYER_TABLES:
        yield layer, layer_query(conn, layer, EVERYWHERE)
        yield f"{layer} in {comm}", layer_query(conn, layer, EVERYWHERE, area=comm)
        yield f"{layer} of {region} scoped to {comm}", layer_query(conn, layer, Jurisdiction(frozenset({comm})),
                                                                   area=region)
        yield f"{layer} (no jurisdiction)", layer_query(conn, layer, Jurisdiction(frozenset()))
    yield "grids history", layer_query(conn, "grids", EVERYWHERE, history=True)


def test_reader_equals_read_postgis_and_rows(db, sample):
    with db.connect() as conn:
        seen = set()
        for what, stmt in queries(conn, sample):
            new = read_frame(conn, stmt)
            same(new, postgis(conn, stmt), what)
            same(new, from_rows(conn, stmt), what)
            if "(" not in what and " " not in what:
                seen.add(what)
                assert len(new) > 0, what
                count = conn.execute(text(f"SELECT count(*) FROM {LAYER_TABLES[what].name}"
                                          + (" WHERE valid_to IS NULL" if what == "grids" else ""))).scalar_one()
                assert len(new) == count and new["id"].is_monotonic_increasing, what
        assert seen == set(LAYER_TABLES)
        st = read_frame(conn, layer_query(conn, "stations", EVERYWHERE))
        nulls = conn.execute(text("SELECT count(*) FILTER (WHERE capacity IS NULL), "
                                  "count(*) FILTER (WHERE opened_on IS NULL) FROM stations")).one()
    # NULLs come back as missing values, next to real ones
    assert 0 < nulls[0] < len(st) and st["capacity"].isna().sum() == nulls[0]
    assert nulls[1] > 0 and st["opened_on"].isna().sum() == nulls[1]


def test_reader_geometries_equal_the_loaded_ones(db, sample):
    with db.connect() as conn:
        for layer in ("streets", "dwellings", "grids"):
            got = read_frame(conn, layer_query(conn, layer, EVERYWHERE))
            key = "code" if layer == "grids" else "source_id"
            want = sample[layer].set_index(key).geometry
            got = got.set_index(key).geometry.loc[want.index]
            assert np.asarray(shapely.equals_exact(got.values, want.values, 1e-9)).all(), layer
