"""Large redraws as jobs: ``POST /plans`` answers 202 with a job (``Location: /plans/jobs/{id}``)
when it names more communities than ``GRIDMAP_PLAN_SYNC_COMMUNITIES`` (a town, the county), or
when asked with ``"job": true``; smaller ones answer at once (201).

The job table is ``plan_jobs`` (migration 0011), worked by the shared runner (:mod:`api.jobs`)
in the app's thread pool (``app.state.plan_jobs``): a worker calls :func:`api.plans.create_plans`
with the request's :class:`api.plans.PlanSpec` and jurisdiction and stores its answer (the plans
made) or the problem it failed with.  An ``Idempotency-Key`` replays the first answer: the same job,
or the same plans.
"""

from __future__ import annotations

from sqlalchemy import Engine

from api.db import idempotency
from api.db.models import plan_jobs
from api.errors import ValidationFailed
from api.jobs import Jobs, scope_of
from api.jurisdiction import Jurisdiction
from api.plans.create import PlanSpec, create_plans, targets
from api.settings import Settings
from geo.errors import Problem

__all__ = ["PlanJobs", "submit", "job_answer"]


class PlanJobs(Jobs):
    """The plan job store and its thread pool (one per app, ``app.state.plan_jobs``)."""

    table = plan_jobs
    kind = "plan"

    def __init__(self, engine: Engine, settings: Settings, *, workers: int = 1):
        super().__init__(engine, workers=workers)
        self.settings = settings

    def run(self, row) -> dict:
        _, answer, _ = create_plans(self.engine, self.settings, scope_of(row.scope), PlanSpec.from_dict(row.params))
        return answer


def _links(job_id: str) -> dict:
    return {"self": f"/plans/jobs/{job_id}"}


def job_answer(jobs: PlanJobs, conn, job_id: str, scope: Jurisdiction) -> dict:
    """A job's status document: ``id, status, params, created_at, started_at, finished_at``,
    ``result`` when done (``{"plans": [summary, ...]}``, as ``POST /plans`` answers at once),
    ``error`` (a problem document) when failed, ``links``."""
    row = jobs.get(conn, job_id, scope)
    out = {"id": row.id, "status": row.status, "params": row.params,
           **{k: (getattr(row, k).isoformat() if getattr(row, k) else None)
              for k in ("created_at", "started_at", "finished_at")},
           "links": _links(row.id)}
    if row.status == "done":
        out["result"] = row.result
        out["links"]["plans"] = [f"/plans/{p['id']}" for p in (row.result or {}).get("plans", [])]
    elif row.status == "failed":
        out["error"] = row.error
    return out


def submit(engine: Engine, settings: Settings, jobs: PlanJobs, scope: Jurisdiction, body: dict, *,
           key: str | None = None, path: str = "/plans") -> tuple[int, dict, dict]:
    """Redraw at once (201 and the plans) or queue a job (202, its status document and a
    ``Location`` header); ``body`` is a :class:`PlanSpec` as JSON plus an optional ``job``
    (true: always a job, false: never; default: a job above ``settings.plan_sync_communities``
    communities).  Bad parameters and an unknown community are answered at once (422, 404)."""
    if not isinstance(body, dict):
        raise ValidationFailed("The body must be a JSON object.", [Problem("expected an object", field="body")])
    job = body.get("job")
    if job is not None and not isinstance(job, bool):
        raise ValidationFailed("job must be true or false.", [Problem("expected a boolean", field="job")])
    rest = {k: v for k, v in body.items() if k != "job"}
    spec = PlanSpec.from_dict(rest)
    spec.zoning()  # 422 on bad parameters before anything is queued
    with engine.begin() as conn:
        replay = idempotency.begin(conn, key, "POST", path, body)
        if replay:
            loc = replay.body.get("links", {}).get("self") if replay.status_code == 202 else None
            return replay.status_code, replay.body, {"Idempotent-Replayed": "true", **({"Location": loc} if loc else {})}
        named = targets(conn, scope, spec)
        as_job = job if job is not None else sum(map(len, named.values())) > settings.plan_sync_communities
        if as_job:
            job_id = jobs.create(conn, scope, rest)
            out = {"id": job_id, "status": "queued", "params": rest, "links": _links(job_id)}
            idempotency.save(conn, key, "POST", path, body, 202, out)
    if as_job:
        jobs.start(job_id)
        return 202, out, {"Location": out["links"]["self"]}
    status, answer, replayed = create_plans(engine, settings, scope, spec, key=key, path=path, body=body)
    return status, answer, ({"Idempotent-Replayed": "true"} if replayed else {})
