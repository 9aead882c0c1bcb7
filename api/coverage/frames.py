"""A coverage run's results as frames ready to serve: per-area tables with polygons, gaps, masks."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from api.coverage.runs import Run
from geo.coverage import coverage_table
from geo.reach import EPS_S, DwellingIndex, station_dwellings
from geo.service_area import service_areas


def dwelling_index(run: Run) -> DwellingIndex:
    """The run's dwellings grouped by street edge (for per-station searches), built once."""
    return run.lazy("dwelling_index", lambda: DwellingIndex(run.net, run.reach.dwelling_snap))


def covered_mask(run: Run, budget_s: float | None = None) -> np.ndarray:
    """Dwellings covered within ``budget_s`` (default the run's budget), with the engine's tolerance."""
    b = run.params.budget_s if budget_s is None else budget_s
    return run.reach.time_s <= b + EPS_S


#: Coverage bands of an area by its households covered (%, 0-100): the first floor reached names
#: the band, below them all ``"0"`` (the coverage map derives the band the same way in the browser).
BAND_FLOORS: tuple[tuple[float, str], ...] = ((100, "4"), (95, "3"), (80, "2"), (50, "1"))


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
        df["band"] = np.select([pct >= floor for floor, _ in BAND_FLOORS], [b for _, b in BAND_FLOORS], "0")
    return gpd.GeoDataFrame(df, geometry=[geom.get(c) for c in df.get("code", [])], crs=4326)


def break_columns(run: Run, level: str, breaks_min: tuple[float, ...]) -> dict[str, dict[str, int]]:
    """Covered households per area of ``level`` within each break (minutes; the run must search
    that far): ``{"covered_<seconds>s": {code: households}}``, each break computed once per run."""
    def column(s: float) -> dict[str, int]:
        t = coverage_table(run.reach, run.assignment, level, budget_s=s)
        return dict(zip(t["code"], t["covered_households"].astype(int).tolist()))

    secs = [float(b) * 60.0 for b in breaks_min]
    return {f"covered_{s:g}s": run.lazy(("break_column", level, s), lambda s=s: column(s)) for s in secs}


def break_totals(run: Run, breaks_min: tuple[float, ...], dwellings: np.ndarray | None = None) -> dict[str, int]:
    """Covered households within each break (minutes) over the scope, or over the ``dwellings`` mask."""
    hh = run.reach.households if dwellings is None else np.where(dwellings, run.reach.households, 0)
    return {f"covered_{float(b) * 60:g}s": int(hh[covered_mask(run, float(b) * 60.0)].sum()) for b in breaks_min}


def gaps_frame(run: Run, gaps, frame=None) -> gpd.GeoDataFrame:
    """Gap rows ready to serve: station names, minutes, whether straight-line times were used.

    ``frame`` (default the run's gaps) may be gaps the what-if planner re-clustered; the work is
    proportional to its rows (the per-run parts are cached on ``run``)."""
    f = (gaps.frame if frame is None else frame).copy()
    names = run.lazy("station_names", lambda: dict(zip(run.inputs.stations["id"].astype(str),
                                                       run.inputs.stations["name"])))
    near = f["nearest_station"].to_numpy(dtype=object)
    f["nearest_station_name"] = [names.get(s) if isinstance(s, str) else None for s in near]
    f["nearest_time_min"] = f["nearest_time_s"] / 60.0
    f["nearest_station"] = pd.Series([(int(s) if s.isdigit() else s) if isinstance(s, str) else None
                                      for s in near], index=f.index, dtype=object)
    has = run.lazy(("straight_line_gaps", gaps.link_m), lambda: _straight_line_gaps(run, gaps))
    f["method"] = ["straight_line" if g in has else "network" for g in f["gap_id"]]
    return f


def _straight_line_gaps(run: Run, gaps) -> frozenset:
    lab = gaps.label
    return frozenset(np.unique(lab[(lab >= 0) & (run.reach.method == "straight_line")]).tolist())


def stations_in(run: Run, area: str) -> np.ndarray | None:
    """Positions (reach order) of the counted stations inside town, community or grid ``area``;
    None when ``area`` is no code of the run's grids."""
    g = run.inputs.grids
    if not any((g[c] == area).any() for c in ("code", "community_code", "town_code") if c in g):
        return None
    sa = run.station_assignment()
    if sa is None:
        return np.zeros(0, dtype=np.int64)
    inside = np.zeros(len(sa), dtype=bool)
    for c in ("grid_code", "community_code", "town_code"):
        inside |= (sa[c] == area).to_numpy()
    return np.flatnonzero(inside)


def station_areas(run: Run, breaks_s: tuple[float, ...], rings: bool = False,
                  stations: np.ndarray | None = None) -> gpd.GeoDataFrame:
    """:func:`geo.service_area.service_areas` of the run's counted stations (all, or positions
    ``stations``), EPSG:4326, reusing the polygons the run already holds: the warm-up
    (:meth:`api.coverage.service.CoverageService.warm`) draws every station's budget disk, so
    ``/coverage/areas?by=station`` at the budget only reprojects them.  Stations not drawn yet are
    drawn (in worker processes when many) and the whole frame is cached per run."""
    key = tuple(float(b) for b in breaks_s)
    if stations is None:
        return run.lazy(("areas", key, bool(rings)), lambda: _station_areas(run, key, rings, None))
    return _station_areas(run, key, rings, np.asarray(stations, dtype=np.int64))


def _station_areas(run: Run, breaks: tuple[float, ...], rings: bool, idx: np.ndarray | None) -> gpd.GeoDataFrame:
    r = run.reach
    idx = np.arange(len(r.station_ids)) if idx is None else idx
    have = run.held_polygons(idx, breaks, rings)
    missing = np.array([j for j, p in have.items() if p is None], dtype=np.int64)
    drawn = None
    if missing.size:
        drawn = service_areas(run.net, r, breaks, rings=rings, stations=missing)
    nb = len(breaks)
    cached = np.array([j for j in idx if have[int(j)] is not None], dtype=np.int64)
    parts = []
    if cached.size:
        metric = np.array([g for j in cached for g, _ in have[int(j)]], dtype=object)
        fb = np.array([f for j in cached for _, f in have[int(j)]], dtype=bool)
        geo = np.asarray(gpd.GeoSeries(metric, crs=run.net.crs).to_crs(4326).values, dtype=object)
        bad = ~shapely.is_valid(geo) & ~shapely.is_missing(geo)
        if bad.any():  # as geo.service_area does: reprojection can make a ring touch itself
            geo[bad] = shapely.make_valid(geo[bad], method="structure", keep_collapsed=False)
        j = np.repeat(cached, nb)
        parts.append(gpd.GeoDataFrame(pd.DataFrame({
            "station": r.station_ids[j], "kind": r.station_kind[j], "break_s": np.tile(breaks, cached.size),
            "shape": np.where(rings & (np.tile(np.arange(nb), cached.size) > 0), "ring", "disk"),
            "method": np.where(fb, "network+straight_line", "network"), "area_m2": shapely.area(metric)}),
            geometry=gpd.GeoSeries(geo, crs=4326).values, crs=4326))
    if drawn is not None:
        parts.append(drawn)
    if not parts:
        return service_areas(run.net, r, breaks, rings=rings, stations=idx)
    out = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    # reach order, breaks ascending, as service_areas gives them
    pos = {sid: i for i, sid in enumerate(r.station_ids)}
    order = np.lexsort((out["break_s"].to_numpy(), out["station"].map(pos).to_numpy()))
    return gpd.GeoDataFrame(out.iloc[order].reset_index(drop=True), geometry="geometry", crs=4326)


#: Most stations drawn per step of :func:`service_area_frame` (each step starts the drawing workers once).
AREA_CHUNK = 256
#: Steps :func:`service_area_frame` aims at, so that its progress moves while it draws.
PROGRESS_STEPS = 20
#: Stations below which one step draws in the calling thread anyway, so steps may be that small.
POOL_STEP_MIN = 32


def service_area_steps(n: int) -> int:
    """Stations per step of :func:`service_area_frame` for ``n`` stations: about
    :data:`PROGRESS_STEPS` steps, none larger than :data:`AREA_CHUNK`, and (above ``POOL_STEP_MIN``
    stations) none so small that the worker pool of :func:`geo.service_area.service_areas` is not used."""
    step = -(-n // PROGRESS_STEPS) if n else 1
    if n >= POOL_STEP_MIN:
        step = max(step, POOL_STEP_MIN)
    return max(1, min(step, AREA_CHUNK))


def service_area_frame(run: Run, breaks_s: tuple[float, ...], *, rings: bool = False,
                       stations: np.ndarray | None = None, advance=None) -> gpd.GeoDataFrame:
    """Each counted station's own service area per break, EPSG:4326, one row per station and break
    (the ``service_areas`` layer of ``gridmap coverage --service-areas``).

    Columns ``station`` (database id, int), ``name, kind, break_s, shape, method, area_m2,
    households`` and geometry.  Polygons the run already holds are reused (:func:`station_areas`),
    the others are drawn (in worker processes when many).  ``households``: the households of the
    network dwellings within the break of that station alone (exact bounded search,
    :func:`geo.reach.station_dwellings`; straight-line dwellings not counted), per ring with
    ``rings``.  The stations are drawn in steps of :func:`service_area_steps`; ``advance(n)`` is
    called after each step with the ``n`` stations it finished (progress).
    """
    r = run.reach
    idx = np.arange(len(r.station_ids)) if stations is None else np.unique(np.asarray(stations, dtype=np.int64))
    breaks = tuple(sorted(float(b) for b in breaks_s))
    parts, hh = [], []
    index = dwelling_index(run) if idx.size else None
    step = service_area_steps(int(idx.size))
    for lo in range(0, idx.size, step):
        js = idx[lo:lo + step]
        parts.append(station_areas(run, breaks, rings, js))
        for j in js:  # one search to the largest break, split per break
            dw, t = station_dwellings(run.net, r, index, int(j), breaks[-1])
            h = r.households[dw]
            cum = [int(h[t <= b + EPS_S].sum()) for b in breaks]
            hh.extend(np.diff(cum, prepend=0).tolist() if rings else cum)
        if advance is not None:
            advance(len(js))
    cols = ["station", "name", "kind", "break_s", "shape", "method", "area_m2", "households"]
    if not parts:
        empty = {c: pd.Series([], dtype=("int64" if c in ("station", "households") else
                                        "float64" if c in ("break_s", "area_m2") else object)) for c in cols}
        return gpd.GeoDataFrame(empty, geometry=gpd.GeoSeries([], crs=4326), crs=4326)
    f = pd.concat(parts, ignore_index=True)
    info = run.inputs.station_info()
    # station_areas keeps the stations' order with breaks ascending: the same order as ``hh``
    f["households"] = np.asarray(hh, dtype=np.int64)
    f["name"] = f["station"].map(info["name"])
    f["station"] = f["station"].astype(np.int64)
    return gpd.GeoDataFrame(f[cols], geometry=f.geometry.values, crs=4326)
