"""Coverage of every county as its own task, on Dask distributed (issue 18 §3).

Per-county coverage is embarrassingly parallel: each county is computed on its own network
(:meth:`api.coverage.service.CoverageService.parts`), so ``gridmap coverage --all-regions`` sends
one task per county to a Dask cluster: a ``LocalCluster`` of ``workers`` processes by default, or
the scheduler at ``scheduler`` (``tcp://host:8786``) for a real cluster.  A task
(:func:`region_task`) opens its own engine on the database URL it is given, computes the county's
run with a :class:`CoverageService` and so stores it in ``coverage_runs`` (the same row a
``gridmap coverage --region CODE`` writes, found again by ``GET /coverage?region=CODE``); it
returns a small :class:`RegionResult`.  A county that fails is reported with its error and the
others complete.  Results come back as they finish (``progress`` is called once per county).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Callable

from sqlalchemy import Engine

from api.coverage.params import CoverageParams
from api.jurisdiction import Jurisdiction

__all__ = ["RegionResult", "region_codes", "region_task", "run_regions", "warm_worker"]


@dataclass(frozen=True)
class RegionResult:
    """One county's outcome: its stored run (``run_id``), households, covered households, percent
    and seconds; or ``error`` (the message of what failed) with the rest None."""

    region: str
    run_id: int | None = None
    households: int | None = None
    covered_households: int | None = None
    covered_pct: float | None = None
    seconds: float | None = None
    error: str | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def region_codes(engine: Engine, scope: Jurisdiction) -> list[str]:
    """The counties in ``scope`` that hold dwellings or stations, by code."""
    from api.db.models import dwellings, stations

    with engine.connect() as conn:
        codes = set()
        for t in (dwellings, stations):
            codes.update(conn.execute(t.select().with_only_columns(t.c.region_code).where(scope.clause(t))
                                      .distinct()).scalars())
    return sorted(codes)


def region_task(url: str, speeds: dict, max_snap_m: float, params: dict, code: str) -> dict:
    """Compute and store county ``code``'s coverage (run in a Dask worker, or in-process).

    ``params`` is :meth:`CoverageParams.as_dict` without the region; plain values only, so the
    task pickles to any worker.  Returns :meth:`RegionResult.as_dict`; an error of the county is
    returned as its ``error`` (the exception's detail), never raised."""
    import datetime as dt

    from api.coverage.service import CoverageService
    from api.db.engine import make_engine
    from api.jurisdiction import EVERYWHERE

    t0 = time.perf_counter()
    engine = make_engine(url)
    try:
        p = CoverageParams(minutes=params["minutes"], mode=params["mode"],
                           kinds=tuple(params["kinds"]) if params.get("kinds") else None,
                           at=dt.date.fromisoformat(params["at"]) if params.get("at") else None, region=code)
        svc = CoverageService(engine, walk_speed_kmh=speeds["walk"], bike_speed_kmh=speeds["bike"],
                              max_snap_m=max_snap_m, warm_polygons=False)
        run = svc.run(EVERYWHERE, p)
        t = run.totals
        return RegionResult(code, run.run_id, int(t["households"]), int(t["covered_households"]),
                            t.get("covered_pct"), round(time.perf_counter() - t0, 3)).as_dict()
    except Exception as exc:  # noqa: BLE001 - one county's failure is its result; the others go on
        return RegionResult(code, error=str(getattr(exc, "detail", None) or exc),
                            seconds=round(time.perf_counter() - t0, 3)).as_dict()
    finally:
        engine.dispose()


def run_regions(url: str, settings, params: CoverageParams, codes: list[str], *,
                workers: int = 2, scheduler: str | None = None, processes: bool = True,
                progress: Callable[[RegionResult], None] | None = None, client=None) -> list[RegionResult]:
    """Every county of ``codes`` as one Dask task (:func:`region_task`), results by code.

    Parameters
    ----------
    url : str
        Database URL the workers connect to (with its password: the workers are the caller's).
    settings : api.settings.Settings
        Speeds and snap distance.
    params : CoverageParams
        The question; its region is replaced by each county's code.
    workers : int
        LocalCluster workers (one thread each) when no ``scheduler`` is given.
    scheduler : str, optional
        Address of a running Dask scheduler; its workers must reach ``url`` and import gridmap.
    processes : bool
        LocalCluster workers as processes (default) or as threads of this process.
    progress : callable, optional
        Called with each county's :class:`RegionResult` as it finishes.
    client : distributed.Client, optional
        A client already connected (kept open); ``workers``, ``scheduler`` and ``processes`` then
        play no part.
    """
    from distributed import Client, LocalCluster, as_completed

    speeds = {"walk": settings.walk_speed_kmh, "bike": settings.bike_speed_kmh}
    plain = {k: v for k, v in params.as_dict().items() if k != "region"}
    cluster, own = None, client is None
    if client is not None:
        pass
    elif scheduler:
        client = Client(scheduler)
    else:
        cluster = LocalCluster(n_workers=max(1, int(workers)), threads_per_worker=1, processes=processes,
                               dashboard_address=None)
        client = Client(cluster)
    try:
        futures = [client.submit(region_task, url, speeds, settings.max_snap_m, plain, c, key=f"coverage-{c}",
                                 pure=False) for c in codes]
        out = []
        for fut in as_completed(futures):
            try:
                res = RegionResult(**fut.result())
            except Exception as exc:  # noqa: BLE001 - a worker lost is that county's failure
                res = RegionResult(str(fut.key).removeprefix("coverage-"), error=f"worker failed: {exc}")
            out.append(res)
            if progress:
                progress(res)
        return sorted(out, key=lambda r: r.region)
    finally:
        if own:
            client.close()
        if cluster is not None:
            cluster.close()


def warm_worker() -> bool:
    """Import what a county's task needs (run on each worker once, :meth:`distributed.Client.run`),
    so that the first county a fresh worker process computes does not pay for the imports."""
    import api.coverage.service  # noqa: F401
    import geo.reach  # noqa: F401
    import geo.service_area  # noqa: F401

    return True
