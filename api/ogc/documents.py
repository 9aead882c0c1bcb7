"""The OGC API documents gridmap writes itself: the landing page, the conformance classes, the
collection list and one collection (tipg serves items, queryables and tiles).

gridmap writes these so that a collection's document lists the CRSs it serves (Part 2: ``crs``,
``storageCrs``), its title follows the reader's language, and its extent is that of the rows the
caller may see (computed now, not when the server started).
"""

from __future__ import annotations

from fastapi import Request
from tipg.factory import COMMON_CONFORMS, Endpoints

from api import i18n
from api.ogc import crs as ogc_crs
from api.ogc.catalog import SCHEMA
from api.ogc.scope import ScopedCollection

__all__ = ["conformance", "landing", "collection_doc", "extent", "queryables_doc"]

GEOJSON = "application/geo+json"
JSON = "application/json"
#: Conformance classes gridmap declares beyond tipg's: Features Part 2 (CRS by reference), Part 3's
#: queryables, and the CQL2 classes tipg's parser (cql2) implements, which clients look for before
#: they send a filter to the server (GDAL's OAPIF driver, QGIS) instead of filtering every page.
EXTRA_CONFORMANCE = (
    "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables-query-parameters",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-cql2",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-text",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-json",
    "http://www.opengis.net/spec/cql2/1.0/conf/advanced-comparison-operators",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions",
)


def conformance(endpoints: Endpoints) -> list[str]:
    """Every class served: tipg's (features, CQL2 filtering, tiles) without HTML (gridmap serves
    JSON and MVT only: tipg's HTML views load scripts from CDNs), plus Part 2 CRS."""
    classes = [*COMMON_CONFORMS, *endpoints.conforms_to, *EXTRA_CONFORMANCE]
    return list(dict.fromkeys(c for c in classes if not c.endswith("/html")))


def landing(request: Request, endpoints: Endpoints) -> dict:
    """The OGC API landing page (``/`` with JSON asked): service-desc, service-doc, conformance,
    the collections (each links its items, queryables and tile sets) and the tiling schemes."""
    base = str(request.base_url).rstrip("/")
    links = [
        {"rel": "self", "type": JSON, "title": "This document", "href": f"{base}/?f=json"},
        {"rel": "alternate", "type": "text/html", "title": "Home page", "href": f"{base}/?f=html"},
        {"rel": "service-desc", "type": "application/vnd.oai.openapi+json;version=3.0",
         "title": "The API definition", "href": f"{base}/openapi.json"},
        {"rel": "service-doc", "type": "text/html", "title": "The API documentation", "href": f"{base}/docs"},
        {"rel": "conformance", "type": JSON, "title": "Conformance classes", "href": f"{base}/conformance"},
        {"rel": "data", "type": JSON, "title": "The collections", "href": f"{base}/collections"},
        {"rel": "http://www.opengis.net/def/rel/ogc/1.0/tiling-schemes", "type": JSON,
         "title": "The tile matrix sets of the vector tiles", "href": f"{base}/tileMatrixSets"},
    ]
    return {"title": request.app.title, "description": request.app.description, "links": links}


async def extent(conn, c: ScopedCollection) -> list[float] | None:
    """``[min_lon, min_lat, max_lon, max_lat]`` of the rows of ``c`` its caller may see, or ``None``."""
    where = c.cql_where()
    cond = f"WHERE {where.to_sql()}" if where is not None else ""
    sql = (f'SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (SELECT ST_Extent("geom") AS e '
           f'FROM {SCHEMA}."{c.table}" {cond}) s')
    row = await conn.fetchrow(sql)
    return None if row is None or row[0] is None else [float(v) for v in row]


def collection_doc(request: Request, c: ScopedCollection, box: list[float] | None, lang: str) -> dict:
    """One collection's document (Features Part 1 + Part 2 CRS), links to items, queryables, tiles."""
    base = str(request.base_url).rstrip("/") + f"/collections/{c.id}"
    geom = c.get_geometry_column()
    doc = {
        "id": c.id,
        "title": i18n.t(f"collection.{c.id}", lang),
        "description": i18n.t(f"collection.{c.id}", lang),
        "itemType": "feature",
        "crs": list(ogc_crs.SUPPORTED),
        "storageCrs": ogc_crs.STORAGE,
        "geometryType": geom.geometry_type if geom is not None else None,
        "properties": [p.name for p in c.properties if p.type not in ("geometry", "geography")],
        "links": [
            {"rel": "self", "type": JSON, "href": base},
            {"rel": "items", "type": GEOJSON, "href": base + "/items"},
            {"rel": "http://www.opengis.net/def/rel/ogc/1.0/queryables", "type": "application/schema+json",
             "href": base + "/queryables"},
            {"rel": "queryables", "type": "application/schema+json", "href": base + "/queryables"},
            {"rel": "http://www.opengis.net/def/rel/ogc/1.0/tilesets-vector", "type": JSON,
             "href": base + "/tiles"},
        ],
    }
    if box is not None:
        doc["extent"] = {"spatial": {"bbox": [box], "crs": ogc_crs.CRS84}}
    return doc


def queryables_doc(request: Request, c: ScopedCollection) -> dict:
    """The collection's queryables (Part 3): a JSON Schema of its properties (tipg's), with the
    drafts' ``queryables`` list beside it, which GDAL's OAPIF driver reads."""
    props = c.queryables
    return {
        "$schema": "https://json-schema.org/draft/2019-09/schema",
        "$id": str(request.base_url).rstrip("/") + f"/collections/{c.id}/queryables",
        "title": c.id, "type": "object", "properties": props,
        "queryables": [{"id": name, "type": p.get("type", "geometry")} for name, p in props.items()],
    }
