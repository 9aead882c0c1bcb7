"""The coverage service: the 8-minute engine of ``geo/`` fed from PostGIS, with its caches.

:class:`CoverageService` loads the streets, stations, dwellings, grids and areas of a caller's
scope (and optionally one region) from the database and keeps, in process memory:

* per (scope, region, mode, speed, streets version): the built :class:`geo.network.Network` and the
  regions without streets (where the straight-line fallback applies);
* per (that network, dwellings version): the dwelling snap, so a station change recomputes
  without re-snapping;
* per (parameters, data versions): the :class:`Run` (reach, tables, and lazily gaps, the what-if
  planner and polygons), the last :data:`MAX_RUNS` of them.

Every run's summary is also stored in ``coverage_runs`` with its parameters and the data versions
it used; a repeat of the same question on unchanged data is served from there even after a
restart.  Versions come from ``data_versions`` (a statement trigger bumps a layer's version and
``changed_at`` on every write), so any write to those layers makes every cached entry unreachable.
All caches are guarded by locks: concurrent requests for the same key compute it once.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Callable

import geopandas as gpd
import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine, insert, select, text

from api.db.export import layer_frame
from api.db.models import coverage_runs
from api.errors import BadRequest
from api.jurisdiction import Jurisdiction
from geo.coverage import LEVELS, assign_to_grids, coverage_table
from geo.network import MODES, Network, build_network
from geo.reach import DETOUR_FACTOR, EPS_S, DwellingIndex, Reach, compute_reach, no_street_regions, select_stations
from geo.service_area import station_polygons
from geo.snap import Snap, snap_frame

#: Layers a coverage result depends on.
LAYERS = ("streets", "stations", "dwellings", "grids", "areas")
MAX_RUNS = 6
MAX_MINUTES = 120.0
MAX_CACHED_POLYGONS = 50_000
FALLBACK_NOTE = (f"straight-line fallback: where an area has no streets, time = straight distance x "
                 f"{DETOUR_FACTOR} (detour factor) / speed")


def data_versions(conn: Connection) -> dict[str, str]:
    """``{layer: "version@changed_at"}`` for the layers coverage depends on ("0" if never written).

    ``changed_at`` is part of the value so that a table emptied and refilled (its version row
    truncated with it) never repeats an earlier key.
    """
    rows = conn.execute(text("SELECT layer, version, changed_at FROM data_versions WHERE layer = ANY(:l)"),
                        {"l": list(LAYERS)}).all()
    got = {r.layer: f"{r.version}@{r.changed_at.isoformat()}" for r in rows}
    return {layer: got.get(layer, "0") for layer in LAYERS}


@dataclass(frozen=True)
class CoverageParams:
    """The question a run answers.

    Attributes
    ----------
    minutes : float
        The time budget, minutes (the service circle).
    mode : str
        ``walk``, ``bike`` or ``drive``.
    kinds : tuple of str, optional
        Station kinds that count (all when None).
    at : date, optional
        Count the stations open on this date (all stations when None).
    region : str, optional
        One 6-digit county code (all regions in scope when None).
    limit_minutes : float, optional
        Search limit, minutes (>= ``minutes``; needed for larger breaks of area polygons).
    """

    minutes: float = 8.0
    mode: str = "walk"
    kinds: tuple[str, ...] | None = None
    at: dt.date | None = None
    region: str | None = None
    limit_minutes: float | None = None

    def __post_init__(self):
        if not (isinstance(self.minutes, (int, float)) and 0 < self.minutes <= MAX_MINUTES):
            raise BadRequest(f"minutes must be in (0, {MAX_MINUTES:g}]")
        if self.mode not in MODES:
            raise BadRequest(f"mode must be one of {', '.join(MODES)}")
        if self.limit_minutes is not None and not (self.minutes <= self.limit_minutes <= MAX_MINUTES):
            raise BadRequest(f"breaks must lie between minutes and {MAX_MINUTES:g}")
        if self.region is not None and not (len(self.region) == 6 and self.region.isdigit()):
            raise BadRequest("region must be a 6-digit county code")

    @property
    def budget_s(self) -> float:
        return float(self.minutes) * 60.0

    @property
    def limit_s(self) -> float:
        return float(self.limit_minutes or self.minutes) * 60.0

    def as_dict(self) -> dict:
        return {"minutes": float(self.minutes), "mode": self.mode,
                "kinds": sorted(self.kinds) if self.kinds else None,
                "at": self.at.isoformat() if self.at else None, "region": self.region,
                "limit_minutes": float(self.limit_minutes or self.minutes)}


def params_hash(params: CoverageParams, scope: Jurisdiction, speed_kmh: float | None) -> str:
    """SHA-256 of the parameters, the scope and the mode speed (the key of a stored run)."""
    key = {**params.as_dict(), "scope": sorted(scope.codes) if scope.codes is not None else None,
           "speed_kmh": speed_kmh}
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()


@dataclass
class Inputs:
    """The stored layers of one scope and region, EPSG:4326 (``id`` = database id)."""

    streets: gpd.GeoDataFrame
    stations: gpd.GeoDataFrame
    dwellings: gpd.GeoDataFrame
    grids: gpd.GeoDataFrame
    areas: gpd.GeoDataFrame
    names: dict[str, str] = field(default_factory=dict)  # area or grid code -> name

    def station_info(self) -> pd.DataFrame:
        """Stations indexed by their id as text (the station key of every run): name, kind, source_id."""
        s = self.stations
        return pd.DataFrame({"name": s["name"].to_numpy(), "kind": s["kind"].to_numpy(),
                             "source_id": s["source_id"].to_numpy()}, index=s["id"].astype(str).to_numpy())


def load_inputs(conn: Connection, scope: Jurisdiction, region: str | None = None,
                read: Callable[[str, Jurisdiction], gpd.GeoDataFrame] | None = None) -> Inputs:
    """Read every layer coverage needs for ``scope`` (and ``region``, a county code) from PostGIS.

    Grids are the current versions; a grid without ``town_code`` takes its community's parent.
    Streets carry only a county code, so for a scope narrower than a county they are read for the
    counties of the in-scope grids and dwellings: people walk the county's streets (the streets
    are shared infrastructure; every other layer stays within ``scope``).  ``read(layer, scope)``
    replaces the reading of one layer (the service passes a per-layer cache).
    """
    read = read or (lambda layer, sc: layer_frame(conn, layer, sc, area=region))
    f = {layer: read(layer, scope) for layer in LAYERS if layer != "streets"}
    street_scope = scope
    if not scope.everywhere:
        counties = set(f["grids"]["region_code"]) | set(f["dwellings"]["region_code"])
        street_scope = Jurisdiction(frozenset(str(c) for c in counties))
    f["streets"] = read("streets", street_scope)
    areas, grids = f["areas"], f["grids"].copy()
    parent = dict(zip(areas["code"], areas["parent_code"]))
    if len(grids):
        town = grids["town_code"].astype(object)
        missing = town.isna()
        grids.loc[missing, "town_code"] = grids.loc[missing, "community_code"].map(parent)
    names = {**dict(zip(areas["code"], areas["name"])), **dict(zip(grids["code"], grids["name"]))}
    return Inputs(f["streets"], f["stations"], f["dwellings"], grids, areas, names)


def _jsonable(v):
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating, float)):
        return None if not math.isfinite(float(v)) else round(float(v), 3)
    if isinstance(v, (np.bool_,)):
        return bool(v)
    if isinstance(v, (list, tuple, np.ndarray)):
        return [_jsonable(x) for x in v]
    if v is None or (not isinstance(v, str) and pd.isna(v)):
        return None
    return v


def records(df: pd.DataFrame) -> list[dict]:
    """DataFrame rows as JSON-safe dicts (NaN/inf -> None, numpy scalars -> Python)."""
    cols = [c for c in df.columns if c != "geometry"]
    return [{c: _jsonable(v) for c, v in zip(cols, row)} for row in df[cols].itertuples(index=False, name=None)]


class _Keyed:
    """A small thread-safe LRU whose values are computed once per key, even under concurrency."""

    def __init__(self, size: int):
        self.size = size
        self.items: OrderedDict = OrderedDict()
        self.lock = threading.Lock()
        self.building: dict = {}

    def get(self, key, make: Callable[[], Any]):
        with self.lock:
            if key in self.items:
                self.items.move_to_end(key)
                return self.items[key]
            klock = self.building.setdefault(key, threading.Lock())
        with klock:
            with self.lock:
                if key in self.items:
                    return self.items[key]
            value = make()
            with self.lock:
                self.items[key] = value
                self.items.move_to_end(key)
                while len(self.items) > self.size:
                    self.items.popitem(last=False)
                self.building.pop(key, None)
            return value

    def peek(self, key):
        with self.lock:
            return self.items.get(key)

    def clear(self):
        with self.lock:
            self.items.clear()


@dataclass
class Run:
    """One computed coverage: the reach and the per-area tables, plus lazily built extras.

    ``reach.station_ids`` are the stations' database ids as text.
    """

    params: CoverageParams
    versions: dict[str, str]
    params_hash: str
    net: Network
    reach: Reach
    inputs: Inputs
    counted: gpd.GeoDataFrame  # the stations that count, in reach order
    assignment: pd.DataFrame  # grid/community/town code of every dwelling
    tables: dict[str, pd.DataFrame]
    totals: dict
    run_id: int | None = None
    seconds: float = 0.0
    _lazy: dict = field(default_factory=dict)
    _lock: threading.RLock = field(default_factory=threading.RLock)
    _polys: dict = field(default_factory=dict)
    cancel: threading.Event = field(default_factory=threading.Event)
    warmed: threading.Event = field(default_factory=threading.Event)
    warm_seconds: float | None = None

    def lazy(self, key, make: Callable[[], Any]):
        """A value computed once per run (gaps, planner, polygons...)."""
        with self._lock:
            if key not in self._lazy:
                self._lazy[key] = make()
            return self._lazy[key]

    @property
    def straight_line_households(self) -> int:
        return int(self.reach.households[self.reach.method == "straight_line"].sum())

    def fallback(self) -> dict:
        """The straight-line label every response carries."""
        n = self.straight_line_households
        out = {"used": n > 0, "households": n, "detour_factor": self.reach.detour_factor,
               "speed_kmh": round(self.reach.fallback_speed_mps * 3.6, 3)}
        if n:
            out["note"] = FALLBACK_NOTE
        return out

    def summary(self) -> dict:
        """The JSON summary stored in ``coverage_runs`` and served by ``GET /coverage`` (built once)."""
        return self.lazy("summary", self._summary)

    def station_polygons(self, j: int, breaks_s: tuple[float, ...], rings: bool = False) -> list:
        """:func:`geo.service_area.station_polygons` of counted station ``j`` (metric CRS), cached per
        run: drawing one station's reach (a GEOS union of its street buffers) is the slow part of
        ``/stations/{id}/reach``, so the budget's disks are drawn ahead (:meth:`CoverageService.warm`)."""
        key = (int(j), tuple(float(b) for b in breaks_s), bool(rings))
        with self._lock:
            hit = self._polys.get(key)
        if hit is not None:
            return hit
        polys = station_polygons(self.net, self.reach, int(j), list(key[1]), rings=rings)
        with self._lock:
            if len(self._polys) > MAX_CACHED_POLYGONS:
                self._polys.clear()
            self._polys[key] = polys
        return polys

    def _summary(self) -> dict:
        names = self.inputs.names
        levels = {}
        g = self.inputs.grids
        parents = {"grid": {"community_code": dict(zip(g["code"], g["community_code"])),
                            "town_code": dict(zip(g["code"], g["town_code"]))},
                   "community": {"town_code": dict(zip(g["community_code"], g["town_code"]))}, "town": {}}
        for lv, df in self.tables.items():
            d = df.copy()
            d.insert(1, "name", d["code"].map(names))
            for pos, (col, mapping) in enumerate(parents[lv].items()):
                d.insert(2 + pos, col, d["code"].map(mapping))
            levels[lv] = records(d)
        return {"params": self.params.as_dict(), "data_versions": self.versions, "totals": self.totals,
                "levels": levels, "fallback": self.fallback(), "network": _jsonable_dict(self.net.summary()),
                "unsnapped_stations": records(self.reach.unsnapped_stations()),
                "islands": int(len(self.net.islands())), "seconds": round(self.seconds, 3)}


def _jsonable_dict(d: dict) -> dict:
    return {k: _jsonable(v) for k, v in d.items()}


def _totals(reach: Reach, counted: gpd.GeoDataFrame, budget_s: float) -> dict:
    """The whole scope as one area: the same household-weighted figures as each table row."""
    one = pd.DataFrame({"all_code": np.full(len(reach.households), "all", dtype=object)})
    st = pd.DataFrame({"all_code": np.full(len(counted), "all", dtype=object)})
    t = coverage_table(reach, one, "all", budget_s=budget_s, station_assignment=st if len(counted) else None)
    row = records(t)[0] if len(t) else {"households": 0, "covered_households": 0}
    row.pop("code", None)
    kinds = pd.Series(counted["kind"] if len(counted) else [], dtype=object).value_counts()
    row["stations_by_kind"] = {str(k): int(v) for k, v in kinds.items()}
    row["stations"] = int(len(counted))
    return row


class CoverageService:
    """Coverage for the API, the CLI and the map page, with the caches described in the module.

    Parameters
    ----------
    engine : sqlalchemy.Engine
    walk_speed_kmh, bike_speed_kmh : float
        Mode speeds (``Settings``); drive uses the streets' own speeds.
    max_snap_m : float
        Farther than this from a usable street, a point is unreachable.
    """

    def __init__(self, engine: Engine, *, walk_speed_kmh: float = 5.0, bike_speed_kmh: float = 15.0,
                 max_snap_m: float = 300.0, warm_polygons: bool = True):
        self.engine = engine
        self.warm_polygons = warm_polygons
        self._warming: dict[str, Run] = {}
        self.speeds = {"walk": walk_speed_kmh, "bike": bike_speed_kmh, "drive": None}
        self.max_snap_m = max_snap_m
        self._inputs = _Keyed(2)
        self._layers = _Keyed(2 * len(LAYERS))
        self._nets = _Keyed(8)
        self._snaps = _Keyed(4)
        self._runs = _Keyed(MAX_RUNS)
        self.stats = {"runs_computed": 0, "networks_built": 0, "snaps": 0, "summaries_from_db": 0}

    @classmethod
    def from_settings(cls, engine: Engine, settings) -> "CoverageService":
        return cls(engine, walk_speed_kmh=settings.walk_speed_kmh, bike_speed_kmh=settings.bike_speed_kmh,
                   max_snap_m=settings.max_snap_m)

    # -- cached pieces ------------------------------------------------------------------
    def inputs(self, conn: Connection, scope: Jurisdiction, region: str | None, versions: dict) -> Inputs:
        """The layers, each read again only when its own version moved (a station write does not
        re-read 700,000 streets)."""
        def read(layer: str, sc: Jurisdiction) -> gpd.GeoDataFrame:
            return self._layers.get((sc.codes, region, layer, versions[layer]),
                                    lambda: layer_frame(conn, layer, sc, area=region))

        key = (scope.codes, region, tuple(sorted(versions.items())))
        return self._inputs.get(key, lambda: load_inputs(conn, scope, region, read))

    def network(self, inputs: Inputs, scope: Jurisdiction, region: str | None, mode: str,
                versions: dict) -> tuple[Network, gpd.GeoDataFrame]:
        """The street graph for ``mode`` (rebuilt only when streets change) and the community
        areas (or grids) without streets, where the straight-line fallback applies."""
        key = (scope.codes, region, mode, self.speeds[mode], versions["streets"])

        def make():
            self.stats["networks_built"] += 1
            return build_network(inputs.streets, mode, speed_kmh=self.speeds[mode])

        net = self._nets.get(key, make)

        def bare():
            comm = inputs.areas[inputs.areas["level"] == "community"]
            return no_street_regions(comm if len(comm) else inputs.grids, net)

        return net, self._nets.get((*key, versions["areas"], versions["grids"]), bare)

    def dwelling_snap(self, net: Network, inputs: Inputs, versions: dict) -> Snap:
        def make():
            self.stats["snaps"] += 1
            return snap_frame(net, inputs.dwellings, max_dist_m=self.max_snap_m)

        return self._snaps.get((net.fingerprint, versions["dwellings"], len(inputs.dwellings)), make)

    # -- runs ------------------------------------------------------------------------------
    def run(self, scope: Jurisdiction, params: CoverageParams, *, progress: Callable[[str], None] | None = None
            ) -> Run:
        """The coverage for ``params`` on the current data (cached; computed when data changed)."""
        with self.engine.connect() as conn:
            versions = data_versions(conn)
            h = params_hash(params, scope, self.speeds[params.mode])
            key = (h, tuple(sorted(versions.items())))
            return self._runs.get(key, lambda: self._compute(conn, scope, params, versions, h, progress))

    def cached_run(self, scope: Jurisdiction, params: CoverageParams) -> Run | None:
        """The in-memory run for ``params`` if it is current, else None (no computation)."""
        with self.engine.connect() as conn:
            versions = data_versions(conn)
        h = params_hash(params, scope, self.speeds[params.mode])
        return self._runs.peek((h, tuple(sorted(versions.items()))))

    def summary(self, scope: Jurisdiction, params: CoverageParams) -> dict:
        """The run's summary: from memory, else from ``coverage_runs`` if stored for the current
        data versions, else computed (and stored)."""
        with self.engine.connect() as conn:
            versions = data_versions(conn)
            h = params_hash(params, scope, self.speeds[params.mode])
            run = self._runs.peek((h, tuple(sorted(versions.items()))))
            if run is not None:
                return {**run.summary(), "run_id": run.run_id, "cached": True}
            row = conn.execute(select(coverage_runs.c.id, coverage_runs.c.summary).where(
                coverage_runs.c.params_hash == h, coverage_runs.c.data_versions == versions
            ).order_by(coverage_runs.c.id.desc()).limit(1)).first()
        if row is not None:
            self.stats["summaries_from_db"] += 1
            return {**row.summary, "run_id": row.id, "cached": True}
        run = self.run(scope, params)
        return {**run.summary(), "run_id": run.run_id, "cached": False}

    def _compute(self, conn: Connection, scope: Jurisdiction, params: CoverageParams, versions: dict, h: str,
                 progress: Callable[[str], None] | None) -> Run:
        import time

        say = progress or (lambda msg: None)
        t0 = time.perf_counter()
        say("loading layers")
        inputs = self.inputs(conn, scope, params.region, versions)
        if len(inputs.streets) == 0 and len(inputs.stations) and len(inputs.dwellings):
            raise BadRequest("no streets are stored in this scope: import streets first")
        say("building the street network")
        net, no_street = self.network(inputs, scope, params.region, params.mode, versions)
        say("snapping dwellings")
        snap = self.dwelling_snap(net, inputs, versions)
        counted = select_stations(inputs.stations, kinds=list(params.kinds) if params.kinds else None,
                                  at=params.at)
        geo_st = counted.copy()
        geo_st["source_id"] = counted["id"].astype(str).to_numpy()
        say("computing travel times")
        reach = compute_reach(net, geo_st, inputs.dwellings, breaks_s=(params.budget_s,), limit_s=params.limit_s,
                              max_snap_m=self.max_snap_m, dwelling_snap=snap,
                              fallback_regions=no_street if len(no_street) else None)
        say("coverage per area")
        assignment = assign_to_grids(inputs.dwellings, inputs.grids)
        sa = assign_to_grids(counted, inputs.grids, use_column=None) if len(counted) and len(inputs.grids) else None
        tables = {lv: coverage_table(reach, assignment, lv, budget_s=params.budget_s, station_assignment=sa)
                  for lv in LEVELS}
        run = Run(params=params, versions=versions, params_hash=h, net=net, reach=reach, inputs=inputs,
                  counted=counted, assignment=assignment, tables=tables,
                  totals=_totals(reach, counted, params.budget_s))
        run.seconds = time.perf_counter() - t0
        self.stats["runs_computed"] += 1
        say("storing the run")
        with self.engine.begin() as wconn:
            run.run_id = wconn.execute(insert(coverage_runs).values(
                params={**params.as_dict(), "scope": sorted(scope.codes) if scope.codes is not None else None},
                params_hash=h, data_versions=versions, summary=run.summary()).returning(coverage_runs.c.id)
            ).scalar_one()
        if self.warm_polygons:
            self.warm(run)
        return run

    def warm(self, run: Run) -> threading.Thread:
        """Draw every counted station's budget disk for ``run`` in a background thread, so that
        ``/stations/{id}/reach`` is served from memory; a newer run of the same parameters cancels
        the older run's warm-up.  ``run.warmed`` is set (and ``run.warm_seconds``) when done."""
        old = self._warming.get(run.params_hash)
        if old is not None and old is not run:
            old.cancel.set()
        self._warming[run.params_hash] = run

        def work():
            import time

            t0 = time.perf_counter()
            for j in range(len(run.reach.station_ids)):
                if run.cancel.is_set():
                    return
                if run.reach.station_snap.ok[j]:
                    run.station_polygons(j, (run.params.budget_s,))
            run.warm_seconds = time.perf_counter() - t0
            run.warmed.set()

        th = threading.Thread(target=work, name=f"coverage-warm-{run.run_id}", daemon=True)
        th.start()
        return th


def dwelling_index(run: Run) -> DwellingIndex:
    """The run's dwellings grouped by street edge (for per-station searches), built once."""
    return run.lazy("dwelling_index", lambda: DwellingIndex(run.net, run.reach.dwelling_snap))


def covered_mask(run: Run, budget_s: float | None = None) -> np.ndarray:
    """Dwellings covered within ``budget_s`` (default the run's budget), with the engine's tolerance."""
    b = run.params.budget_s if budget_s is None else budget_s
    return run.reach.time_s <= b + EPS_S


def area_frame(run: Run, level: str, breaks: tuple[float, ...] = (), area: str | None = None) -> gpd.GeoDataFrame:
    """The run's table for ``level`` with names, parent codes, ``covered_<b>min`` per break and each
    area's polygon (EPSG:4326); only rows in ``area`` (a town, community or grid code) when given."""
    summary = run.summary()
    df = pd.DataFrame(summary["levels"][level])
    if len(df):
        for b in breaks:
            t = coverage_table(run.reach, run.assignment, level, budget_s=b * 60.0).set_index("code")
            df[f"covered_{b:g}min"] = df["code"].map(t["covered_households"]).astype("Int64")
    if area and len(df):
        keep = (df["code"] == area)
        for c in ("community_code", "town_code"):
            if c in df:
                keep |= df[c] == area
        df = df[keep]
    src = run.inputs.grids if level == "grid" else run.inputs.areas[run.inputs.areas["level"] == level]
    geom = dict(zip(src["code"], src.geometry))
    if len(df):
        pct = df["covered_pct"].astype(float)
        df["band"] = np.select([pct >= 100, pct >= 95, pct >= 80, pct >= 50], ["4", "3", "2", "1"], "0")
    return gpd.GeoDataFrame(df, geometry=[geom.get(c) for c in df.get("code", [])], crs=4326)


def gaps_frame(run: Run, gaps, frame=None) -> gpd.GeoDataFrame:
    """Gap rows ready to serve: station names, minutes, whether straight-line times were used."""
    f = (gaps.frame if frame is None else frame).copy()
    info = run.inputs.station_info()
    f["nearest_station_name"] = f["nearest_station"].map(lambda s: info["name"].get(s) if s is not None else None)
    f["nearest_time_min"] = f["nearest_time_s"] / 60.0
    f["nearest_station"] = f["nearest_station"].map(lambda s: int(s) if s is not None and s == s else None)
    sl = run.reach.method == "straight_line"
    lab = gaps.label
    has = set(np.unique(lab[(lab >= 0) & sl]).tolist())
    f["method"] = ["straight_line" if g in has else "network" for g in f["gap_id"]]
    return f


_SERVICES: dict[int, CoverageService] = {}
_SERVICES_LOCK = threading.Lock()


def service_for(engine: Engine, settings) -> CoverageService:
    """The process-wide service of ``engine`` (one per engine object)."""
    with _SERVICES_LOCK:
        svc = _SERVICES.get(id(engine))
        if svc is None or svc.engine is not engine:
            svc = _SERVICES[id(engine)] = CoverageService.from_settings(engine, settings)
        return svc
