"""Redraw a county: every community independently, in worker processes (:func:`solve_county`;
:func:`geo.parallel.process_context` says how they start).

The county's frames are projected once to its metric CRS and cut per community (its streets and
dwellings); each worker runs :func:`geo.zoning.solve.community.solve_metric` on one community and
draws its grids' polygons (kept in the partition's cache), so that the caller, which stores them,
does not union every grid's units again in one process.
"""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor

import geopandas as gpd
import numpy as np
import shapely

from geo.crs import metric_crs_for
from geo.parallel import process_context
from geo.zoning.params import ZoningParams
from geo.zoning.solve.community import dwelling_arrays, solve_metric
from geo.zoning.solve.plan import CommunityPlan, CountyPlan
from geo.zoning.units import to_metric_geoms

__all__ = ["solve_county"]


_JOB: dict = {}  # the county job a worker process solves communities of (set by _init_worker)


def _init_worker(job: dict) -> None:
    _JOB.clear()
    _JOB.update(job)


def _solve_task(i: int) -> CommunityPlan:
    j = _JOB
    t = j["tasks"][i]
    plan = solve_metric(t["code"], t["area"], t["lines"], t["xy"], t["hh"], t["ids"], j["params"], t["current"],
                        j["crs"], j["micro"])
    plan.partition.polygons(lonlat=False)  # the grids' unions drawn here, in parallel: they come back cached
    return plan


def solve_county(areas: gpd.GeoDataFrame, streets: gpd.GeoDataFrame, dwellings: gpd.GeoDataFrame,
                 grids: gpd.GeoDataFrame | None = None, *, params: ZoningParams = ZoningParams(),
                 communities=None, workers: int = 2, micro: ZoningParams | bool | None = None,
                 progress=None, id_column: str = "source_id") -> CountyPlan:
    """Redraw every community's grids (each independently; ``workers`` forked processes).

    Parameters
    ----------
    areas : geopandas.GeoDataFrame
        Areas (EPSG:4326) with ``code`` and ``level``; the ``community`` rows are redrawn.
    streets, dwellings : geopandas.GeoDataFrame
        EPSG:4326; dwellings carry ``households``, ``id_column`` and ``community_code`` (else they are
        placed by their position).
    grids : geopandas.GeoDataFrame, optional
        Current grids (``code``, ``community_code``, polygons): for ``stay_close``, locks, moves.
    params : ZoningParams
    communities : iterable of str, optional
        Only these community codes.
    workers : int
        Worker processes (1: in this process).
    micro : ZoningParams or bool, optional
        Also draw micro-grids.
    progress : callable, optional
        Called with ``(done, total)`` after each community.

    Returns
    -------
    CountyPlan
    """
    comm = areas[areas["level"] == "community"] if "level" in areas else areas
    if communities is not None:
        comm = comm[comm["code"].isin(set(communities))]
    comm = comm.sort_values("code")
    crs = metric_crs_for(areas)
    c_geom = to_metric_geoms(comm.geometry.to_numpy(), crs)
    lines = to_metric_geoms(streets.geometry.to_numpy(), crs)
    tree = shapely.STRtree(lines)
    xy, hh, ids = dwelling_arrays(dwellings, crs, id_column)
    codes = comm["code"].astype(str).tolist()
    if "community_code" in dwellings:
        d_comm = dwellings["community_code"].astype(str).to_numpy()
    else:
        ci, pi = shapely.STRtree(c_geom).query(shapely.points(xy), predicate="intersects")[::-1]
        d_comm = np.full(len(xy), None, dtype=object)
        d_comm[ci] = np.asarray(codes, dtype=object)[pi]
    order = np.argsort(d_comm.astype(str), kind="stable")
    sorted_c = d_comm.astype(str)[order]
    g_cur = None
    if grids is not None and len(grids):
        g_cur = (grids["code"].astype(str).to_numpy(), grids["community_code"].astype(str).to_numpy(),
                 to_metric_geoms(grids.geometry.to_numpy(), crs))
    tasks = []
    for code, geom in zip(codes, c_geom):
        s, e = np.searchsorted(sorted_c, code, "left"), np.searchsorted(sorted_c, code, "right")
        d = order[s:e]
        cur = None
        if g_cur is not None:
            m = g_cur[1] == code
            cur = (g_cur[0][m].tolist(), g_cur[2][m]) if m.any() else None
        tasks.append({"code": code, "area": geom, "lines": lines[tree.query(geom, predicate="intersects")],
                      "xy": xy[d], "hh": hh[d], "ids": ids[d], "current": cur})
    job = {"tasks": tasks, "params": params, "crs": crs, "micro": micro}
    out: dict = {}
    ctx = process_context() if workers > 1 and len(tasks) > 1 else None
    if ctx is None:
        _init_worker(job)
        for i in range(len(tasks)):
            out[codes[i]] = _solve_task(i)
            if progress:
                progress(i + 1, len(tasks))
    else:
        with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker, initargs=(job,)) as ex:
            for n, (i, plan) in enumerate(zip(range(len(tasks)), ex.map(_solve_task, range(len(tasks)),
                                                                         chunksize=4))):
                out[codes[i]] = plan
                if progress:
                    progress(n + 1, len(tasks))
    return CountyPlan(out, params)
