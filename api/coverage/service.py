"""The coverage service: the 8-minute engine of ``geo/`` fed from PostGIS, with its caches.

:class:`CoverageService` loads the streets, stations, dwellings, grids and areas of a caller's
scope (and optionally one region) from the database and keeps, in process memory:

* per (scope, region, mode, speed, streets version): the built :class:`geo.network.Network` and the
  regions without streets (where the straight-line fallback applies);
* per (that network, dwellings version): the dwelling snap, so a station change recomputes
  without re-snapping;
* both of those also on disk (:mod:`api.coverage.store`, ``<GRIDMAP_HOME>/cache/coverage``), keyed
  on the database and the data versions, so the first run after a restart reads them instead of
  building them;
* per (parameters, data versions): the :class:`Run` (reach, tables, and lazily gaps, the what-if
  planner and polygons), the last :data:`MAX_RUNS` of them.

Every run's summary is also stored in ``coverage_runs`` with its parameters and the data versions
it used; a repeat of the same question on unchanged data is served from there even after a
restart.  Versions come from ``data_versions`` (a statement trigger bumps a layer's version and
``changed_at`` on every write), so any write to those layers makes every cached entry unreachable.
All caches are guarded by locks: concurrent requests for the same key compute it once.

The app creates one service in its lifespan and holds it on ``app.state.coverage`` (routes get it
through :data:`api.deps.CoverageDep`); the CLI builds its own (:meth:`CoverageService.from_settings`).
Its parts are the other modules of :mod:`api.coverage`.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Callable

from dataclasses import dataclass, replace

import geopandas as gpd
import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine, func, insert, select, text

from api.coverage.cache import Keyed
from api.coverage.inputs import Inputs, load_inputs
from api.coverage.params import LAYERS, CoverageParams, data_versions, params_hash
from api.coverage.runs import Run, totals
from api.coverage.store import DiskStore
from api.coverage.whatif import added_gaps, planner, site, whatif_base
from api.db.export import layer_frame, layer_query
from api.db.features import kind_counts
from api.db.areas import resolve_area
from api.db.models import coverage_runs, grids
from api.errors import NotFound, ValidationFailed
from api.jurisdiction import Jurisdiction
from geo.coverage import LEVELS, assign_to_grids, coverage_table
from geo.errors import Problem
from geo.crs import metric_crs_for
from geo.network import Network, build_network, union_networks
from geo.reach import compute_reach, concat_reaches, no_street_regions, select_stations
from geo.snap import Snap, resnap_frame, snap_frame

MAX_RUNS = 6

log = logging.getLogger(__name__)


@dataclass
class Regions:
    """The regions of a run, each computed on its own: ``codes`` (county codes, the order of the
    inputs' rows), each one's network (``nets``) and areas without streets (``no_street``), the
    disjoint union of the networks (``net``) and of those areas (``no_street_all``)."""

    codes: list
    nets: list
    net: Network
    no_street: list
    no_street_all: gpd.GeoDataFrame


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
                 max_snap_m: float = 300.0, warm_polygons: bool = True, store_dir: Path | None = None):
        self.engine = engine
        self.store = DiskStore(store_dir)  # networks and snaps across restarts (api.coverage.store)
        self._database: str | None = None
        self.warm_polygons = warm_polygons
        self._warming: dict[str, Run] = {}  # params hash -> the run whose warm-up is under way
        self._warming_lock = threading.Lock()
        self.speeds = {"walk": walk_speed_kmh, "bike": bike_speed_kmh, "drive": None}
        self.max_snap_m = max_snap_m
        self._inputs = Keyed(2)
        self._layers = Keyed(2 * len(LAYERS))
        self._nets = Keyed(8)
        self._region_nets = Keyed(32)  # one region's network; the union of a run's is in _nets
        self._region_snaps = Keyed(32)
        self._snaps = Keyed(4)
        # per network and region, the last dwellings snapped (ids, lon/lat, snaps): a dwelling write
        # re-snaps only the dwellings it added or moved
        self._last_snaps: dict[tuple, tuple[np.ndarray, np.ndarray, Snap]] = {}
        self._runs = Keyed(MAX_RUNS)
        self.stats = {"runs_computed": 0, "networks_built": 0, "snaps": 0, "summaries_from_db": 0,
                      "networks_loaded": 0, "snaps_loaded": 0, "no_streets_loaded": 0, "snaps_reused": 0}

    @classmethod
    def from_settings(cls, engine: Engine, settings, *, warm_polygons: bool = True) -> "CoverageService":
        """The service with the speeds and snap distance of ``settings`` (:class:`api.settings.Settings`)."""
        return cls(engine, walk_speed_kmh=settings.walk_speed_kmh, bike_speed_kmh=settings.bike_speed_kmh,
                   max_snap_m=settings.max_snap_m, warm_polygons=warm_polygons,
                   store_dir=Path(settings.home) / "cache" / "coverage")

    def database(self) -> str:
        """The database the service reads, as part of every stored key: server address, port,
        database name and oid (two databases never share a stored network)."""
        if self._database is None:
            with self.engine.connect() as conn:
                row = conn.execute(text(
                    "SELECT coalesce(host(inet_server_addr()), 'local'), coalesce(inet_server_port(), 0), "
                    "current_database(), (SELECT oid FROM pg_database WHERE datname = current_database())")).one()
            self._database = "/".join(str(v) for v in row)
        return self._database

    def _stored(self, kind: str, key: tuple, make: Callable):
        """``make()`` through the disk store (``kind``: network or snap), counted in ``stats``."""
        before = self.store.stats["loaded"]
        value = self.store.get(kind, (self.database(), *key), make)
        if self.store.stats["loaded"] > before:
            self.stats[f"{kind}s_loaded"] += 1
        return value

    # -- cached pieces ------------------------------------------------------------------
    def inputs(self, conn: Connection, scope: Jurisdiction, region: str | None, versions: dict) -> Inputs:
        """The layers, each read again only when its own version moved (a station write does not
        re-read 700,000 streets)."""
        def read(layer: str, sc: Jurisdiction) -> gpd.GeoDataFrame:
            return self._layers.get((sc.codes, region, layer, versions[layer]),
                                    lambda: layer_frame(conn, layer, sc, area=region))

        def streets(sc: Jurisdiction) -> gpd.GeoDataFrame:  # at the first use, maybe after conn closed
            def fetch():
                with self.engine.connect() as c:
                    return layer_frame(c, "streets", sc, area=region)
            return self._layers.get((sc.codes, region, "streets", versions["streets"]), fetch)

        def any_street(sc: Jurisdiction) -> int:
            with self.engine.connect() as c:
                q = layer_query(c, "streets", sc, area=region).limit(1).subquery()
                return int(c.execute(select(func.count()).select_from(q)).scalar_one())

        key = (scope.codes, region, tuple(sorted(versions.items())))
        return self._inputs.get(key, lambda: load_inputs(conn, scope, region, read, streets=streets,
                                                          count=any_street))

    def network(self, inputs: Inputs, scope: Jurisdiction, region: str | None, mode: str,
                versions: dict) -> tuple[Network, gpd.GeoDataFrame]:
        """The street graph for ``mode`` (rebuilt only when streets change) and the community
        areas (or grids) without streets, where the straight-line fallback applies.

        Several regions in the inputs: one network per region (its own streets only, its own
        island rule), joined as a disjoint union (:func:`geo.network.union_networks`); see
        :meth:`parts`."""
        parts = self.parts(inputs, scope, region, mode, versions)
        return parts.net, parts.no_street_all

    def parts(self, inputs: Inputs, scope: Jurisdiction, region: str | None, mode: str,
              versions: dict) -> "Regions":
        """Per region of ``inputs``: its network (built from its streets alone, in the metric CRS
        every region of the run shares), its areas without streets, and the union network."""
        key = (scope.codes, region, mode, self.speeds[mode], versions["streets"], versions["areas"],
               versions["grids"])
        return self._nets.get(key, lambda: self._make_parts(inputs, scope, mode, versions))

    def _make_parts(self, inputs: Inputs, scope: Jurisdiction, mode: str, versions: dict) -> "Regions":
        codes = inputs.regions() or [None]
        many = len(codes) > 1
        # one region: its streets are read only when its network must be built (not kept in memory or on disk)
        streets = inputs.streets if many else None
        street_of = {c: streets[streets["region_code"] == c] for c in codes} if many else {}
        for c in codes if many else ():
            if many and not len(street_of[c]):
                raise ValidationFailed(
                    f"region {c} has no streets stored: every region is computed on its own streets, so import "
                    f"its streets first (gridmap import streets FILE --region {c})",
                    [Problem(f"no streets in region {c}", field="region")])
        crs = None
        if many:  # one metric CRS for the run: the regions' own when they agree (same zone), else the whole's
            own = {metric_crs_for(street_of[c]).to_epsg() for c in codes}
            crs = metric_crs_for(street_of[codes[0]]) if len(own) == 1 else metric_crs_for(streets)
        nets, bare = [], []
        comm = inputs.areas[inputs.areas["level"] == "community"]
        for c in codes:
            def make(c=c):
                self.stats["networks_built"] += 1
                return build_network(street_of[c] if many else inputs.streets, mode, speed_kmh=self.speeds[mode],
                                     crs=crs)

            # cached apart from the parts (whose key holds the areas' and grids' versions): a grid
            # write recomputes the areas without streets, never a network
            key = (scope.codes if not many else None, c, mode, self.speeds[mode], versions["streets"],
                   crs.to_wkt() if crs is not None else None)
            net_c = self._region_nets.get(key, lambda key=key, make=make: self._stored("network", key, make))
            nets.append(net_c)
            if many:
                comm_c, grids_c = comm[comm["region_code"] == c], inputs.grids[inputs.grids["region_code"] == c]
            else:
                comm_c, grids_c = comm, inputs.grids
            # the areas without streets depend on the network and the areas/grids: kept on disk beside it
            bare.append(self._stored("no_street", (*key, scope.codes, versions["areas"], versions["grids"], many),
                                     lambda comm_c=comm_c, grids_c=grids_c, net_c=net_c: no_street_regions(
                                         comm_c if len(comm_c) else grids_c, net_c)))
        net = union_networks(nets, [len(street_of[c]) for c in codes] if many else None)
        no_street_all = pd.concat(bare) if many else bare[0]
        return Regions(codes=codes, nets=nets, net=net, no_street=bare, no_street_all=no_street_all)

    def _snap_dwellings(self, net: Network, dw: gpd.GeoDataFrame, region: str | None) -> Snap:
        """``dw`` snapped to ``net``, reusing the last snaps of this network and region for every
        dwelling whose id and position are unchanged (:func:`geo.snap.resnap_frame`: the same
        answer as snapping them all)."""
        import shapely

        ids = dw["id"].to_numpy()
        g = dw.geometry.values
        lonlat = np.column_stack([shapely.get_x(g), shapely.get_y(g)])
        last = self._last_snaps.get((net.fingerprint, region))
        self.stats["snaps"] += 1
        if last is None:
            return snap_frame(net, dw, max_dist_m=self.max_snap_m)
        prev_ids, prev_lonlat, prev = last
        pos = pd.Index(prev_ids).get_indexer(ids)
        known = pos >= 0
        known[known] = (prev_lonlat[pos[known]] == lonlat[known]).all(axis=1)
        snap, reused = resnap_frame(net, dw, prev, np.where(known, pos, -1), max_dist_m=self.max_snap_m)
        self.stats["snaps_reused"] += reused
        return snap

    def _remember(self, net: Network, dw: gpd.GeoDataFrame, region: str | None, snap: Snap) -> Snap:
        import shapely

        g = dw.geometry.values
        for k in [k for k in self._last_snaps if k[1] == region and k[0] != net.fingerprint]:
            del self._last_snaps[k]  # an older network of the region: its snaps will not be reused
        self._last_snaps[(net.fingerprint, region)] = (
            dw["id"].to_numpy(), np.column_stack([shapely.get_x(g), shapely.get_y(g)]), snap)
        return snap

    def dwelling_snap(self, net: Network, inputs: Inputs, versions: dict) -> Snap:
        dw = inputs.dwellings
        key = (net.fingerprint, versions["dwellings"], len(dw))
        return self._snaps.get(key, lambda: self._remember(net, dw, None, self._stored(
            "snap", (*key, self.max_snap_m), lambda: self._snap_dwellings(net, dw, None))))

    def region_snaps(self, parts: "Regions", inputs: Inputs, versions: dict) -> list[Snap]:
        """Each region's dwellings snapped to its own network only (a dwelling near a county line
        never lands on the neighbour's street)."""
        if len(parts.codes) == 1:
            return [self.dwelling_snap(parts.nets[0], inputs, versions)]
        out = []
        for c, net_c in zip(parts.codes, parts.nets):
            dw = inputs.dwellings[inputs.dwellings["region_code"] == c]
            key = (net_c.fingerprint, versions["dwellings"], c, len(dw))
            out.append(self._region_snaps.get(key, lambda key=key, net_c=net_c, dw=dw, c=c: self._remember(
                net_c, dw, c, self._stored("snap", (*key, self.max_snap_m),
                                           lambda: self._snap_dwellings(net_c, dw, c)))))
        return out

    # -- runs ------------------------------------------------------------------------------
    def implied(self, scope: Jurisdiction, params: CoverageParams, area: str | None) -> CoverageParams:
        """``params`` with the county of ``area`` (a grid, community, town or county code,
        :func:`api.db.areas.resolve_area`) as its region when none is given and the scope holds
        several counties: a question about one area is computed on its county alone.  Unchanged
        when ``area`` names nothing in scope (the answer raises its own NotFound)."""
        if area is None or params.region is not None:
            return params
        with self.engine.connect() as conn:
            n = conn.execute(select(func.count(func.distinct(grids.c.region_code))).where(
                scope.clause(grids), grids.c.valid_to.is_(None))).scalar_one()
            if n < 2:  # one county: the question is that county's already
                return params
            try:
                a = resolve_area(conn, area, scope)
            except NotFound:
                return params
        return replace(params, region=a.region_code) if a.region_code else params

    def check_kinds(self, conn: Connection, scope: Jurisdiction, params: CoverageParams) -> None:
        """422 (``field="kinds"``, ``allowed_values``) when a kind asked for matches no station in
        ``scope``: a misspelt kind would otherwise count no station and report 0% coverage."""
        if not params.kinds:
            return
        present = kind_counts(conn, scope, params.region)
        unknown = [k for k in params.kinds if k not in present]
        if unknown:
            where = f"region {params.region}" if params.region else "your jurisdiction"
            raise ValidationFailed(
                f"no station of kind {', '.join(map(repr, unknown))} in {where}; the kinds present "
                f"are {', '.join(sorted(present)) or 'none'}",
                [Problem(f"unknown station kind {k!r}", field="kinds") for k in unknown],
                allowed_values=sorted(present))

    def run(self, scope: Jurisdiction, params: CoverageParams, *, progress: Callable[[str], None] | None = None
            ) -> Run:
        """The coverage for ``params`` on the current data (cached; computed when data changed)."""
        with self.engine.connect() as conn:
            self.check_kinds(conn, scope, params)
            versions = data_versions(conn)
            h = params_hash(params, scope, self.speeds[params.mode], self.max_snap_m)
            key = (h, tuple(sorted(versions.items())))
            return self._runs.get(key, lambda: self._compute(conn, scope, params, versions, h, progress))

    def cached_run(self, scope: Jurisdiction, params: CoverageParams) -> Run | None:
        """The in-memory run for ``params`` if it is current, else None (no computation)."""
        with self.engine.connect() as conn:
            versions = data_versions(conn)
        h = params_hash(params, scope, self.speeds[params.mode], self.max_snap_m)
        return self._runs.peek((h, tuple(sorted(versions.items()))))

    def summary(self, scope: Jurisdiction, params: CoverageParams) -> dict:
        """The run's summary: from memory, else from ``coverage_runs`` if stored for the current
        data versions, else computed (and stored)."""
        with self.engine.connect() as conn:
            self.check_kinds(conn, scope, params)
            versions = data_versions(conn)
            h = params_hash(params, scope, self.speeds[params.mode], self.max_snap_m)
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
        if len(inputs.stations) and len(inputs.dwellings) and not inputs.has_streets():
            where = f"region {params.region}" if params.region else "this scope"
            raise ValidationFailed(f"no streets are stored in {where}: import streets first")
        say("building the street network")
        parts = self.parts(inputs, scope, params.region, params.mode, versions)
        net = parts.net
        say("snapping dwellings")
        snaps = self.region_snaps(parts, inputs, versions)
        counted = select_stations(inputs.stations, kinds=list(params.kinds) if params.kinds else None,
                                  at=params.at)
        geo_st = counted.copy()
        geo_st["source_id"] = counted["id"].astype(str).to_numpy()
        say("computing travel times")
        many = len(parts.codes) > 1
        reaches = []
        for c, net_c, snap_c, bare_c in zip(parts.codes, parts.nets, snaps, parts.no_street):
            st_c = geo_st[geo_st["region_code"] == c] if many else geo_st
            dw_c = inputs.dwellings[inputs.dwellings["region_code"] == c] if many else inputs.dwellings
            reaches.append(compute_reach(net_c, st_c, dw_c, breaks_s=(params.budget_s,), limit_s=params.limit_s,
                                         max_snap_m=self.max_snap_m, dwelling_snap=snap_c,
                                         fallback_regions=bare_c if len(bare_c) else None))
        reach = concat_reaches(reaches, net)
        say("coverage per area")
        assignment = assign_to_grids(inputs.dwellings, inputs.grids)
        sa = assign_to_grids(counted, inputs.grids, use_column=None) if len(counted) and len(inputs.grids) else None
        tables = {lv: coverage_table(reach, assignment, lv, budget_s=params.budget_s, station_assignment=sa)
                  for lv in LEVELS}
        run = Run(params=params, versions=versions, params_hash=h, net=net, reach=reach, inputs=inputs,
                  counted=counted, assignment=assignment, tables=tables,
                  totals=totals(reach, counted, params.budget_s), regions=tuple(parts.codes))
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

    def warm_whatif(self, run: Run) -> None:
        """Build the what-if planner of ``run`` and its per-run parts (the gaps, the served gap rows,
        the grids' gap lists) as ``POST /coverage/what-if`` would on its first request, and ask it one
        dry question (adding a station at an uncovered dwelling: nothing is written) so that the
        planner's own lazy parts exist too (:mod:`api.coverage.whatif`, the same ``run.lazy``
        entries the route uses).  The results are cached in the run; nothing else changes."""
        plan = planner(run, self.max_snap_m)
        whatif_base(run)
        uncovered = np.flatnonzero(~run.reach.covered(run.params.budget_s) & (run.reach.households > 0))
        if uncovered.size and not run.cancel.is_set():
            p = run.inputs.dwellings.geometry.values[int(uncovered[0])]
            try:
                there = site(run, plan, float(p.x), float(p.y))
            except ValidationFailed:  # too far from the streets: a real request would stop here too
                return
            added_gaps(run, plan.add(float(p.x), float(p.y), station_id="new", site=there))

    def close(self) -> None:
        """Cancel the warm-ups under way (the app's shutdown); the caches stay usable."""
        with self._warming_lock:
            for run in self._warming.values():
                run.cancel.set()

    def warm(self, run: Run) -> threading.Thread:
        """Build the what-if planner (:meth:`warm_whatif`), then draw every counted station's budget
        disk for ``run`` in a background thread, so that the first ``POST /coverage/what-if`` is as
        fast as later ones and ``/stations/{id}/reach`` is served from memory; a newer run of the
        same parameters cancels the older run's warm-up.  ``run.warmed`` is set (and
        ``run.warm_seconds``; ``run.whatif_seconds`` for the planner) when done.
        The service lets go of the run when its warm-up ends (an evicted run is not kept alive)."""
        with self._warming_lock:
            old = self._warming.get(run.params_hash)
            if old is not None and old is not run:
                old.cancel.set()
            self._warming[run.params_hash] = run

        def work():
            import time

            try:
                t0 = time.perf_counter()
                try:
                    self.warm_whatif(run)
                except Exception:  # noqa: BLE001 - the first what-if builds them (and reports) instead
                    log.exception("coverage warm-up: building the what-if planner of run %s failed", run.run_id)
                run.whatif_seconds = time.perf_counter() - t0
                for j in range(len(run.reach.station_ids)):
                    if run.cancel.is_set():
                        return
                    if run.reach.station_snap.ok[j]:
                        run.station_polygons(j, (run.params.budget_s,))
                run.warm_seconds = time.perf_counter() - t0
                run.warmed.set()
            finally:
                with self._warming_lock:
                    if self._warming.get(run.params_hash) is run:
                        del self._warming[run.params_hash]

        th = threading.Thread(target=work, name=f"coverage-warm-{run.run_id}", daemon=True)
        th.start()
        return th

