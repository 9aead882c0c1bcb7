"""A deterministic, fictional sample district (示例) that scales to a county-level city.

:func:`make_district` builds the six stored layers around Jiangyin (centred on 120.35E, 31.875N)
from a seeded generator; the same arguments always give identical frames.  Structure follows the
governance layout of a Chinese county (region -> towns -> communities -> grids of ~300 households):

* ~1,500 households per community (12,000 -> 8 communities; 500,000 -> 333), ~20 communities per
  town (1 town for the default; 17 at 500,000).  Towns are Voronoi cells of the district, communities
  Voronoi cells of their town (urban 社区 near the town centre, villages 村 around them), all convex;
  codes: town = region + 3 digits, community = town + 3 digits (:mod:`geo.sample.layout`).
* A street lattice with a road hierarchy, missing links, dead ends and a meandering river crossed
  only by primary and secondary roads, one row per edge between junctions (:mod:`geo.sample.streets`).
* Apartment blocks (12-120 households) in urban communities, houses (1-3) in village hamlets,
  12-32 m off a street; grids of ~300 households by weighted bisection, nested in their community
  (:mod:`geo.sample.dwellings`); 1 + 3 + 10 stations per community, none on the fringes
  (:mod:`geo.sample.stations`); incidents at the Jiangyin rate (:mod:`geo.sample.incidents`).

Everything is built in metres in the CGCS2000 Gauss-Kruger zone of the centre (EPSG:4549) and
returned in EPSG:4326 with exactly the columns of :data:`geo.layers.LAYERS` plus ``geometry``.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer

from geo.crs import WGS84, metric_crs
from geo.errors import InvalidInput, Problem
from geo.layers import LAYERS
from geo.sample.dwellings import context_fn, make_dwellings, make_grids, make_hamlets
from geo.sample.incidents import END, count_for, make_incidents
from geo.sample.layout import make_layout
from geo.sample.names import numbered, pad, person_names, phones, place_names
from geo.sample.stations import KINDS, pick_stations, station_points
from geo.sample.streets import make_lattice, make_streets

LON0, LAT0 = 120.35, 31.875
HOUSEHOLDS_PER_COMMUNITY = 1_500
COMMUNITIES_PER_TOWN = 20
STATION_LABEL = {"service_centre": "党群服务中心", "grid_station": "网格党建先锋站", "neighbourhood_point": "邻里服务点"}


def _check(households, incident_years, incidents, region_code, community_households=HOUSEHOLDS_PER_COMMUNITY) -> None:
    problems = []
    if not isinstance(community_households, (int, np.integer)) or community_households < 300:
        problems.append(Problem("must be a whole number of at least 300", field="community_households"))
    if not isinstance(households, (int, np.integer)) or households < 300:
        problems.append(Problem("must be a whole number of at least 300", field="households"))
    if not (incident_years > 0):
        problems.append(Problem("must be positive", field="incident_years"))
    if incidents is not None and incidents < 0:
        problems.append(Problem("must not be negative", field="incidents"))
    if not (isinstance(region_code, str) and len(region_code) == 6 and region_code.isdigit()):
        problems.append(Problem("must be a 6-digit administrative code", field="region_code"))
    if problems:
        raise InvalidInput("cannot generate the sample district", problems)


def _to_lonlat(geoms: np.ndarray) -> np.ndarray:
    """Local metres (origin at the district centre) -> EPSG:4326 lon/lat, vectorised."""
    crs = metric_crs(LON0, LAT0)
    x0, y0 = Transformer.from_crs(WGS84, crs, always_xy=True).transform(LON0, LAT0)
    back = Transformer.from_crs(crs, WGS84, always_xy=True)

    def f(c):
        lon, lat = back.transform(c[:, 0] + x0, c[:, 1] + y0)
        return np.column_stack([lon, lat])

    return shapely.transform(np.asarray(geoms, dtype=object), f)


def _multi(geoms: np.ndarray) -> np.ndarray:
    """Polygonal parts of each geometry as one MultiPolygon per input."""
    parts, index = shapely.get_parts(geoms, return_index=True)
    poly = shapely.get_type_id(parts) == 3
    out = shapely.multipolygons(parts[poly], indices=index[poly])
    bad = ~shapely.is_valid(out)
    if bad.any():
        out[bad] = _multi(shapely.make_valid(out[bad]))
    return out


def _frame(layer: str, data: dict, geometry, n: int) -> gpd.GeoDataFrame:
    cols = {}
    for c in LAYERS[layer].columns:
        v = data.get(c.name)
        cols[c.name] = np.full(n, None, dtype=object) if v is None else v
    return gpd.GeoDataFrame(pd.DataFrame(cols), geometry=gpd.GeoSeries(_to_lonlat(geometry), crs=WGS84))


def shares(rng: np.random.Generator, n: int, total: int) -> np.ndarray:
    """``n`` integers near ``total / n`` (+-20%) summing exactly to ``total`` (households per community)."""
    w = rng.uniform(0.8, 1.2, n)
    s = w / w.sum() * total
    out = np.floor(s).astype(int)
    out[np.argsort(-(s - out), kind="stable")[: total - out.sum()]] += 1
    return out


def make_district(households: int = 12_000, seed: int = 0, incident_years: float = 1.0,
                  incidents: int | None = None, region_code: str = "320281",
                  community_households: int = HOUSEHOLDS_PER_COMMUNITY) -> dict[str, gpd.GeoDataFrame]:
    """Generate the sample district.

    Parameters
    ----------
    households : int
        Total households, exactly (12,000: one town of 8 communities and 40 grids; 500,000: a
        county-level city of 17 towns, 333 communities, ~1,670 grids, >4,600 stations).
    seed : int
        Random seed; the same arguments give identical frames.
    incident_years : float
        Years of incidents ending 2026-10-31 (local time), at 95,399 per 500,000 households a year.
    incidents : int, optional
        Exactly this many incidents instead (over ``incident_years`` years).
    region_code : str
        6-digit county code; town codes add 3 digits, community codes 3 more.
    community_households : int
        Mean households of a community (default :data:`HOUSEHOLDS_PER_COMMUNITY`, 1,500: villages of
        ~800 houses); 6,000 makes merged villages of ~3,000 houses and more (the workbench
        benchmark's large community), the area per household staying the same.

    Returns
    -------
    dict of str to geopandas.GeoDataFrame
        ``areas``, ``grids``, ``dwellings``, ``stations``, ``streets``, ``incidents``, EPSG:4326,
        columns of :data:`geo.layers.LAYERS` plus ``geometry``.

    Raises
    ------
    geo.errors.InvalidInput
        For fewer than 300 households (in the district or a community), a non-positive period or a
        malformed region code.
    """
    _check(households, incident_years, incidents, region_code, community_households)
    households = int(households)

    def rng(stage: int) -> np.random.Generator:
        return np.random.default_rng([int(seed), stage])

    n_comm = max(1, round(households / int(community_households)))
    n_town = max(1, round(n_comm / COMMUNITIES_PER_TOWN))
    layout = make_layout(rng(1), households, n_comm, n_town)
    targets = shares(rng(2), n_comm, households)
    hamlets = make_hamlets(rng(3), layout, targets)
    lattice = make_lattice(rng(4), layout)
    streets = make_streets(rng(5), lattice, layout, context_fn(layout, hamlets))
    dw = make_dwellings(rng(6), layout, targets, hamlets, streets, lattice)
    grid_geom, grid_comm, grid_of = make_grids(layout, dw)
    picks = pick_stations(rng(7), dw, grid_of, grid_comm, n_comm)
    n_inc = count_for(households, incident_years) if incidents is None else int(incidents)

    names = rng(8)
    town_code = numbered(region_code, n_town, 3)
    within = pd.Series(layout.community_town).groupby(layout.community_town).cumcount().to_numpy() + 1
    comm_code = np.char.add(town_code[layout.community_town], pad(within, 3))
    places = place_names(names, n_town + n_comm)
    town_name = np.char.add(np.char.add("示例", places[:n_town]),
                            np.where((np.arange(n_town) == 0) & (n_town > 1), "街道", "镇"))
    comm_name = np.char.add(places[n_town:], np.where(layout.urban, "社区", "村"))
    inc = make_incidents(rng(9), n_inc, incident_years, dw, layout.outline, comm_name)
    R = region_code

    areas = _frame("areas", {
        "region_code": R, "code": np.concatenate([town_code, comm_code]),
        "name": np.concatenate([town_name, comm_name]),
        "level": np.array(["town"] * n_town + ["community"] * n_comm),
        "parent_code": np.concatenate([np.full(n_town, None, dtype=object), town_code[layout.community_town]]),
    }, _multi(np.concatenate([layout.towns, layout.communities])), n_town + n_comm)

    ng = len(grid_comm)
    g_no = pd.Series(grid_comm).groupby(grid_comm).cumcount().to_numpy() + 1
    g_code = np.char.add(np.char.add(comm_code[grid_comm], "-"), pad(g_no, 2))
    valid_from = pd.Timestamp(f"{(END - pd.Timedelta(days=round(incident_years * 365))).year}-01-01",
                              tz="Asia/Shanghai").tz_convert("UTC")
    grids = _frame("grids", {
        "region_code": R, "code": g_code, "name": np.char.add(comm_name[grid_comm], np.char.add(np.char.add("第", g_no.astype(str)), "网格")),
        "community_code": comm_code[grid_comm], "town_code": town_code[layout.community_town[grid_comm]],
        "chief": person_names(names, ng), "worker": person_names(names, ng), "phone": phones(names, ng),
        "valid_from": pd.Series(valid_from, index=range(ng)),
        "valid_to": pd.Series(pd.NaT, index=range(ng), dtype="datetime64[ns, UTC]"),
    }, _multi(grid_geom), ng)

    nd = len(dw["x"])
    dc = dw["community"]
    apt = dw["type"] == "apartments"
    k = pd.DataFrame({"c": dc, "g": dw["group"]}).groupby(["c", "g"]).cumcount().to_numpy() + 1
    where = np.char.add(town_name[layout.community_town[dc]], comm_name[dc])
    k_s = k.astype(str)
    dwellings = _frame("dwellings", {
        "region_code": R, "source_id": numbered("DW", nd, 7), "households": dw["households"].astype(np.int64),
        "name": np.where(apt, np.char.add(np.char.add(comm_name[dc], k_s), "幢"), None),
        "address": np.where(apt, np.char.add(np.char.add(where, k_s), "幢"),
                            np.char.add(np.char.add(np.char.add(where, dw["group"].astype(str)), "组"),
                                        np.char.add(k_s, "号"))).astype(object),
        "population": (2 * dw["households"] + names.binomial(dw["households"], 0.6)).astype(np.int64),
        "levels": dw["levels"].astype(np.int64), "building_type": dw["type"].astype(object),
        "community_code": comm_code[dc], "grid_code": g_code[grid_of],
    }, shapely.points(dw["x"], dw["y"]), nd)

    ns = len(picks)
    kind = np.tile(np.array(KINDS), n_comm)
    sc = np.repeat(np.arange(n_comm), len(KINDS))
    nth = np.tile(np.array([0, 1, 2, 3] + list(range(1, 11))), n_comm).astype(str)
    label = np.array([STATION_LABEL[x] for x in kind])
    s_rng = rng(10)
    cap = np.select([kind == "service_centre", kind == "grid_station"],
                    [s_rng.integers(80, 301, ns), s_rng.integers(20, 61, ns)], s_rng.integers(8, 21, ns))
    cap = pd.array(np.where((kind == "neighbourhood_point") & (s_rng.random(ns) < 0.6), -1, cap), dtype="Int64")
    cap[cap == -1] = pd.NA
    hours = np.select([kind == "service_centre", kind == "grid_station"],
                      ["Mo-Fr 08:30-17:30; Sa 09:00-12:00", "Mo-Fr 09:00-17:00"], "Mo-Su 09:00-11:30,14:00-17:00")
    opened = pd.Timestamp("2018-01-01") + pd.to_timedelta(s_rng.integers(0, 7 * 365, ns), unit="D")
    sx, sy = station_points(dw, picks, streets["coords"])
    stations = _frame("stations", {
        "region_code": R, "source_id": numbered("ST", ns, 6),
        "name": np.char.add(np.char.add(comm_name[sc], np.where(kind == "service_centre", "", np.char.add("第", nth))),
                            np.where(kind == "service_centre", label, np.char.add("号", label))),
        "kind": kind.astype(object), "community_code": comm_code[sc], "capacity": cap,
        "opening_hours": np.where((kind == "neighbourhood_point") & (s_rng.random(ns) < 0.5), None, hours),
        "opened_on": np.array(opened.date, dtype=object), "address": dwellings["address"].to_numpy()[picks],
    }, shapely.points(sx, sy), ns)

    n_st = len(streets["u"])
    street_frame = _frame("streets", {
        "region_code": R, "source_id": numbered("SR", n_st, 7), "name": streets["name"],
        "road_class": streets["road_class"].astype(object), "walk": streets["walk"], "bike": streets["bike"],
        "drive": streets["drive"], "oneway": streets["oneway"].astype(np.int64), "speed_kmh": streets["speed_kmh"],
    }, shapely.linestrings(streets["coords"]), n_st)

    incidents_frame = _frame("incidents", {
        "region_code": R, **{c: inc[c] for c in ("external_id", "category", "description", "reporter_kind",
                                                   "status", "escalation_level", "close_reason")},
        "reported_at": pd.Series(inc["reported_at"]), "closed_at": pd.Series(inc["closed_at"]),
    }, shapely.points(inc["x"], inc["y"]), n_inc)
    for f in (areas, grids, dwellings, stations, street_frame, incidents_frame):
        for c in f.columns:
            if f[c].dtype.kind == "U":
                f[c] = f[c].astype(object)
    return {"areas": areas, "grids": grids, "dwellings": dwellings, "stations": stations,
            "streets": street_frame, "incidents": incidents_frame}
