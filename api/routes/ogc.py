"""OGC API Features (Part 1 core, Part 2 CRS, Part 3 queryables and CQL2 filtering) and OGC API
Tiles (Mapbox vector tiles, TileJSON), served by tipg over the ``ogc`` views (``api.ogc``).

gridmap answers the conformance classes, the collection list and each collection's document
itself (scoped extents, the CRSs offered, titles in the reader's language); every other route is
tipg's (items, one item, queryables, tile sets, tiles, TileJSON, style), included below.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import JSONResponse

from api import deps, i18n, ogc

router = APIRouter()


@router.get("/conformance", summary="OGC API conformance classes", tags=["OGC Common"])
def conformance() -> dict:
    return {"conformsTo": ogc.conformance(ogc.ENDPOINTS)}


@router.get("/collections", name="gridmap_collections", summary="The collections (OGC API Features)",
            tags=["OGC Features API"])
async def collections(request: Request, scope: deps.ScopeDep, settings: deps.SettingsDep) -> dict:
    lang = i18n.request_lang(request, settings.language)
    catalog = request.app.state.collection_catalog
    docs = []
    async with request.app.state.pool.acquire() as conn:
        for cid in ogc.COLLECTIONS:
            if cid in catalog["collections"]:
                c = ogc.scoped(catalog["collections"][cid], scope)
                docs.append(ogc.collection_doc(request, c, await ogc.extent(conn, c), lang))
    base = str(request.base_url).rstrip("/")
    return {"collections": docs, "numberMatched": len(docs), "numberReturned": len(docs),
            "links": [{"rel": "self", "type": "application/json", "href": f"{base}/collections"}]}


@router.get("/collections/{collectionId}", name="gridmap_collection", summary="One collection (OGC API Features)",
            tags=["OGC Features API"])
async def collection(request: Request, c: Annotated[ogc.ScopedCollection, Depends(ogc.collection)],
                     settings: deps.SettingsDep,
                     collectionId: Annotated[str, Path(description="Collection identifier (see /collections)")]) -> dict:
    async with request.app.state.pool.acquire() as conn:
        box = await ogc.extent(conn, c)
    return ogc.collection_doc(request, c, box, i18n.request_lang(request, settings.language))


@router.get("/collections/{collectionId}/queryables", name="gridmap_queryables",
            summary="What a collection's filter may name (OGC API Features Part 3)", tags=["OGC Features API"])
def queryables(request: Request, c: Annotated[ogc.ScopedCollection, Depends(ogc.collection)],
               collectionId: Annotated[str, Path(description="Collection identifier (see /collections)")]):
    # application/schema+json when the client names it; plain JSON for the others (GDAL asks for JSON)
    schema = "application/schema+json" in request.headers.get("accept", "")
    return JSONResponse(ogc.queryables_doc(request, c),
                        media_type="application/schema+json" if schema else "application/json")


router.include_router(ogc.tipg_router())
