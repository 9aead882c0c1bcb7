"""The siting service: where new service stations cover the most households, and which could close.

Modules, one concept each:

* :mod:`~api.siting.params`: the question (:class:`SitingParams`) and its limits;
* :mod:`~api.siting.candidates`: where new sites may go (gap nodes, street nodes, OSM amenities, a file);
* :mod:`~api.siting.service`: :class:`SitingService`, the matrix cache and :meth:`SitingService.propose`;
* :mod:`~api.siting.proposal`: the answer (:class:`Proposal`): sites, per-area before/after, gain
  curve, closures, new service areas, its JSON;
* :mod:`~api.siting.output`: a proposal written to GeoPackage, GeoJSON, CSV, Excel or JSON;
* :mod:`~api.siting.jobs`: long questions as jobs (``siting_jobs``), run in the app's thread pool;
* :mod:`~api.siting.answers`: what ``POST /siting``, ``GET /siting/jobs/{id}`` and ``/siting/map`` answer.
"""

from api.siting.candidates import area_polygons, candidates_for, from_points, read_candidates
from api.siting.jobs import SitingJobs
from api.siting.params import CANDIDATES, MAX_CLOSE, MAX_K, METHODS, MODELS, SitingParams
from api.siting.proposal import Proposal
from api.siting.service import SitingService

__all__ = [
    "area_polygons", "candidates_for", "from_points", "read_candidates",
    "CANDIDATES", "MAX_CLOSE", "MAX_K", "METHODS", "MODELS", "SitingParams",
    "Proposal", "SitingJobs", "SitingService",
]
