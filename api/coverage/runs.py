"""One computed coverage run (:class:`Run`) and the JSON summary built from it.

A run holds the reach of every dwelling, the per-area tables and, built lazily once per run, the
summary served by ``GET /coverage`` and stored in ``coverage_runs``, the gaps, the what-if
planners and each station's service-area polygons (cached, drawn ahead by
:meth:`api.coverage.service.CoverageService.warm`).
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field
from typing import Any, Callable

import geopandas as gpd
import numpy as np
import pandas as pd

from api.coverage.cache import Keyed
from api.coverage.inputs import Inputs
from api.coverage.params import CoverageParams
from geo.coverage import assign_to_grids, coverage_table
from geo.network import Network
from geo.reach import DETOUR_FACTOR, Reach
from geo.service_area import station_polygons

MAX_CACHED_POLYGONS = 50_000
FALLBACK_NOTE = (f"straight-line fallback: where a community holds no usable street of its county's own network "
                 f"(none stored there, or only fragments too small to route on), time = straight distance x "
                 f"{DETOUR_FACTOR} (detour factor) / speed")


def jsonable(v):
    """A value as JSON takes it: numpy scalars as Python, NaN/inf and missing as None, floats to 3 decimals."""
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating, float)):
        return None if not math.isfinite(float(v)) else round(float(v), 3)
    if isinstance(v, (np.bool_,)):
        return bool(v)
    if isinstance(v, (list, tuple, np.ndarray)):
        return [jsonable(x) for x in v]
    if v is None or (not isinstance(v, str) and pd.isna(v)):
        return None
    return v


def records(df: pd.DataFrame) -> list[dict]:
    """DataFrame rows as JSON-safe dicts (NaN/inf -> None, numpy scalars -> Python)."""
    cols = [c for c in df.columns if c != "geometry"]
    return [{c: jsonable(v) for c, v in zip(cols, row)} for row in df[cols].itertuples(index=False, name=None)]


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
    regions: tuple = ()  # the county codes computed, each on its own network (net is their union)
    run_id: int | None = None
    seconds: float = 0.0
    _lazy: Keyed = field(default_factory=Keyed)
    _lock: threading.RLock = field(default_factory=threading.RLock)
    _polys: dict = field(default_factory=dict)
    cancel: threading.Event = field(default_factory=threading.Event)
    warmed: threading.Event = field(default_factory=threading.Event)
    warm_seconds: float | None = None
    whatif_seconds: float | None = None  # the warm-up's building of the what-if planner

    def lazy(self, key, make: Callable[[], Any]):
        """A value computed once per run (gaps, planner, polygons...); see :class:`api.coverage.cache.Keyed`."""
        return self._lazy.get(key, make)

    @property
    def straight_line_households(self) -> int:
        # once per run: comparing 500,000 method strings took ~8 ms of every response's header
        return self.lazy("straight_line_households",
                         lambda: int(self.reach.households[self.reach.method == "straight_line"].sum()))

    def fallback(self) -> dict:
        """The straight-line label every response carries."""
        n = self.straight_line_households
        out = {"used": n > 0, "households": n, "detour_factor": self.reach.detour_factor,
               "speed_kmh": round(self.reach.fallback_speed_mps * 3.6, 3)}
        if n:
            out["note"] = FALLBACK_NOTE
            out["regions"] = self.lazy("fallback_regions", self._fallback_regions)
        return out

    def _fallback_regions(self) -> dict[str, int]:
        """Households on the straight-line fallback per county code."""
        fb = self.reach.method == "straight_line"
        region = self.inputs.dwellings["region_code"].to_numpy(dtype=object)[fb]
        hh = pd.Series(self.reach.households[fb]).groupby(region).sum()
        return {str(k): int(v) for k, v in hh.items()}

    def islands(self) -> pd.DataFrame:
        """:meth:`geo.network.Network.islands` of the run's network with the ``region`` (county code)
        of each fragment: the island rule is each county's own (fragments smaller than its largest
        piece, up to 50 nodes)."""
        def make():
            isl = self.net.islands()
            codes = list(self.regions) or [None]
            isl["region"] = [codes[int(p)] if int(p) < len(codes) else None for p in isl["part"]]
            return isl

        return self.lazy("islands", make)

    def summary(self) -> dict:
        """The JSON summary stored in ``coverage_runs`` and served by ``GET /coverage`` (built once)."""
        return self.lazy("summary", self._summary)

    def station_polygons(self, j: int, breaks_s: tuple[float, ...], rings: bool = False) -> list:
        """:func:`geo.service_area.station_polygons` of counted station ``j`` (metric CRS), cached per
        run: drawing one station's reach (a GEOS union of its street buffers) is the slow part of
        ``/stations/{id}/reach``, so the budget's disks are drawn ahead (:meth:`api.coverage.service.CoverageService.warm`)."""
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

    def station_assignment(self) -> pd.DataFrame | None:
        """Grid, community and town code of every counted station (reach order), once per run; None
        without stations or grids."""
        def make():
            if not len(self.counted) or not len(self.inputs.grids):
                return None
            return assign_to_grids(self.counted, self.inputs.grids, use_column=None)

        return self.lazy("station_assignment", make)

    def held_polygons(self, js, breaks_s: tuple[float, ...], rings: bool = False) -> dict[int, list | None]:
        """The polygons :meth:`station_polygons` already drew for counted stations ``js`` (None where
        not drawn yet); nothing is drawn."""
        key = tuple(float(b) for b in breaks_s)
        with self._lock:
            return {int(j): self._polys.get((int(j), key, bool(rings))) for j in js}

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
                "levels": levels, "fallback": self.fallback(), "network": {k: jsonable(v) for k, v in self.net.summary().items()},
                "unsnapped_stations": records(self.reach.unsnapped_stations()),
                "islands": int(len(self.islands())), "seconds": round(self.seconds, 3)}


def totals(reach: Reach, counted: gpd.GeoDataFrame, budget_s: float, dwellings: np.ndarray | None = None,
            stations: np.ndarray | None = None) -> dict:
    """The whole scope (or the ``dwellings`` and ``stations`` masks of one area) as one area: the
    same household-weighted figures as each table row."""
    n, m = len(reach.households), len(counted)
    dw = np.ones(n, dtype=bool) if dwellings is None else np.asarray(dwellings, dtype=bool)
    st_in = np.ones(m, dtype=bool) if stations is None else np.asarray(stations, dtype=bool)
    one = pd.DataFrame({"all_code": np.where(dw, "all", None).astype(object)})
    st = pd.DataFrame({"all_code": np.where(st_in, "all", None).astype(object)})
    t = coverage_table(reach, one, "all", budget_s=budget_s, station_assignment=st if m else None)
    row = records(t)[0] if len(t) else {"households": 0, "covered_households": 0}
    row.pop("code", None)
    kinds = pd.Series(counted["kind"].to_numpy()[st_in] if m else [], dtype=object).value_counts()
    row["stations_by_kind"] = {str(k): int(v) for k, v in kinds.items()}
    row["stations"] = int(st_in.sum())
    return row


def area_totals(run: Run, area: str) -> dict | None:
    """:func:`totals` of one town, community or grid (its code): its dwellings and the counted
    stations inside it; with ``area``, ``area_name`` and ``area_level``.  None when no dwelling of
    the run lies in it."""
    a = run.assignment
    level = next((lv for lv in ("grid", "community", "town") if (a[f"{lv}_code"] == area).any()), None)
    if level is None:
        return None
    dw = (a[f"{level}_code"] == area).to_numpy()
    sa = run.station_assignment()
    st = (sa[f"{level}_code"] == area).to_numpy() if sa is not None else np.zeros(len(run.counted), dtype=bool)
    return {"area": area, "area_name": run.inputs.names.get(area), "area_level": level,
            **totals(run.reach, run.counted, run.params.budget_s, dw, st)}
