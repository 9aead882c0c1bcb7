"""tipg's OGC API Features and Tiles endpoints, wired into gridmap's app.

:data:`ENDPOINTS` is tipg's ``Endpoints`` with gridmap's ``collection_dependency``
(:func:`api.ogc.scope.collection`: the caller's jurisdiction, the output CRS), without its landing,
conformance and collection documents (gridmap writes those: :mod:`api.ogc.documents`) and without
its tile viewer.  :func:`tipg_router` is what ``api/routes/ogc.py`` includes with
``include_router`` (not ``mount``: gridmap's lifespan, auth, errors and edge apply to it).

Every tipg endpoint is made with gridmap's dependencies in place of tipg's (:data:`SWAPS`): its
``bbox`` (``bbox-crs``) and ``filter``, and output types answering JSON/GeoJSON/CSV/MVT but never
HTML (tipg's HTML views load scripts from CDNs; gridmap runs offline); :func:`install` maps its errors onto
gridmap's problem+json (:mod:`api.ogc.errors`), the ``Content-Crs`` header of items, and the
``ETag`` of a station or grid item that the write API checks (``If-Match``).
"""

import inspect
import re
from typing import Annotated, Optional, get_args, get_origin

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi import params
from tipg import dependencies as tipg_deps
from tipg.factory import Endpoints, OGCFeaturesFactory, OGCTilesFactory
from tipg.resources.enums import MediaType

from api.errors import ValidationFailed
from api.ogc import errors as ogc_errors
from api.ogc import scope

__all__ = ["ENDPOINTS", "OWN_DOCUMENTS", "SWAPS", "tipg_router", "install"]

#: tipg routes replaced by gridmap's own documents (api/routes/ogc.py), by route name and path.
OWN_DOCUMENTS = {"collections": "/collections", "collection": "/collections/{collectionId}",
                 "queryables": "/collections/{collectionId}/queryables"}
_ITEM = re.compile(r"^/collections/(stations|grids)/items/(\d+)$")


def _output(allowed: tuple[str, ...]):
    types = [MediaType[v] for v in allowed]

    def output_type(request: Request, f: Optional[str] = Query(
            None, description="Answer format: " + ", ".join(allowed) + " (default from Accept)")) -> Optional[MediaType]:
        if f:
            if f not in allowed:
                raise ValidationFailed(f"f={f!r}: this resource is served as " + ", ".join(allowed)
                                       + " (the OGC API has no HTML pages here; the maps are at /map).")
            return MediaType[f]
        return tipg_deps.accept_media_type(request.headers.get("accept", ""), types)

    return output_type


#: tipg's dependencies -> gridmap's, put in the signature of every tipg endpoint as its route is
#: made (:class:`_SwapRouter`).  Not ``app.dependency_overrides``: with any override registered,
#: FastAPI re-reads the signature of every dependency of every route of the app on every request,
#: which doubled a vector tile's time (in process on the 500k-household city: 23 ms against 10 ms).
SWAPS = {
    tipg_deps.bbox_query: scope.bbox,
    tipg_deps.filter_query: scope.cql_filter,
    tipg_deps.OutputType: _output(("json",)),
    tipg_deps.QueryablesOutputType: _output(("schemajson",)),
    tipg_deps.ItemsOutputType: _output(("geojson", "json", "csv", "geojsonseq", "ndjson")),
    tipg_deps.ItemOutputType: _output(("geojson", "json")),
}


def _swapped(param: inspect.Parameter) -> inspect.Parameter:
    """``param`` with a ``Depends`` on a key of :data:`SWAPS` (in ``Annotated`` or as default) turned
    into one on its value."""
    def swap(dep):
        if isinstance(dep, params.Depends) and dep.dependency in SWAPS:
            return params.Depends(SWAPS[dep.dependency], use_cache=dep.use_cache)
        return dep

    ann, default = param.annotation, swap(param.default)
    if get_origin(ann) is Annotated:
        ann = Annotated[(get_args(ann)[0], *(swap(m) for m in ann.__metadata__))]
    return param.replace(annotation=ann, default=default)


class _SwapRouter(APIRouter):
    """The router of tipg's factories: each endpoint's dependencies swapped (:data:`SWAPS`) before
    FastAPI reads its signature."""

    def add_api_route(self, path: str, endpoint, **kwargs):
        sig = inspect.signature(endpoint, eval_str=True)
        endpoint.__signature__ = sig.replace(parameters=[_swapped(p) for p in sig.parameters.values()])
        return super().add_api_route(path, endpoint, **kwargs)


class _Features(OGCFeaturesFactory):
    """tipg's features endpoints without the collection list, a collection's document and its
    queryables (gridmap writes those); links to them still resolve."""

    def register_routes(self):
        self._items_route()
        self._item_route()

    def url_for(self, request: Request, name: str, **path_params) -> str:
        if name in OWN_DOCUMENTS:
            return str(request.base_url).rstrip("/") + OWN_DOCUMENTS[name].format(**path_params)
        return super().url_for(request, name, **path_params)


class _Endpoints(Endpoints):
    def register_routes(self):
        self.ogc_features = _Features(collection_dependency=self.collection_dependency, with_common=False,
                                      router=_SwapRouter())
        self.router.include_router(self.ogc_features.router)
        self.ogc_tiles = OGCTilesFactory(collection_dependency=self.collection_dependency,
                                         supported_tms=self.supported_tms, with_viewer=False, with_common=False,
                                         router=_SwapRouter())
        self.router.include_router(self.ogc_tiles.router)


ENDPOINTS = _Endpoints(title="gridmap", collection_dependency=scope.collection, with_common=False,
                       with_tiles_viewer=False)


def tipg_router():
    """tipg's router: items, one item, queryables, tile matrix sets, tile sets, tiles, TileJSON, style."""
    return ENDPOINTS.router


async def _headers(request: Request, call_next):
    response = await call_next(request)
    path = request.url.path
    if response.status_code == 200 and path.startswith("/collections/") and "/items" in path:
        uri = getattr(request.state, "content_crs", None)
        if uri:
            response.headers["Content-Crs"] = f"<{uri}>"
        m = _ITEM.match(path)
        caller = getattr(request.state, "caller", None)
        if m and caller is not None and request.method == "GET":
            response.headers["ETag"] = await run_in_threadpool(_etag, request, m.group(1), int(m.group(2)), caller.scope)
    return response


def _etag(request: Request, layer: str, fid: int, jurisdiction) -> str:
    from api.db import features as fdb

    with request.app.state.engine.connect() as conn:
        return fdb.etag(fdb.item_json(conn, fdb.COLLECTIONS[layer], fid, jurisdiction) or "")


def install(app: FastAPI) -> None:
    """Map tipg's errors, add the item headers."""
    ogc_errors.install(app)
    app.middleware("http")(_headers)
    base_openapi = app.openapi

    def openapi() -> dict:
        if app.openapi_schema:
            return app.openapi_schema
        schema = base_openapi()
        _filter_languages(schema)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi


def _filter_languages(schema: dict) -> None:
    """The API definition as gridmap serves tipg's routes: ``filter-lang`` lists ``cql-text`` (CQL2
    text's name in the drafts) beside ``cql2-text`` (GDAL's OAPIF driver, 3.12, looks for that name
    before it sends a ``where`` to the server instead of filtering every page itself); ``f`` offers
    no ``html``; the items take ``bbox-crs``."""
    for path, ops in schema.get("paths", {}).items():
        params = ops.get("get", {}).get("parameters", [])
        for param in params:
            if param.get("name") == "filter-lang":  # a plain enum (GDAL reads schema.enum, not anyOf)
                param["schema"] = {"type": "string", "enum": list(scope.FILTER_LANGS), "default": "cql2-text"}
            if param.get("name") == "f" and "enum" in str(param.get("schema")):  # no HTML views here
                for s in param["schema"].get("anyOf", [param["schema"]]):
                    if "enum" in s:
                        s["enum"] = [v for v in s["enum"] if v != "html"]
        names = {p.get("name") for p in params}
        if path.startswith("/collections/{collectionId}/items") and "bbox" in names and "bbox-crs" not in names:
            params.append({"name": "bbox-crs", "in": "query", "required": False,
                           "description": "CRS of bbox (OGC API Features Part 2), one of a collection's crs list; "
                                          "default CRS84", "schema": {"type": "string"}})
