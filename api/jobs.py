"""Long requests as jobs: a row per job in a job table, worked in the app's thread pool.

One runner for every kind of job (siting questions, :mod:`api.siting.jobs`; plan redraws,
:mod:`api.plans.jobs`).  A job table has the columns ``id, params, scope, status, result, error,
created_at, started_at, finished_at`` (migrations 0005 and 0011); a kind subclasses :class:`Jobs`
naming its table and its :meth:`Jobs.run`.

A request inserts the job as ``queued`` in its own transaction (:meth:`Jobs.create`, with its
``Idempotency-Key``, so a retry finds the same job), then :meth:`Jobs.start` hands it to the pool
once that transaction committed.  A worker marks it ``running`` (only while queued, so two
processes never both run it), calls :meth:`Jobs.run` and stores the answer's JSON (``done``) or the
problem it failed with (``failed``: the problem document an immediate answer would have been, with
its ``status``).  When an app starts, jobs left ``queued`` are started and jobs left ``running``
past :data:`STALE_S` fail as interrupted (:meth:`Jobs.resume`).
"""

from __future__ import annotations

import logging
import uuid
from concurrent.futures import Future, ThreadPoolExecutor

from sqlalchemy import Connection, Engine, Table, func, insert, select, text, update

from api.errors import GridmapError, NotFound, status_of
from api.jurisdiction import Jurisdiction
from geo.errors import InvalidInput

__all__ = ["Jobs", "STATUSES", "STALE_S", "problem_of", "scope_json", "scope_of"]

log = logging.getLogger(__name__)

STATUSES = ("queued", "running", "done", "failed")
#: A job running longer than this (seconds; twice the longest solver time limit) was left by a stopped process.
STALE_S = 7200


def scope_json(scope: Jurisdiction):
    """A jurisdiction's codes as stored with a job (None: everywhere)."""
    return None if scope.codes is None else sorted(scope.codes)


def scope_of(value) -> Jurisdiction:
    """The jurisdiction a job was asked in, from its stored codes."""
    return Jurisdiction(None if value is None else frozenset(value))


def problem_of(exc: BaseException) -> dict:
    """The problem document (RFC 9457 members) of a failed job."""
    if isinstance(exc, GridmapError):
        slug, title, detail, problems = exc.slug, exc.title, exc.detail, exc.problems
    elif isinstance(exc, InvalidInput):
        slug, title, detail, problems = "validation-failed", "Validation failed", exc.title, exc.problems
    else:
        slug, title, detail, problems = "internal-error", "Internal error", "the job failed; see the log", []
    out = {"type": f"/problems/{slug}", "title": title, "status": status_of(exc), "detail": detail}
    if problems:
        out["errors"] = [p.as_dict() for p in problems]
    return out


class Jobs:
    """A job table and its thread pool (one per kind and app, on ``app.state``).

    Subclasses set :attr:`table` (a job table), :attr:`kind` (a word for messages and thread
    names) and implement :meth:`run`.

    Parameters
    ----------
    engine : sqlalchemy.Engine
    workers : int
        Jobs worked at once.
    """

    table: Table
    kind: str = "job"

    def __init__(self, engine: Engine, *, workers: int = 1):
        self.engine = engine
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"{self.kind}-job")
        self.futures: dict[str, Future] = {}

    def run(self, row) -> dict:
        """Work the job ``row`` (its stored ``params``, ``scope`` ...); returns the answer's JSON."""
        raise NotImplementedError

    def create(self, conn: Connection, scope: Jurisdiction, params: dict, **values) -> str:
        """Insert a queued job in ``conn``'s transaction (``values``: the kind's other columns);
        :meth:`start` it after the commit."""
        job_id = uuid.uuid4().hex
        conn.execute(insert(self.table).values(id=job_id, params=params, scope=scope_json(scope), **values))
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
        t = self.table
        with self.engine.begin() as conn:
            conn.execute(update(t).where(
                t.c.status == "running",
                t.c.started_at < func.now() - text(f"interval '{int(STALE_S)} seconds'"),
            ).values(status="failed", finished_at=func.now(), error={
                "type": "/problems/internal-error", "title": "Interrupted", "status": 500,
                "detail": "the server stopped while this job ran; ask again"}))
            ids = list(conn.execute(select(t.c.id).where(t.c.status == "queued").order_by(t.c.created_at)).scalars())
        for job_id in ids:
            self.start(job_id)
        return ids

    def _work(self, job_id: str) -> None:
        t = self.table
        with self.engine.begin() as conn:
            row = conn.execute(update(t).where(t.c.id == job_id, t.c.status == "queued")
                               .values(status="running", started_at=func.now()).returning(t)).first()
        if row is None:  # already taken (a resumed duplicate)
            return
        try:
            values = {"status": "done", "result": self.run(row)}
        except Exception as exc:  # noqa: BLE001 - every failure is stored with its problem document
            if not isinstance(exc, (GridmapError, InvalidInput)):
                log.exception("%s job %s failed", self.kind, job_id)
            values = {"status": "failed", "error": problem_of(exc)}
        with self.engine.begin() as conn:
            conn.execute(update(t).where(t.c.id == job_id).values(**values, finished_at=func.now()))

    def get(self, conn: Connection, job_id: str, scope: Jurisdiction):
        """The job row, if ``scope`` may see it: the caller's jurisdiction must hold the job's.

        Raises
        ------
        NotFound
            No such job in the caller's jurisdiction.
        """
        t = self.table
        row = conn.execute(select(t).where(t.c.id == job_id)).first() if len(job_id) <= 32 else None
        if row is None or not (scope.codes is None or (row.scope is not None and set(row.scope) <= scope.codes)):
            raise NotFound(f"no {self.kind} job {job_id!r} in your jurisdiction")
        return row

    def wait(self, job_id: str, timeout_s: float | None = None) -> None:
        """Block until the job's worker ends (tests, the CLI); no-op if it is not running here."""
        fut = self.futures.get(job_id)
        if fut is not None:
            fut.result(timeout=timeout_s)

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
