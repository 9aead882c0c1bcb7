"""Read API in the shape of OGC API - Features (Part 1: Core) over gridmap's fixed layers.

``/collections``, ``/collections/{id}``, ``/collections/{id}/items`` (GeoJSON, ``bbox``, ``limit``,
``offset``, ``datetime``, property filters, ``numberMatched``/``numberReturned``, next/prev links)
and ``/collections/{id}/items/{fid}``.  Hand-written rather than tipg: six fixed tables, and the
caller's jurisdiction applied natively in every query (``api.db.features``).
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response
from sqlalchemy import Engine

from api import deps, i18n
from api.db import features as fdb
from api.errors import NotFound, ValidationFailed
from api.jurisdiction import Jurisdiction
from api.limits import MAX_OFFSET
from api.settings import Settings

router = APIRouter(tags=["features"])

GEOJSON = "application/geo+json"
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
RESERVED = {"bbox", "limit", "offset", "datetime", "f", "lang", "bbox-crs", "crs"}
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
]


def _collection(collection_id: str) -> fdb.Collection:
    try:
        return fdb.COLLECTIONS[collection_id]
    except KeyError:
        raise NotFound(f"There is no collection {collection_id!r}; see /collections.") from None


def parse_bbox(raw: str | None) -> tuple[float, float, float, float] | None:
    """``minx,miny,maxx,maxy`` (or the 6-number 3D form) in degrees lon/lat; 400 when malformed."""
    if raw is None:
        return None
    parts = raw.split(",")
    try:
        nums = [float(p) for p in parts]
    except ValueError:
        raise ValidationFailed(f"bbox={raw!r}: expected four numbers minx,miny,maxx,maxy (lon/lat degrees).") from None
    if len(nums) == 6:
        nums = [nums[0], nums[1], nums[3], nums[4]]
    if len(nums) != 4:
        raise ValidationFailed(f"bbox={raw!r}: expected four numbers minx,miny,maxx,maxy, got {len(parts)}.")
    minx, miny, maxx, maxy = nums
    if not all(-180 <= x <= 180 for x in (minx, maxx)) or not all(-90 <= y <= 90 for y in (miny, maxy)):
        raise ValidationFailed(f"bbox={raw!r}: longitudes must lie in [-180, 180] and latitudes in [-90, 90] "
                         "(is it lat/lon instead of lon/lat?).")
    if minx > maxx or miny > maxy:
        raise ValidationFailed(f"bbox={raw!r}: the minimum exceeds the maximum (order is minx,miny,maxx,maxy).")
    return minx, miny, maxx, maxy


def _instant(raw: str) -> datetime | None:
    if raw in ("", ".."):
        return None
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValidationFailed(f"datetime={raw!r} is not an RFC 3339 date-time (e.g. 2024-05-01T00:00:00Z).") from None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def parse_datetime(raw: str | None) -> fdb.Interval | None:
    """``datetime=`` as an instant or ``start/end`` interval (``..`` for an open end)."""
    if raw is None:
        return None
    if "/" in raw:
        a, _, b = raw.partition("/")
        start, end = _instant(a), _instant(b)
        if start is None and end is None:
            raise ValidationFailed("datetime=../.. is not an interval: give at least one end.")
        if start and end and start > end:
            raise ValidationFailed(f"datetime={raw!r}: the interval ends before it starts.")
        return fdb.Interval(start, end)
    at = _instant(raw)
    if at is None:
        raise ValidationFailed(f"datetime={raw!r} is not an instant.")
    return fdb.Interval(at, at)


def _filters(request: Request, coll: fdb.Collection) -> dict[str, object]:
    out: dict[str, object] = {}
    for name, value in request.query_params.items():
        if name in RESERVED:
            continue
        if name not in coll.filterable:
            raise ValidationFailed(
                f"Unknown query parameter {name!r} for collection {coll.id!r}; filterable properties: "
                + ", ".join(coll.filterable)
            )
        col = coll.table.c[name]
        if col.type.python_type is bool:
            if value.lower() not in ("true", "false"):
                raise ValidationFailed(f"{name}={value!r}: expected true or false.")
            out[name] = value.lower() == "true"
        else:
            out[name] = value
    return out


def _collection_doc(request: Request, coll: fdb.Collection, bbox: list[float] | None, lang: str,
                    scope: Jurisdiction) -> dict:
    base = str(request.url_for("collection", collection_id=coll.id))
    doc = {
        "id": coll.id,
        "title": i18n.t(f"collection.{coll.id}", lang),
        "itemType": "feature",
        "crs": [CRS84],
        "geometryType": coll.geometry,
        "properties": [p for p in coll.properties if not scope.hides(coll.table.name, p)],
        "filterable": list(coll.filterable),
        "links": [
            {"rel": "self", "type": "application/json", "href": base},
            {"rel": "items", "type": GEOJSON, "href": base + "/items"},
        ],
    }
    if bbox is not None:
        doc["extent"] = {"spatial": {"bbox": [bbox], "crs": CRS84}}
    return doc


@router.get("/conformance", summary="OGC API conformance classes")
def conformance() -> dict:
    return {"conformsTo": CONFORMANCE}


@router.get("/collections", summary="The feature collections")
def collections(
    request: Request,
    engine: Engine = Depends(deps.engine),
    scope: Jurisdiction = Depends(deps.jurisdiction),
    settings: Settings = Depends(deps.settings),
) -> dict:
    lang = i18n.request_lang(request, settings.language)
    with engine.connect() as conn:
        docs = [
            _collection_doc(request, c, fdb.extent(conn, c, scope), lang, scope) for c in fdb.COLLECTIONS.values()
        ]
    return {
        "collections": docs,
        "links": [{"rel": "self", "type": "application/json", "href": str(request.url)}],
    }


@router.get("/collections/{collection_id}", name="collection", summary="One feature collection")
def collection(
    request: Request,
    collection_id: str,
    engine: Engine = Depends(deps.engine),
    scope: Jurisdiction = Depends(deps.jurisdiction),
    settings: Settings = Depends(deps.settings),
) -> dict:
    coll = _collection(collection_id)
    with engine.connect() as conn:
        box = fdb.extent(conn, coll, scope)
    return _collection_doc(request, coll, box, i18n.request_lang(request, settings.language), scope)


def _page_link(request: Request, rel: str, offset: int, limit: int) -> dict:
    url = request.url.include_query_params(offset=offset, limit=limit)
    return {"rel": rel, "type": GEOJSON, "href": str(url)}


@router.get(
    "/collections/{collection_id}/items",
    summary="Features of a collection (GeoJSON FeatureCollection)",
    response_class=Response,
    responses={200: {"content": {GEOJSON: {}}}},
)
def items(
    request: Request,
    collection_id: str,
    bbox: str | None = Query(None, description="minx,miny,maxx,maxy in lon/lat degrees (EPSG:4326)"),
    limit: int = Query(fdb.DEFAULT_LIMIT, ge=1, le=fdb.MAX_LIMIT),
    offset: int = Query(0, ge=0, le=MAX_OFFSET),
    datetime_: str | None = Query(
        None, alias="datetime",
        description="Instant or interval (a/b, .. open). grids: versions valid then (default: current); "
                    "incidents: reported_at.",
    ),
    engine: Engine = Depends(deps.engine),
    scope: Jurisdiction = Depends(deps.jurisdiction),
) -> Response:
    coll = _collection(collection_id)
    box = parse_bbox(bbox)
    when = parse_datetime(datetime_)
    filters = _filters(request, coll)
    with engine.connect() as conn:
        matched = fdb.count_items(conn, coll, scope, bbox=box, when=when, filters=filters)
        features, returned = fdb.items_json(
            conn, coll, scope, bbox=box, when=when, filters=filters, limit=limit, offset=offset
        )
    links = [_page_link(request, "self", offset, limit)]
    if offset + returned < matched:
        links.append(_page_link(request, "next", offset + limit, limit))
    if offset > 0:
        links.append(_page_link(request, "prev", max(offset - limit, 0), limit))
    links.append({"rel": "collection", "type": "application/json",
                  "href": str(request.url_for("collection", collection_id=coll.id))})
    head = {
        "type": "FeatureCollection",
        "numberMatched": matched,
        "numberReturned": returned,
        "timeStamp": datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "links": links,
    }
    # The features array is PostGIS's JSON text, spliced in unparsed.
    body = json.dumps(head, ensure_ascii=False)[:-1] + ', "features": ' + features + "}"
    return Response(body, media_type=GEOJSON)


@router.get(
    "/collections/{collection_id}/items/{fid}",
    summary="One feature",
    response_class=Response,
    responses={200: {"content": {GEOJSON: {}}}},
)
def item(
    collection_id: str,
    fid: int = Path(..., ge=1),
    engine: Engine = Depends(deps.engine),
    scope: Jurisdiction = Depends(deps.jurisdiction),
) -> Response:
    coll = _collection(collection_id)
    with engine.connect() as conn:
        feature = fdb.item_json(conn, coll, fid, scope)
    if feature is None:
        raise NotFound(f"Collection {collection_id!r} has no feature {fid}.")
    return Response(feature, media_type=GEOJSON, headers={"ETag": fdb.etag(feature)})
