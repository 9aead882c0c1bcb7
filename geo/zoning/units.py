"""Units of a redraw: street blocks of a community, blocks too big for one grid split into dwelling cells.

* A **block** is a face of the community polygon polygonised by its streets (the noded union of the
  street lines clipped to the community, plus the community's boundary).  Blocks smaller than the
  sliver size merge into the neighbour sharing the longest boundary.
* A block holding more households than the band's maximum is split into **cells**: the Voronoi
  cells of its dwellings (co-located dwellings merged into one site) clipped to the block.  A
  clipped cell in several pieces keeps the piece holding its site; the other pieces become cells
  of their own with no households.
* Units are sorted (blocks north to south, then west to east, by a point on their surface; cells
  likewise within their block) and get stable ids ``b0001`` / ``b0001.001``, so the same input
  always gives the same units and a stored plan can refer to them.

Geometry is built in a metric CRS (metres) and returned in EPSG:4326 by :meth:`Units.frame`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from geo.crs import WGS84, metric_crs_for, transformer

__all__ = ["Units", "build_units", "community_units", "units_from_frame", "to_metric_geoms", "to_lonlat_geoms",
           "point_unit"]

KINDS = ("block", "cell")
SITE_M = 0.01  # dwellings closer than this (m) share one Voronoi site


def to_metric_geoms(geoms, crs: CRS) -> np.ndarray:
    """EPSG:4326 geometries -> ``crs`` (vectorised, fixed pipeline)."""
    tr = transformer(WGS84, CRS(crs))
    return shapely.transform(np.asarray(geoms, dtype=object), lambda c: np.column_stack(tr.transform(c[:, 0], c[:, 1])))


def to_lonlat_geoms(geoms, crs: CRS) -> np.ndarray:
    """``crs`` geometries -> EPSG:4326 (vectorised, fixed pipeline)."""
    tr = transformer(CRS(crs), WGS84)
    return shapely.transform(np.asarray(geoms, dtype=object), lambda c: np.column_stack(tr.transform(c[:, 0], c[:, 1])))


@dataclass(frozen=True, eq=False)
class Units:
    """The units of one area (a community, or a grid for micro-grids), in a metric CRS.

    Attributes
    ----------
    ids : numpy.ndarray of str
        Stable unit ids (``b0001``, ``b0001.001``).
    kind : numpy.ndarray of str
        ``block`` or ``cell``.
    block : numpy.ndarray of int
        Index of the street block each unit lies in (a block unit is its own block).
    households : numpy.ndarray of int64
        Households of the dwellings inside each unit.
    geometry : numpy.ndarray of shapely.Polygon
        Unit polygons in ``crs`` (metres).
    dwellings : list of numpy.ndarray
        Row positions (into the dwellings given) of each unit's dwellings.
    dwelling_ids : list of list
        Ids of each unit's dwellings.
    crs : pyproj.CRS
        The metric CRS of ``geometry``.
    outside : numpy.ndarray of int
        Row positions of dwellings that lay outside the area and were put in the nearest unit.
    """

    ids: np.ndarray
    kind: np.ndarray
    block: np.ndarray
    households: np.ndarray
    geometry: np.ndarray
    dwellings: list
    dwelling_ids: list
    crs: CRS
    outside: np.ndarray

    def __len__(self) -> int:
        return len(self.ids)

    def __reduce__(self):
        """Pickled compactly (a county's units come back from its worker processes): the polygons as
        one WKB array, the dwellings' row positions as one array and offsets, the CRS as WKT."""
        sizes = np.array([len(d) for d in self.dwellings], dtype=np.int64)
        flat = np.concatenate(self.dwellings).astype(np.int64) if len(self.dwellings) else np.zeros(0, np.int64)
        return (_units_from_state, (self.ids, self.kind, self.block, self.households, shapely.to_wkb(self.geometry),
                                    flat, sizes, self.dwelling_ids, self.crs.to_wkt(), self.outside))

    @property
    def area_m2(self) -> np.ndarray:
        """Area of each unit (m²)."""
        return shapely.area(self.geometry)

    @property
    def xy(self) -> np.ndarray:
        """A point on each unit's surface, ``(n, 2)`` metres."""
        return shapely.get_coordinates(shapely.point_on_surface(self.geometry))

    def frame(self) -> gpd.GeoDataFrame:
        """The units as a frame in EPSG:4326: ``unit_id``, ``kind``, ``block``, ``households``,
        ``dwelling_ids`` (list), ``geometry``."""
        return gpd.GeoDataFrame({
            "unit_id": self.ids.astype(object), "kind": self.kind.astype(object), "block": self.block,
            "households": self.households, "dwelling_ids": pd.Series(self.dwelling_ids, dtype=object),
        }, geometry=gpd.GeoSeries(to_lonlat_geoms(self.geometry, self.crs), crs=WGS84))


@lru_cache(maxsize=64)
def _crs(wkt: str) -> CRS:
    return CRS(wkt)


def _units_from_state(ids, kind, block, households, wkb, flat, sizes, dwelling_ids, crs_wkt, outside) -> Units:
    dws = np.split(flat, np.cumsum(sizes)[:-1]) if len(sizes) else []
    geoms = shapely.from_wkb(wkb) if len(wkb) else np.zeros(0, dtype=object)
    return Units(ids, kind, block, households, geoms, dws, dwelling_ids, _crs(crs_wkt), outside)


def units_from_frame(frame: gpd.GeoDataFrame, crs: CRS | None = None) -> Units:
    """Units back from :meth:`Units.frame` (a stored plan's units), in ``crs`` (default: chosen for them)."""
    crs = CRS(crs) if crs is not None else metric_crs_for(frame)
    geoms = to_metric_geoms(frame.geometry.to_crs(WGS84).to_numpy(), crs)
    ids = [list(x) if x is not None else [] for x in frame["dwelling_ids"]]
    return Units(frame["unit_id"].to_numpy().astype(str), frame["kind"].to_numpy().astype(str),
                 frame["block"].to_numpy().astype(np.int64), frame["households"].to_numpy().astype(np.int64),
                 geoms, [np.zeros(0, np.int64) for _ in ids], ids, crs, np.zeros(0, np.int64))


def _order(geoms: np.ndarray) -> np.ndarray:
    """North to south, then west to east, by a point on each surface (mm rounding: stable)."""
    p = np.round(shapely.get_coordinates(shapely.point_on_surface(geoms)), 3)
    return np.lexsort((p[:, 0], -p[:, 1]))


def point_unit(geoms: np.ndarray, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of the polygon holding each point (the nearest for points in none) and a flag for those."""
    tree = shapely.STRtree(geoms)
    pts = shapely.points(x, y)
    hit_pt, hit_g = tree.query(pts, predicate="intersects")
    out = np.full(len(pts), -1, dtype=np.int64)
    out[hit_pt[::-1]] = hit_g[::-1]  # lowest polygon index wins on a shared edge
    miss = np.flatnonzero(out < 0)
    if len(miss):
        _, near = tree.query_nearest(pts[miss], all_matches=False, return_distance=False)
        out[miss] = near
    flag = np.zeros(len(pts), bool)
    flag[miss] = True
    return out, flag


def _faces(area, lines) -> np.ndarray:
    """Faces of ``area`` cut by ``lines`` (metric)."""
    lines = np.asarray(lines, dtype=object)
    if len(lines):
        lines = shapely.intersection(lines, area)
        lines = lines[~shapely.is_empty(lines)]
    work = shapely.union_all(np.concatenate([lines, [shapely.boundary(area)]]))
    faces = shapely.get_parts(shapely.polygonize(shapely.get_parts(work)))
    faces = faces[shapely.area(faces) > 0]
    inside = shapely.contains(area, shapely.point_on_surface(faces))
    return faces[inside]


def _merge_slivers(faces: np.ndarray, sliver_m2: float) -> np.ndarray:
    """Faces below ``sliver_m2`` unioned into the neighbour sharing the longest boundary."""
    area = shapely.area(faces)
    small = np.flatnonzero(area < sliver_m2)
    if len(small) == 0 or len(faces) == 1:
        return faces
    tree = shapely.STRtree(faces)
    target = np.arange(len(faces))
    bounds = shapely.boundary(faces)
    for i in small[np.argsort(area[small], kind="stable")]:
        cand = tree.query(faces[i], predicate="intersects")
        cand = cand[cand != i]
        if len(cand) == 0:
            continue
        shared = shapely.length(shapely.intersection(bounds[i], bounds[cand]))
        if shared.max() <= 0:
            continue
        big = area[cand] >= sliver_m2
        pick = cand[np.argmax(np.where(big, shared, shared - 1e12))]
        target[i] = pick
    for _ in range(len(faces)):  # follow chains of slivers to a face that stays
        nxt = target[target]
        if (nxt == target).all():
            break
        target = nxt
    roots = np.unique(target)
    merged = []
    for r in roots:
        members = np.flatnonzero(target == r)
        g = faces[r] if len(members) == 1 else shapely.union_all(faces[members])
        parts = shapely.get_parts(g)
        merged.append(parts[np.argmax(shapely.area(parts))] if len(parts) > 1 else parts[0])
    return np.array(merged, dtype=object)


def _cells(block_geom, x, y):
    """Voronoi cells of the sites ``(x, y)`` clipped to ``block_geom``: (polygons, site of each or -1)."""
    sites = shapely.multipoints(np.column_stack([x, y]))
    vor = shapely.get_parts(shapely.voronoi_polygons(sites, extend_to=block_geom, ordered=True))
    clipped = shapely.intersection(vor, block_geom)
    parts, owner = shapely.get_parts(clipped, return_index=True)
    poly = (shapely.get_type_id(parts) == 3) & (shapely.area(parts) > 0)
    parts, owner = parts[poly], owner[poly]
    pts = shapely.points(x, y)
    holds = shapely.intersects(parts, pts[owner])
    site = np.where(holds, owner, -1)
    for s in np.setdiff1d(np.arange(len(x)), site[site >= 0]):  # site on an edge: its nearest piece
        mine = np.flatnonzero((owner == s) & (site < 0))
        if len(mine):
            site[mine[np.argmin(shapely.distance(parts[mine], pts[s]))]] = s
    return parts, site


def build_units(area_m, lines_m, x, y, households, dwelling_ids, *, crs: CRS, split_above: int,
                sliver_m2: float = 50.0, split_blocks=frozenset()) -> Units:
    """Units of one area from metric inputs (the engine's core; see :func:`community_units`).

    Parameters
    ----------
    area_m : shapely.Polygon or MultiPolygon
        The area (a community, or a grid), metres in ``crs``.
    lines_m : array_like of shapely.LineString
        Street lines in ``crs``; only what lies in the area is used.
    x, y : numpy.ndarray of float
        Dwelling coordinates (m).
    households : numpy.ndarray of int
        Households per dwelling.
    dwelling_ids : numpy.ndarray
        Id of each dwelling.
    crs : pyproj.CRS
        The metric CRS of the inputs.
    split_above : int
        Blocks with more households than this are split into dwelling cells.
    sliver_m2 : float
        Blocks below this area (m²) merge into a neighbour.
    split_blocks : set of int
        Blocks (indices in the sorted order) split into cells whatever they hold: the solver asks for
        this where whole blocks are too coarse for the band.

    Returns
    -------
    Units
    """
    x, y = np.asarray(x, float), np.asarray(y, float)
    households = np.asarray(households, dtype=np.int64)
    dwelling_ids = np.asarray(dwelling_ids, dtype=object)
    faces = _merge_slivers(_faces(area_m, lines_m), sliver_m2)
    faces = faces[_order(faces)]
    where, outside = point_unit(faces, x, y) if len(x) else (np.zeros(0, np.int64), np.zeros(0, bool))
    hh_block = np.bincount(where, weights=households, minlength=len(faces)).astype(np.int64)
    by_block = pd.Series(np.arange(len(x))).groupby(where).apply(lambda s: s.to_numpy()).to_dict() if len(x) else {}
    ids, kind, block, hh, geom, dws = [], [], [], [], [], []
    for b, face in enumerate(faces):
        mine = by_block.get(b, np.zeros(0, np.int64))
        bid = f"b{b + 1:04d}"
        if (hh_block[b] > split_above or b in split_blocks) and len(mine) >= 2:
            key = np.round(np.column_stack([x[mine], y[mine]]) / SITE_M).astype(np.int64)
            uniq, site_of = np.unique(key, axis=0, return_inverse=True)
            site_of = site_of.ravel()
            if len(uniq) >= 2:
                sx = np.array([x[mine][site_of == s][0] for s in range(len(uniq))])
                sy = np.array([y[mine][site_of == s][0] for s in range(len(uniq))])
                parts, site = _cells(face, sx, sy)
                order = _order(parts)
                for j, p in enumerate(order):
                    members = mine[site_of == site[p]] if site[p] >= 0 else np.zeros(0, np.int64)
                    ids.append(f"{bid}.{j + 1:03d}")
                    kind.append("cell")
                    block.append(b)
                    hh.append(int(households[members].sum()))
                    geom.append(parts[p])
                    dws.append(np.sort(members))
                lost = np.setdiff1d(np.arange(len(uniq)), site[site >= 0])
                if len(lost):  # a site whose cell vanished (cannot happen for distinct sites): keep it
                    k = len(ids) - len(order)
                    for s in lost:
                        dws[k] = np.sort(np.concatenate([dws[k], mine[site_of == s]]))
                        hh[k] += int(households[mine[site_of == s]].sum())
                continue
        ids.append(bid)
        kind.append("block")
        block.append(b)
        hh.append(int(hh_block[b]))
        geom.append(face)
        dws.append(np.sort(mine))
    return Units(np.array(ids, dtype=object).astype(str), np.array(kind).astype(str), np.array(block, dtype=np.int64),
                 np.array(hh, dtype=np.int64), np.array(geom, dtype=object), dws,
                 [dwelling_ids[d].tolist() for d in dws], CRS(crs), np.flatnonzero(outside))


def community_units(community, streets: gpd.GeoDataFrame, dwellings: gpd.GeoDataFrame, *, split_above: int,
                    sliver_m2: float = 50.0, crs: CRS | None = None, id_column: str = "source_id") -> Units:
    """Units of one community from EPSG:4326 inputs.

    Parameters
    ----------
    community : shapely.Polygon or MultiPolygon
        The community's polygon (EPSG:4326).
    streets : geopandas.GeoDataFrame
        Street lines (EPSG:4326); those outside the community are ignored.
    dwellings : geopandas.GeoDataFrame
        Dwelling points (EPSG:4326) with ``households`` and ``id_column``.
    split_above : int
        Blocks holding more households than this become dwelling cells.
    sliver_m2 : float
        Sliver size (m²).
    crs : pyproj.CRS, optional
        Metric CRS (default :func:`geo.crs.metric_crs_for` the community).
    id_column : str
        Dwellings' id column (the index when absent).
    """
    crs = CRS(crs) if crs is not None else metric_crs_for(gpd.GeoSeries([community], crs=WGS84))
    area = to_metric_geoms([community], crs)[0]
    lines = to_metric_geoms(streets.geometry.to_numpy(), crs) if len(streets) else np.zeros(0, dtype=object)
    pts = to_metric_geoms(dwellings.geometry.to_numpy(), crs) if len(dwellings) else np.zeros(0, dtype=object)
    xy = shapely.get_coordinates(pts) if len(pts) else np.zeros((0, 2))
    ids = dwellings[id_column].to_numpy() if id_column in dwellings else dwellings.index.to_numpy()
    return build_units(area, lines, xy[:, 0], xy[:, 1], dwellings["households"].to_numpy(), ids, crs=crs,
                       split_above=split_above, sliver_m2=sliver_m2)
