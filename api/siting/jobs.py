"""Long siting questions as jobs: stored in ``siting_jobs`` (migration 0005), worked by the shared
job runner (:mod:`api.jobs`) in the app's thread pool.

``POST /siting`` answers a quick question at once; a long one (or one asked as a job) is inserted
as ``queued`` in the request's transaction and started once it committed (:mod:`api.siting.answers`).
A worker answers it with :meth:`api.siting.SitingService.propose` and stores the answer's JSON or
the problem it failed with; queued jobs are resumed when an app starts (:meth:`api.jobs.Jobs.resume`).
"""

from __future__ import annotations

import geopandas as gpd
from sqlalchemy import Connection, Engine

from api.db.models import siting_jobs
from api.jobs import Jobs, scope_of
from api.jurisdiction import Jurisdiction
from api.siting.params import SitingParams
from api.siting.service import SitingService


class SitingJobs(Jobs):
    """The siting job store and its thread pool (one per app, ``app.state.siting_jobs``).

    Parameters
    ----------
    engine : sqlalchemy.Engine
    siting : SitingService
    workers : int
        Jobs solved at once (``GRIDMAP_SITING_WORKERS``).
    """

    table = siting_jobs
    kind = "siting"

    def __init__(self, engine: Engine, siting: SitingService, *, workers: int = 1):
        super().__init__(engine, workers=workers)
        self.siting = siting

    def create(self, conn: Connection, scope: Jurisdiction, params: SitingParams, points: dict | None = None) -> str:
        """Insert a queued job in ``conn``'s transaction; :meth:`start` it after the commit."""
        return super().create(conn, scope, params.as_dict(), points=points)

    def run(self, row) -> dict:
        params = SitingParams.from_dict(row.params)
        points = gpd.GeoDataFrame.from_features(row.points["features"], crs=4326) if row.points else None
        return self.siting.propose(scope_of(row.scope), params, points).as_json()
