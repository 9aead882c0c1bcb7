"""Long siting questions as jobs: stored in ``siting_jobs`` (migration 0005), solved in a thread pool.

``POST /siting`` answers a quick question at once; a long one (or one asked as a job) is inserted
as ``queued`` in the request's transaction (with its ``Idempotency-Key``, so a retry finds the same
job), then :meth:`SitingJobs.start` hands it to the app's pool once the transaction committed.  A
worker marks it ``running``, answers it with :meth:`api.siting.SitingService.propose` and stores the
answer's JSON (``done``) or the problem it failed with (``failed``: the same problem document an
immediate answer would have been, with its ``status``).  When an app starts, jobs left ``queued``
are started and jobs left ``running`` past :data:`STALE_S` fail as interrupted (:meth:`SitingJobs.resume`).
"""

from __future__ import annotations

import logging
import uuid
from concurrent.futures import Future, ThreadPoolExecutor

import geopandas as gpd
from sqlalchemy import Connection, Engine, func, insert, select, text, update

from api.db.models import siting_jobs
from api.errors import GridmapError, NotFound, status_of
from api.jurisdiction import Jurisdiction
from api.siting.params import SitingParams
from api.siting.service import SitingService
from geo.errors import InvalidInput

log = logging.getLogger(__name__)

STATUSES = ("queued", "running", "done", "failed")
#: A job running longer than this (seconds; twice the longest solver time limit) was left by a stopped process.
STALE_S = 7200


def _scope_json(scope: Jurisdiction):
    return None if scope.codes is None else sorted(scope.codes)


def _scope_of(value) -> Jurisdiction:
    return Jurisdiction(None if value is None else frozenset(value))


def problem_of(exc: BaseException) -> dict:
    """The problem document (RFC 9457 members) of a failed job."""
    if isinstance(exc, GridmapError):
        slug, title, detail, problems = exc.slug, exc.title, exc.detail, exc.problems
    elif isinstance(exc, InvalidInput):
        slug, title, detail, problems = "validation-failed", "Validation failed", exc.title, exc.problems
    else:
        slug, title, detail, problems = "internal-error", "Internal error", "the siting job failed; see the log", []
    out = {"type": f"/problems/{slug}", "title": title, "status": status_of(exc), "detail": detail}
    if problems:
        out["errors"] = [p.as_dict() for p in problems]
    return out


class SitingJobs:
    """The job store and its thread pool (one per app, ``app.state.siting_jobs``).

    Parameters
    ----------
    engine : sqlalchemy.Engine
    siting : SitingService
    workers : int
        Jobs solved at once (``GRIDMAP_SITING_WORKERS``).
    """

    def __init__(self, engine: Engine, siting: SitingService, *, workers: int = 1):
        self.engine = engine
        self.siting = siting
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="siting-job")
        self.futures: dict[str, Future] = {}

    def create(self, conn: Connection, scope: Jurisdiction, params: SitingParams, points: dict | None = None) -> str:
        """Insert a queued job in ``conn``'s transaction; :meth:`start` it after the commit."""
        job_id = uuid.uuid4().hex
        conn.execute(insert(siting_jobs).values(id=job_id, params=params.as_dict(), scope=_scope_json(scope),
                                                points=points))
        return job_id

    def start(self, job_id: str) -> Future:
        fut = self.pool.submit(self._work, job_id)
        self.futures[job_id] = fut
        fut.add_done_callback(lambda f: self.futures.pop(job_id, None))
        return fut

    def resume(self) -> list[str]:
        """Start the jobs left queued (a process that stopped between the commit and the start; a job
        another process starts meanwhile runs once: a worker takes only a queued job), and fail those
        left running longer than :data:`STALE_S` (their process stopped).  Returns the ids started."""
        with self.engine.begin() as conn:
            conn.execute(update(siting_jobs).where(
                siting_jobs.c.status == "running",
                siting_jobs.c.started_at < func.now() - text(f"interval '{int(STALE_S)} seconds'"),
            ).values(status="failed", finished_at=func.now(), error={
                "type": "/problems/internal-error", "title": "Interrupted", "status": 500,
                "detail": "the server stopped while this job ran; ask again"}))
            ids = list(conn.execute(select(siting_jobs.c.id).where(siting_jobs.c.status == "queued")
                                    .order_by(siting_jobs.c.created_at)).scalars())
        for job_id in ids:
            self.start(job_id)
        return ids

    def _work(self, job_id: str) -> None:
        with self.engine.begin() as conn:
            row = conn.execute(update(siting_jobs).where(siting_jobs.c.id == job_id,
                                                         siting_jobs.c.status == "queued")
                               .values(status="running", started_at=func.now()).returning(siting_jobs)).first()
        if row is None:  # already taken (a resumed duplicate)
            return
        try:
            params = SitingParams.from_dict(row.params)
            points = gpd.GeoDataFrame.from_features(row.points["features"], crs=4326) if row.points else None
            answer = self.siting.propose(_scope_of(row.scope), params, points).as_json()
            values = {"status": "done", "result": answer}
        except Exception as exc:  # noqa: BLE001 - every failure is stored with its problem document
            if not isinstance(exc, (GridmapError, InvalidInput)):
                log.exception("siting job %s failed", job_id)
            values = {"status": "failed", "error": problem_of(exc)}
        with self.engine.begin() as conn:
            conn.execute(update(siting_jobs).where(siting_jobs.c.id == job_id)
                         .values(**values, finished_at=func.now()))

    def get(self, conn: Connection, job_id: str, scope: Jurisdiction):
        """The job row, if ``scope`` may see it: the caller's jurisdiction must hold the job's.

        Raises
        ------
        NotFound
            No such job in the caller's jurisdiction.
        """
        row = conn.execute(select(siting_jobs).where(siting_jobs.c.id == job_id)).first() if len(job_id) <= 32 else None
        if row is None or not (scope.codes is None or (row.scope is not None and set(row.scope) <= scope.codes)):
            raise NotFound(f"no siting job {job_id!r} in your jurisdiction")
        return row

    def wait(self, job_id: str, timeout_s: float | None = None) -> None:
        """Block until the job's worker ends (tests, the CLI); no-op if it is not running here."""
        fut = self.futures.get(job_id)
        if fut is not None:
            fut.result(timeout=timeout_s)

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
