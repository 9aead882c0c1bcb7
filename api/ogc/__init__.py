"""OGC API Features and Tiles over gridmap's data, served by tipg inside gridmap's app.

The public surface:

- :func:`open_catalog` / :func:`close_catalog` (:mod:`.catalog`): tipg's asyncpg pool and catalog of
  the ``ogc`` views (migration 0009), opened in gridmap's lifespan from its one settings object;
  :data:`COLLECTIONS` the collection ids;
- :func:`install` and :func:`tipg_router` (:mod:`.endpoints`): tipg's endpoints included with
  ``include_router``, gridmap's bbox/CRS, JSON-only outputs, errors as problem+json;
- :func:`collection` (:mod:`.scope`): the collection as the caller sees it (its jurisdiction ANDed
  into every query, items, single items and tiles alike) and :class:`ScopedCollection`;
- :func:`landing`, :func:`conformance`, :func:`collection_doc`, :func:`queryables_doc`, :func:`extent` (:mod:`.documents`):
  the documents gridmap writes itself;
- :mod:`.crs`: the CRSs served (CRS84, EPSG:4326, CGCS2000 and its Gauss-Kruger zones).
"""

from api.ogc import crs
from api.ogc.catalog import COLLECTIONS, SCHEMA, close_catalog, open_catalog, refresh_catalog
from api.ogc.documents import collection_doc, conformance, extent, landing, queryables_doc
from api.ogc.endpoints import ENDPOINTS, install, tipg_router
from api.ogc.scope import ScopedCollection, collection, scope_expr, scoped

__all__ = ["COLLECTIONS", "ENDPOINTS", "SCHEMA", "ScopedCollection", "close_catalog", "collection",
           "collection_doc", "conformance", "crs", "extent", "install", "landing", "open_catalog",
           "queryables_doc", "refresh_catalog", "scope_expr", "scoped", "tipg_router"]
