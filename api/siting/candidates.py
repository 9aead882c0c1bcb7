"""Where new sites may go: the candidate points of a siting question, EPSG:4326.

Each frame has ``candidate_id`` (text), ``name`` (may be empty) and point geometries:

* ``gaps``: street nodes from which some uncovered household is within the budget
  (:func:`geo.siting.gap_node_candidates`);
* ``streets``: every snappable street node (:func:`geo.siting.street_node_candidates`);
* ``osm``: stored stations of an ``osm_*`` kind that do not count (the amenities ``gridmap import osm``
  listed and ``--stations`` loaded);
* ``file``: the caller's points (:func:`read_candidates` reads a file with :func:`geo.io.read_layer`;
  polygons, e.g. parcels or buildings, stand for a point on their surface).

With an area (a town, community or grid code) only candidates inside its grids stay.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from api.coverage.runs import Run
from api.errors import ValidationFailed
from geo.crs import WGS84
from geo.errors import Problem
from geo.siting import gap_node_candidates, street_node_candidates

#: Columns that may name a candidate in a user's file, first found wins.
ID_COLUMNS = ("candidate_id", "source_id", "id", "code", "name")


def area_polygons(run: Run, area: str) -> gpd.GeoSeries:
    """The current grids of town, community, grid or county ``area`` in the run (EPSG:4326).

    Raises
    ------
    ValidationFailed
        ``field="area"`` when no grid of the run lies in it.
    """
    g = run.inputs.grids
    keep = np.zeros(len(g), dtype=bool)
    for col in ("code", "community_code", "town_code", "region_code"):
        if col in g:
            keep |= (g[col].astype(object) == area).to_numpy()
    if not keep.any():
        raise ValidationFailed(f"no grid lies in {area!r} in your jurisdiction",
                               [Problem(f"unknown area {area!r}", field="area")])
    return g.geometry[keep]


def _inside(frame: gpd.GeoDataFrame, polys: gpd.GeoSeries | None) -> gpd.GeoDataFrame:
    if polys is None or not len(frame):
        return frame
    tree = shapely.STRtree(polys.to_crs(WGS84).values)
    hit = tree.query(frame.geometry.to_crs(WGS84).values, predicate="intersects")
    return frame.iloc[np.unique(hit[0])].reset_index(drop=True)


def _frame(ids, names, geometry) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"candidate_id": pd.Series(ids, dtype=object).astype(str).to_numpy(dtype=object),
                             "name": pd.Series(names, dtype=object).to_numpy(dtype=object)},
                            geometry=gpd.GeoSeries(geometry, crs=WGS84).values, crs=WGS84)


def from_points(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """A user's features as candidates: points (a polygon's point on its surface), ``candidate_id``
    from the first of :data:`ID_COLUMNS` present and complete, else ``row-N`` (1-based)."""
    if frame.crs is None:
        frame = frame.set_crs(WGS84)
    g = frame.geometry.to_crs(WGS84)
    bad = np.flatnonzero(g.isna().to_numpy() | g.is_empty.to_numpy())
    if bad.size:
        raise ValidationFailed(f"{bad.size} candidate rows have no geometry",
                               [Problem("no geometry", row=int(i) + 1, field="candidates") for i in bad[:20]])
    pts = g.representative_point()
    ids = None
    for col in ID_COLUMNS:
        if col in frame and frame[col].notna().all() and frame[col].astype(str).is_unique:
            ids = frame[col].astype(str).to_numpy(dtype=object)
            break
    if ids is None:
        ids = np.array([f"row-{i + 1}" for i in range(len(frame))], dtype=object)
    names = frame["name"].to_numpy(dtype=object) if "name" in frame else np.full(len(frame), None, dtype=object)
    return _frame(ids, names, pts.values)


def read_candidates(path: Path | str, *, layer: str | None = None, lon: str | None = None,
                    lat: str | None = None) -> gpd.GeoDataFrame:
    """Candidate points from a file (GeoJSON, GeoPackage, Shapefile, CSV or Excel with lon/lat
    columns: anything :func:`geo.io.read_layer` reads), as :func:`from_points`."""
    from geo.io import read_layer

    return from_points(read_layer(path, layer_name="stations", file_layer=layer, lon=lon, lat=lat))


def candidates_for(run: Run, kind: str, *, area: str | None = None, points: gpd.GeoDataFrame | None = None,
                   max_snap_m: float = 300.0) -> gpd.GeoDataFrame:
    """The candidates of ``kind`` (module docstring) for ``run``, inside ``area`` when given.

    Raises
    ------
    ValidationFailed
        ``field="candidates"`` when none are left (no gap, no OSM amenity, an empty file or none in
        the area), or ``kind="file"`` without ``points``.
    """
    polys = area_polygons(run, area) if area else None
    net = run.net
    if kind == "streets":
        c = street_node_candidates(net, polys)
        out = _frame(c["candidate_id"], [None] * len(c), c.geometry.values)
    elif kind == "gaps":
        covered = run.reach.covered(run.params.budget_s)
        c = gap_node_candidates(net, run.inputs.dwellings, covered, budget_s=run.params.budget_s,
                                max_snap_m=max_snap_m, dwelling_snap=run.reach.dwelling_snap)
        out = _inside(_frame(c["candidate_id"], [None] * len(c), c.geometry.values), polys)
    elif kind == "osm":
        st = run.inputs.stations
        counted = set(run.counted["id"].astype(str))
        sel = st[st["kind"].astype(str).str.startswith("osm_") & ~st["id"].astype(str).isin(counted)]
        out = _inside(_frame("station-" + sel["id"].astype(str), sel["name"], sel.geometry.values), polys)
        if not len(out):
            raise ValidationFailed(
                "no OSM amenity to use as a candidate: import them with `gridmap import osm --stations` and "
                "leave their osm_* kinds out of the kinds that count",
                [Problem("no stored station of an osm_* kind that does not count", field="candidates")])
    elif kind == "file":
        if points is None:
            raise ValidationFailed("give the candidate points (a file)", [Problem("no points", field="candidates")])
        out = _inside(from_points(points), polys)
    else:
        raise ValidationFailed(f"unknown candidates {kind!r}", [Problem("unknown", field="candidates")])
    if not len(out):
        where = f" inside {area}" if area else ""
        what = {"gaps": "no street node reaches an uncovered household" + where + " (everyone is covered?)",
                "streets": "no street node" + where}.get(kind, "no candidate point" + where)
        raise ValidationFailed(f"no candidate sites: {what}", [Problem(what, field="candidates")])
    return out
