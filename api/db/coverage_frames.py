"""A coverage run's results as frames ready to serve: per-area tables with polygons, gaps, masks."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd

from api.db.coverage_runs import Run
from geo.coverage import coverage_table
from geo.reach import EPS_S, DwellingIndex


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
