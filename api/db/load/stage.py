"""Staging a validated frame for :func:`api.db.load.load_frame`: COPY into a temporary table.

Geometries travel as hex WKB into ``geometry(Geometry, 4326)`` columns (EPSG:4326 lon/lat), the
layer's columns typed from ``geo.layers``, plus ``_row`` (the 1-based row of the file) so that
checks run in SQL can name the row at fault.  The table is dropped on commit.
"""

from __future__ import annotations

import io
import uuid
from typing import Callable

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from sqlalchemy import Connection, text

from geo.layers import LAYERS

__all__ = ["stage", "CHUNK_ROWS"]

#: Rows per COPY chunk (and per progress callback).
CHUNK_ROWS = 50_000

#: Statistics target of the staged table's ANALYZE (PostgreSQL samples 300 rows per unit).
_STAGE_STATISTICS = 10

_SQL_TYPES = {"str": "text", "int": "bigint", "float": "double precision", "bool": "boolean",
              "datetime": "timestamptz", "date": "date"}


def _ewkb(values) -> np.ndarray:
    geoms = np.asarray(values, dtype=object)
    out = np.full(len(geoms), None, dtype=object)
    present = ~shapely.is_missing(geoms)
    if present.any():
        # binary WKB hexed in Python is ~5x faster than GEOS's hex writer; the staging column's
        # type geometry(Geometry, 4326) gives the SRID-less WKB its SRID
        out[present] = [b.hex() for b in shapely.to_wkb(geoms[present])]
    return out


def stage(conn: Connection, layer: str, frame: gpd.GeoDataFrame, region_code: str,
           progress: Callable[[int], None] | None) -> tuple[str, list[str], bool]:
    """COPY the frame into a fresh temporary table; return its name, the layer columns, footprint?"""
    spec = LAYERS[layer]
    cols = [c.name for c in spec.columns]
    has_fp = layer == "dwellings" and "footprint" in frame.columns
    tmp = f"_gm_load_{uuid.uuid4().hex[:12]}"
    ddl = ", ".join([f"{c.name} {_SQL_TYPES[c.dtype]}" for c in spec.columns])
    conn.execute(text(
        f"CREATE TEMP TABLE {tmp} (_row integer, {ddl}, geom geometry(Geometry, 4326)"
        f"{', footprint geometry(Geometry, 4326)' if has_fp else ''}) ON COMMIT DROP"))
    offset = int(frame.attrs.get("row_offset", 1))
    data = pd.DataFrame({c: frame[c] for c in cols})
    data["region_code"] = data["region_code"].astype("string").fillna(region_code)
    data.insert(0, "_row", np.arange(len(frame)) + offset)
    data["geom"] = _ewkb(frame.geometry.to_numpy())
    if has_fp:
        data["footprint"] = _ewkb(frame["footprint"].to_numpy())
    columns = ", ".join(data.columns)
    cur = conn.connection.cursor()
    try:
        for start in range(0, len(data), CHUNK_ROWS):
            chunk = data.iloc[start:start + CHUNK_ROWS]
            buf = io.StringIO()
            chunk.to_csv(buf, index=False, header=False, na_rep="\\N")
            buf.seek(0)
            cur.copy_expert(f"COPY {tmp} ({columns}) FROM STDIN WITH (FORMAT csv, NULL '\\N')", buf)
            if progress is not None:
                progress(len(chunk))
    finally:
        cur.close()
    # statistics for the planner from a sample of 3,000 rows (statistics target 10 on each of the
    # staged table's columns): the table is read once by the checks and the write, and the default
    # 30,000-row sample read most of a large file back (0.15 s of 36,696 dwellings' load)
    conn.execute(text(f"ALTER TABLE {tmp} " + ", ".join(
        f"ALTER COLUMN {c} SET STATISTICS {_STAGE_STATISTICS}" for c in [*data.columns])))
    conn.execute(text(f"ANALYZE {tmp}"))
    return tmp, cols, has_fp
