"""The answers of ``POST /siting`` and ``GET /siting/jobs/{id}``, assembled once for the routes.

:func:`submit` decides between an immediate answer and a job (``job=None``: a job when
:meth:`api.siting.SitingService.is_quick` says no), honours the ``Idempotency-Key`` (a retry gets
the stored answer or the same job, :mod:`api.db.idempotency`) and returns ``(status, body, headers)``.
:func:`job_answer` is a job's status document; :func:`answer_for_map` the answer a map page shows.
"""

from __future__ import annotations

from urllib.parse import urlencode

import geopandas as gpd

from api.db import idempotency
from api.errors import ValidationFailed
from api.jurisdiction import Jurisdiction
from api.siting.jobs import SitingJobs
from api.siting.params import SitingParams
from api.siting.service import SitingService
from geo.errors import Problem

#: Most candidate points one request may carry.
MAX_POINTS = 20_000


def points_frame(fc: dict | None) -> gpd.GeoDataFrame | None:
    """Candidate points from a GeoJSON FeatureCollection (EPSG:4326), or None.

    Raises
    ------
    ValidationFailed
        ``field="candidates"``: not a FeatureCollection of 1 to :data:`MAX_POINTS` features with geometries.
    """
    if fc is None:
        return None
    feats = fc.get("features") if isinstance(fc, dict) and fc.get("type") == "FeatureCollection" else None
    if not isinstance(feats, list) or not 1 <= len(feats) <= MAX_POINTS:
        raise ValidationFailed(f"candidates must be gaps, streets, osm or a GeoJSON FeatureCollection of 1 to "
                               f"{MAX_POINTS:,} features", [Problem("not a FeatureCollection", field="candidates")])
    try:
        return gpd.GeoDataFrame.from_features(feats, crs=4326)
    except Exception as exc:  # noqa: BLE001 - any malformed feature is the caller's input
        raise ValidationFailed(f"candidates: unreadable GeoJSON ({exc})",
                               [Problem(str(exc), field="candidates")]) from None


def map_url(params: SitingParams | None = None, job_id: str | None = None) -> str:
    if job_id is not None:
        return f"/siting/map?{urlencode({'job': job_id})}"
    d = {k: v for k, v in params.as_dict().items() if v is not None and k not in ("curve", "time_limit_s")}
    if d.get("kinds"):
        d["kinds"] = ",".join(d["kinds"])
    return f"/siting/map?{urlencode(d)}"


def job_answer(jobs: SitingJobs, conn, job_id: str, scope: Jurisdiction) -> dict:
    """A job's status document: ``id, status, params, created_at, started_at, finished_at`` and
    ``result`` when done, ``error`` (a problem document) when failed, ``links``."""
    row = jobs.get(conn, job_id, scope)
    out = {"id": row.id, "status": row.status, "params": row.params,
           **{k: (getattr(row, k).isoformat() if getattr(row, k) else None)
              for k in ("created_at", "started_at", "finished_at")},
           "links": {"self": f"/siting/jobs/{row.id}", "map": map_url(job_id=row.id)}}
    if row.status == "done":
        out["result"] = row.result
    elif row.status == "failed":
        out["error"] = row.error
    return out


def submit(siting: SitingService, jobs: SitingJobs, scope: Jurisdiction, params: SitingParams, *,
           points: dict | None = None, job: bool | None = None, key: str | None = None, path: str = "/siting",
           body: object = None) -> tuple[int, dict, dict]:
    """Answer at once (200 and the proposal's JSON) or queue a job (202, its status document and a
    ``Location`` header); a repeated ``key`` replays the first response."""
    frame = points_frame(points)
    engine = siting.coverage.engine
    with engine.begin() as conn:
        replay = idempotency.begin(conn, key, "POST", path, body)
        if replay:
            loc = replay.body.get("links", {}).get("self") if replay.status_code == 202 else None
            return replay.status_code, replay.body, ({"Location": loc} if loc else {})
        as_job = (not siting.is_quick(scope, params, frame)) if job is None else job
        if as_job:
            job_id = jobs.create(conn, scope, params, points)
            out = {"id": job_id, "status": "queued", "params": params.as_dict(),
                   "links": {"self": f"/siting/jobs/{job_id}", "map": map_url(job_id=job_id)}}
            idempotency.save(conn, key, "POST", path, body, 202, out)
        else:
            out = {**siting.propose(scope, params, frame).as_json(), "links": {"map": map_url(params)}}
            if points is not None:
                out["links"] = {}  # the map cannot carry the caller's points in its address
            idempotency.save(conn, key, "POST", path, body, 200, out)
    if as_job:
        jobs.start(job_id)
        return 202, out, {"Location": out["links"]["self"]}
    return 200, out, {}


def answer_for_map(siting: SitingService, jobs: SitingJobs, conn, scope: Jurisdiction, *, job_id: str | None,
                   params: SitingParams | None) -> dict:
    """The answer ``/siting/map`` draws: a done job's result, or ``params`` answered now.

    Raises
    ------
    ValidationFailed
        ``field="job"`` when the job is not done (its status is in ``status``).
    """
    if job_id is not None:
        doc = job_answer(jobs, conn, job_id, scope)
        if doc["status"] != "done":
            detail = (doc.get("error") or {}).get("detail") or f"the job is {doc['status']}: reload in a moment"
            raise ValidationFailed(detail, [Problem(f"job {doc['status']}", field="job")], status=doc["status"])
        return doc["result"]
    return siting.propose(scope, params).as_json()
