"""The coverage routes: one ``router`` (included by :func:`api.app.create_app` like any route module).

- :mod:`.summary`: ``GET /coverage`` (JSON, CSV, GeoJSON per grid, community or town) and ``/coverage/map``
- :mod:`.gaps`: ``GET /coverage/gaps``
- :mod:`.reach`: ``GET /stations/{id}/reach``, ``/coverage/stations``, ``/coverage/dwellings``, ``/coverage/areas``
- :mod:`.whatif`: ``POST /coverage/what-if``
- :mod:`.geojson`: no routes; how the others write GeoJSON (coordinates rounded, feature collections)

Routes only translate: the question comes from :mod:`api.deps`, the answer from :mod:`api.coverage.answers`.
"""

from __future__ import annotations

from fastapi import APIRouter

from api.routes.coverage import gaps, reach, summary, whatif

router = APIRouter()
# included in this order, the order the routes had as sibling modules (paths are matched in order)
for _part in (summary, gaps, reach, whatif):
    router.include_router(_part.router)

__all__ = ["router"]
