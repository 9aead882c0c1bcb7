"""OpenStreetMap ``.osm.pbf`` -> gridmap's streets, dwellings and candidate stations (via pyrosm).

Data from OpenStreetMap is (c) OpenStreetMap contributors, ODbL 1.0: credit them when you
publish anything derived from it.

Streets
    Every way pyrosm's ``network_type="all"`` returns, split at the vertices it shares with
    other ways (intersections), so each stored street runs from junction to junction.  Road class
    from ``highway`` (:data:`HIGHWAY_CLASSES`), walk/bike/drive from the class
    (``geo.layers.ROAD_CLASSES``) corrected by ``foot``/``bicycle``/``access``/``motor_vehicle``
    tags, ``oneway`` (1, -1 for ``oneway=-1``; roundabouts and motorways are one-way),
    ``maxspeed`` in km/h (mph converted).  ``source_id`` is ``osm:way/<id>:<piece>``.

Dwellings: the household estimate (documented, overridable)
    Residential buildings (:data:`RESIDENTIAL_BUILDINGS`) become dwellings at a point on their
    footprint, with the footprint kept (invalid footprints repaired with make_valid; those with no
    area left, e.g. cut at the extract's edge, are skipped and counted in
    ``attrs["skipped_degenerate"]``):

    - single-family types (:data:`SINGLE_HOUSEHOLD`: house, detached, bungalow, farm, cabin,
      semidetached_house, static_caravan, houseboat): 1 household;
    - others (apartments, residential, terrace, dormitory): ``round(footprint_m2 x levels x
      NET_SHARE / m2_per_household)``, at least 1, with ``NET_SHARE`` = 0.8 (walls, stairs,
      corridors take a fifth of the gross floor area) and ``m2_per_household`` = 90 by default;
    - ``levels`` from ``building:levels``; when absent, :data:`DEFAULT_LEVELS` by type
      (apartments 6, residential 3, dormitory 4, terrace 2), or the caller's ``default_levels``
      for every building without the tag.

Stations
    Amenities that can serve as service points (:data:`STATION_AMENITIES`: community_centre,
    townhall, social_facility, police, clinic, doctors, library, community hall...) as points
    (polygons by a point on their surface), ``kind`` = ``osm_<amenity>``; a missing name becomes
    ``"<amenity> <osm id>"``.
"""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.crs import metric_crs_for
from geo.errors import InvalidInput, Problem
from geo.layers import ROAD_CLASSES

__all__ = [
    "read_osm", "osm_streets", "osm_dwellings", "osm_stations", "estimate_households",
    "HIGHWAY_CLASSES", "RESIDENTIAL_BUILDINGS", "SINGLE_HOUSEHOLD", "DEFAULT_LEVELS",
    "M2_PER_HOUSEHOLD", "NET_SHARE", "STATION_AMENITIES",
]

#: OSM ``highway`` value -> gridmap road class (``geo.layers.ROAD_CLASSES`` keys).
HIGHWAY_CLASSES: dict[str, str] = {
    "motorway": "motorway", "motorway_link": "motorway", "trunk": "primary", "trunk_link": "primary",
    "primary": "primary", "primary_link": "primary", "secondary": "secondary", "secondary_link": "secondary",
    "tertiary": "tertiary", "tertiary_link": "tertiary", "unclassified": "residential",
    "residential": "residential", "living_street": "residential", "road": "residential",
    "service": "service", "track": "path", "path": "path", "cycleway": "path", "bridleway": "path",
    "footway": "footway", "pedestrian": "footway", "steps": "footway", "corridor": "footway",
    "sidewalk": "footway", "crossing": "footway",
}
#: Road classes whose bike access differs from ``ROAD_CLASSES`` by OSM ``highway`` value.
_HIGHWAY_BIKE = {"cycleway": True, "steps": False, "pedestrian": False}

RESIDENTIAL_BUILDINGS: tuple[str, ...] = (
    "residential", "apartments", "house", "detached", "semidetached_house", "terrace", "dormitory",
    "bungalow", "farm", "cabin", "static_caravan", "houseboat",
)
SINGLE_HOUSEHOLD: tuple[str, ...] = (
    "house", "detached", "semidetached_house", "bungalow", "farm", "cabin", "static_caravan", "houseboat",
)
DEFAULT_LEVELS: dict[str, int] = {"apartments": 6, "residential": 3, "dormitory": 4, "terrace": 2}
M2_PER_HOUSEHOLD = 90.0
NET_SHARE = 0.8

STATION_AMENITIES: tuple[str, ...] = (
    "community_centre", "townhall", "social_facility", "social_centre", "police", "clinic", "doctors",
    "library", "community_hall", "public_building", "post_office",
)

_STREET_COLUMNS = ["region_code", "source_id", "name", "road_class", "walk", "bike", "drive", "oneway", "speed_kmh"]


def _osm(path) -> "object":
    import pyrosm

    path = Path(path)
    if not path.exists():
        raise InvalidInput("File not found", [Problem(f"{path} does not exist", field="FILE")])
    try:
        return pyrosm.OSM(str(path))
    except Exception as exc:  # noqa: BLE001
        raise InvalidInput("Cannot read the OpenStreetMap file", [Problem(f"{path.name}: {exc}", field="FILE")]) from None


def _tags(frame: pd.DataFrame) -> pd.Series:
    """The ``tags`` column (JSON text of the tags pyrosm did not give columns) as dicts."""
    if "tags" not in frame:
        return pd.Series([{}] * len(frame), index=frame.index, dtype=object)

    def parse(v):
        if isinstance(v, dict):
            return v
        if isinstance(v, str) and v:
            try:
                return json.loads(v)
            except ValueError:
                return {}
        return {}

    return frame["tags"].map(parse)


def _col(frame: pd.DataFrame, name: str, tags: pd.Series) -> pd.Series:
    """A tag as a column: pyrosm's own column when present, else from the tags dict."""
    own = frame[name] if name in frame else pd.Series(None, index=frame.index, dtype=object)
    from_tags = tags.map(lambda t: t.get(name))
    return own.where(own.notna(), from_tags)


def _maxspeed(values: pd.Series) -> np.ndarray:
    out = np.full(len(values), np.nan)
    for i, v in enumerate(values.to_numpy(dtype=object)):
        if not isinstance(v, str):
            continue
        m = re.match(r"\s*(\d+(?:\.\d+)?)\s*(mph)?", v)
        if m:
            out[i] = float(m.group(1)) * (1.609344 if m.group(2) else 1.0)
    return out


def _split_at_junctions(lines: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split lines at interior vertices shared with any other line (or repeated in the same one).

    Returns the pieces, the index of the line each came from, and the piece number within it.
    """
    xy, owner = shapely.get_coordinates(lines, return_index=True)
    if not len(xy):
        return np.array([], dtype=object), np.array([], dtype=int), np.array([], dtype=int)
    key = np.round(xy, 7)
    _, inverse, counts = np.unique(key, axis=0, return_inverse=True, return_counts=True)
    inverse = inverse.ravel()
    first = np.r_[True, owner[1:] != owner[:-1]]
    last = np.r_[owner[1:] != owner[:-1], True]
    split = (counts[inverse] > 1) & ~first & ~last
    # each split vertex ends one piece and starts the next: duplicate it
    rep = np.where(split, 2, 1)
    xy2 = np.repeat(xy, rep, axis=0)
    owner2 = np.repeat(owner, rep)
    starts_new = np.zeros(len(xy2), dtype=bool)
    pos = np.cumsum(rep) - 1  # index of the last copy of each original vertex
    starts_new[pos[split]] = True
    starts_new[np.r_[0, np.cumsum(rep)[:-1]][first]] = True
    piece_global = np.cumsum(starts_new) - 1
    pieces = shapely.linestrings(xy2, indices=piece_global)
    piece_owner = owner2[np.flatnonzero(starts_new)]
    line_first_piece = np.r_[0, np.flatnonzero(piece_owner[1:] != piece_owner[:-1]) + 1]
    piece_no = np.arange(len(piece_owner)) - np.repeat(line_first_piece, np.diff(np.r_[line_first_piece, len(piece_owner)]))
    return pieces, piece_owner, piece_no


def osm_streets(path, *, region_code: str | None = None, osm=None) -> gpd.GeoDataFrame:
    """Streets (the ``streets`` layer's columns) from an ``.osm.pbf`` file, EPSG:4326.

    Parameters
    ----------
    path : str or Path
        The ``.osm.pbf`` file.
    region_code : str, optional
        Written into ``region_code`` (else left empty for the loader to fill).
    osm : pyrosm.OSM, optional
        An already opened reader (to share between the three extractors).
    """
    osm = osm or _osm(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        net = osm.get_network(network_type="all")
    if net is None or len(net) == 0:
        return gpd.GeoDataFrame(columns=_STREET_COLUMNS, geometry=gpd.GeoSeries([], crs=4326), crs=4326)
    net = net.reset_index(drop=True)
    tags = _tags(net)
    highway = net["highway"].astype(str)
    road_class = highway.map(HIGHWAY_CLASSES).fillna("residential")
    walk = road_class.map({k: v[0] for k, v in ROAD_CLASSES.items()}).astype(bool).to_numpy()
    bike = road_class.map({k: v[1] for k, v in ROAD_CLASSES.items()}).astype(bool).to_numpy()
    drive = road_class.map({k: v[2] for k, v in ROAD_CLASSES.items()}).astype(bool).to_numpy()
    hb = highway.map(_HIGHWAY_BIKE)
    bike = np.where(hb.notna(), hb.fillna(False).astype(bool), bike)
    foot = _col(net, "foot", tags).astype("string").str.lower()
    bicycle = _col(net, "bicycle", tags).astype("string").str.lower()
    access = _col(net, "access", tags).astype("string").str.lower()
    motor = _col(net, "motor_vehicle", tags).astype("string").str.lower()
    allowed = ["yes", "designated", "permissive", "destination"]
    walk = np.where(foot.isin(allowed).fillna(False), True, np.where(foot.eq("no").fillna(False), False, walk))
    bike = np.where(bicycle.isin(allowed).fillna(False), True,
                    np.where(bicycle.isin(["no", "dismount"]).fillna(False), False, bike))
    drive = np.where(access.isin(["no", "private"]).fillna(False) | motor.eq("no").fillna(False), False, drive)
    oneway_tag = _col(net, "oneway", tags).astype("string").str.lower()
    junction = _col(net, "junction", tags).astype("string").str.lower()
    oneway = np.where(oneway_tag.isin(["yes", "1", "true"]).fillna(False), 1,
                      np.where(oneway_tag.isin(["-1", "reverse"]).fillna(False), -1, 0))
    implied = (junction.isin(["roundabout", "circular"]).fillna(False) | highway.isin(["motorway"])) \
        & ~oneway_tag.isin(["no", "0", "false"]).fillna(False)
    oneway = np.where(implied.to_numpy() & (oneway == 0), 1, oneway)
    speed = _maxspeed(_col(net, "maxspeed", tags))
    name = _col(net, "name", tags)

    lines = shapely.line_merge(net.geometry.to_numpy())
    lines = np.asarray(shapely.force_2d(lines), dtype=object)
    parts, part_of = shapely.get_parts(lines, return_index=True)
    pieces, piece_line, piece_no = _split_at_junctions(parts)
    src = part_of[piece_line]
    part_no = np.arange(len(parts)) - np.searchsorted(part_of, part_of)  # part index within its way
    ids = net["id"].astype("int64").to_numpy()
    source_id = [f"osm:way/{ids[s]}:{part_no[pl]}.{k}" if part_no[pl] else f"osm:way/{ids[s]}:{k}"
                 for s, pl, k in zip(src, piece_line, piece_no)]
    out = gpd.GeoDataFrame({
        "region_code": region_code,
        "source_id": source_id,
        "name": name.to_numpy(dtype=object)[src],
        "road_class": road_class.to_numpy()[src],
        "walk": walk[src], "bike": bike[src], "drive": drive[src],
        "oneway": oneway[src].astype(int),
        "speed_kmh": speed[src],
    }, geometry=gpd.GeoSeries(pieces, crs=4326), crs=4326)
    keep = shapely.length(pieces) > 0
    return out[keep].reset_index(drop=True)


def estimate_households(building: pd.Series, footprint_m2: np.ndarray, levels: pd.Series, *,
                        m2_per_household: float = M2_PER_HOUSEHOLD,
                        default_levels: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Households per building by the documented rule (see the module docstring).

    Parameters
    ----------
    building : pandas.Series
        OSM ``building`` values.
    footprint_m2 : numpy.ndarray
        Footprint areas, square metres.
    levels : pandas.Series
        ``building:levels`` values (text or numbers; missing/unparsable -> default).
    m2_per_household : float
        Net floor area per household, square metres.
    default_levels : int, optional
        Levels for every building without the tag (else :data:`DEFAULT_LEVELS` by type, 1).

    Returns
    -------
    households, levels_used : numpy.ndarray of int
    """
    if m2_per_household <= 0:
        raise InvalidInput("Bad household estimate", [Problem("m2 per household must be positive",
                                                              field="--m2-per-household")])
    if default_levels is not None and default_levels < 1:
        raise InvalidInput("Bad household estimate", [Problem("default levels must be at least 1",
                                                              field="--default-levels")])
    tagged = pd.to_numeric(levels.astype("string").str.extract(r"(\d+(?:\.\d+)?)")[0], errors="coerce")
    fallback = building.map(DEFAULT_LEVELS).fillna(1) if default_levels is None else pd.Series(
        default_levels, index=building.index)
    used = np.maximum(1, np.round(tagged.fillna(fallback).to_numpy(dtype=float))).astype(int)
    est = np.maximum(1, np.round(footprint_m2 * used * NET_SHARE / m2_per_household)).astype(int)
    single = building.isin(SINGLE_HOUSEHOLD).to_numpy()
    return np.where(single, 1, est), used


def _polygonal(geoms: np.ndarray) -> np.ndarray:
    """Valid MultiPolygons: invalid footprints repaired with make_valid, keeping polygonal parts."""
    geoms = np.asarray(geoms, dtype=object)
    fixed = np.where(shapely.is_valid(geoms), geoms, shapely.make_valid(geoms))
    parts, owner = shapely.get_parts(fixed, return_index=True)
    # a make_valid GeometryCollection may hold MultiPolygons: flatten once more
    parts, sub = shapely.get_parts(parts, return_index=True)
    owner = owner[sub]
    keep = shapely.get_type_id(parts) == 3
    out = np.full(len(geoms), None, dtype=object)
    if keep.any():
        owners = owner[keep]
        uniq, idx = np.unique(owners, return_inverse=True)
        out[uniq] = shapely.multipolygons(parts[keep], indices=idx)
    return out


def osm_dwellings(path, *, region_code: str | None = None, m2_per_household: float = M2_PER_HOUSEHOLD,
                  default_levels: int | None = None, osm=None) -> gpd.GeoDataFrame:
    """Residential buildings as dwellings (``dwellings`` columns + ``footprint``), EPSG:4326.

    The point is a point on the footprint's surface; households are estimated with
    :func:`estimate_households`.  ``source_id`` is ``osm:<way|relation>/<id>``.
    """
    osm = osm or _osm(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        b = osm.get_buildings()
    cols = ["region_code", "source_id", "households", "name", "address", "population", "levels",
            "building_type", "community_code", "grid_code", "footprint"]
    if b is None or len(b) == 0:
        return gpd.GeoDataFrame(columns=cols, geometry=gpd.GeoSeries([], crs=4326), crs=4326)
    b = b[b["building"].isin(RESIDENTIAL_BUILDINGS)].reset_index(drop=True)
    if len(b) == 0:
        return gpd.GeoDataFrame(columns=cols, geometry=gpd.GeoSeries([], crs=4326), crs=4326)
    tags = _tags(b)
    fp = _polygonal(shapely.force_2d(b.geometry.to_numpy()))
    polygonal = ~shapely.is_missing(fp)
    b, fp, tags = b[polygonal].reset_index(drop=True), fp[polygonal], tags[polygonal].reset_index(drop=True)
    series = gpd.GeoSeries(fp, crs=4326)
    area = series.to_crs(metric_crs_for(series)).area.to_numpy()
    levels = _col(b, "building:levels", tags)
    households, used = estimate_households(b["building"], area, levels,
                                           m2_per_household=m2_per_household, default_levels=default_levels)
    street = _col(b, "addr:street", tags).astype("string")
    number = _col(b, "addr:housenumber", tags).astype("string")
    address = (street.fillna("") + " " + number.fillna("")).str.strip().replace("", pd.NA)
    osm_type = b["osm_type"].astype(str) if "osm_type" in b else pd.Series("way", index=b.index)
    out = gpd.GeoDataFrame({
        "region_code": region_code,
        "source_id": "osm:" + osm_type + "/" + b["id"].astype("int64").astype(str),
        "households": households,
        "name": _col(b, "name", tags),
        "address": address,
        "population": pd.array([pd.NA] * len(b), dtype="Int64"),
        "levels": used,
        "building_type": b["building"].astype(str),
        "community_code": None,
        "grid_code": None,
        "footprint": gpd.GeoSeries(fp, crs=4326),
    }, geometry=gpd.GeoSeries(shapely.point_on_surface(fp), crs=4326), crs=4326)
    out.attrs["skipped_degenerate"] = int((~polygonal).sum())
    return out


def osm_stations(path, *, region_code: str | None = None, amenities=STATION_AMENITIES, osm=None) -> gpd.GeoDataFrame:
    """Amenities that can serve as service stations (``stations`` columns), EPSG:4326.

    ``kind`` is ``osm_<amenity>``; ``source_id`` is ``osm:<type>/<id>``.
    """
    osm = osm or _osm(path)
    cols = ["region_code", "source_id", "name", "kind", "opening_hours", "address"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p = osm.get_pois(custom_filter={"amenity": list(amenities)})
    if p is None or len(p) == 0:
        return gpd.GeoDataFrame(columns=cols, geometry=gpd.GeoSeries([], crs=4326), crs=4326)
    p = p[p["amenity"].isin(amenities)].reset_index(drop=True)
    tags = _tags(p)
    name = _col(p, "name", tags).astype("string")
    ids = p["id"].astype("int64").astype(str)
    osm_type = p["osm_type"].astype(str) if "osm_type" in p else pd.Series("node", index=p.index)
    geoms = shapely.force_2d(p.geometry.to_numpy())
    pts = np.where(shapely.get_type_id(geoms) == 0, geoms, shapely.point_on_surface(geoms))
    street = _col(p, "addr:street", tags).astype("string")
    number = _col(p, "addr:housenumber", tags).astype("string")
    return gpd.GeoDataFrame({
        "region_code": region_code,
        "source_id": "osm:" + osm_type + "/" + ids,
        "name": name.fillna(p["amenity"].astype(str) + " " + ids),
        "kind": "osm_" + p["amenity"].astype(str),
        "opening_hours": _col(p, "opening_hours", tags),
        "address": (street.fillna("") + " " + number.fillna("")).str.strip().replace("", pd.NA),
    }, geometry=gpd.GeoSeries(pts, crs=4326), crs=4326)


def read_osm(path, *, region_code: str | None = None, m2_per_household: float = M2_PER_HOUSEHOLD,
             default_levels: int | None = None, amenities=STATION_AMENITIES) -> dict[str, gpd.GeoDataFrame]:
    """All three extracts from one file: ``{"streets": ..., "dwellings": ..., "stations": ...}``."""
    osm = _osm(path)
    return {
        "streets": osm_streets(path, region_code=region_code, osm=osm),
        "dwellings": osm_dwellings(path, region_code=region_code, m2_per_household=m2_per_household,
                                   default_levels=default_levels, osm=osm),
        "stations": osm_stations(path, region_code=region_code, amenities=amenities, osm=osm),
    }
