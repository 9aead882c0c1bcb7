"""Write endpoints for stations and grids: a GeoJSON Feature in, the stored Feature out.

Every write validates and stores through the import service (:func:`api.imports.import_frame`: all
problems listed, with where) in one transaction, so a refused request changes nothing.
``Idempotency-Key`` makes retries safe (``api.db.idempotency``).  Feature ids are the ids of the
features API (``/collections/{stations|grids}/items/{id}``); a grid's id names one boundary
version, so a PUT that moves a boundary answers with the new version's id.

- ``POST /stations``, ``POST /grids``: create (409 if the key - ``source_id`` / ``code`` - exists
  in the region; use PUT).  A station without ``source_id`` gets a generated one.
- ``PUT /stations/{id}``, ``PUT /grids/{id}``: replace properties and geometry; the key and region
  cannot change.  A grid's changed boundary closes the current version and starts a new one.
- ``DELETE /stations/{id}``: delete.  ``DELETE /grids/{id}``: retire the current version
  (``valid_to = now()``); its history and the incidents attributed to it stay.

Every grid write re-attributes, in its transaction, the dwellings and incidents whose grid it
changed (:mod:`api.db.load.reattribute`) and says how many: headers ``Reattributed-Dwellings``
and ``Reattributed-Incidents``, and in a returned Feature the foreign member
``"reattributed": {"dwellings": n, "incidents": m}``.
"""

from __future__ import annotations

import json
import math
import uuid

import geopandas as gpd
import pandas as pd
from fastapi import APIRouter, Body, Depends, Header, Path, Request
from fastapi.responses import JSONResponse, Response
from shapely.geometry import shape
from sqlalchemy import Engine, Table

from api import deps
from api.db import features as fdb
from api.db import idempotency
from api.db.load import reattribute_after_grid_write, snapshot_grids
from api.db.models import grids, stations
from api.errors import Conflict, Forbidden, NotFound, StaleVersion
from api.imports import import_frame
from api.jurisdiction import Jurisdiction
from api.settings import Settings
from geo.errors import InvalidInput, Problem
from geo.layers import LAYERS
from geo.validate import MAX_VERTICES, shown

router = APIRouter(tags=["writes"])

GEOJSON = "application/geo+json"
FEATURE_EXAMPLE = {
    "type": "Feature",
    "geometry": {"type": "Point", "coordinates": [120.285, 31.905]},
    "properties": {"source_id": "st-001", "name": "城东社区党群服务中心", "kind": "service_centre",
                   "community_code": "320281001001"},
}


_LAYERS: dict[str, tuple[Table, str]] = {"stations": (stations, "source_id"), "grids": (grids, "code")}


_GEOMETRY_DEPTH = {"Point": 0, "MultiPoint": 1, "LineString": 1, "MultiLineString": 2, "Polygon": 2,
                   "MultiPolygon": 3}


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _geometry_problems(raw: dict) -> list[Problem]:
    """Faults of a raw GeoJSON geometry that shapely would hide or choke on: an unknown type,
    coordinates that are not arrays of 2-3 numbers (strings, nested too deep), more than
    :data:`geo.validate.MAX_VERTICES` vertices, an unclosed or too short polygon ring."""
    gtype = raw.get("type")
    if gtype not in _GEOMETRY_DEPTH:
        return [Problem(f"geometry type {gtype!r} is not one of {', '.join(_GEOMETRY_DEPTH)}", row=1, field="geometry")]
    depth = _GEOMETRY_DEPTH[gtype]
    coords = raw.get("coordinates")
    # the arrays of positions (one level above the positions), checked for size first
    lists = [coords]
    for level in range(depth):
        nxt = []
        for x in lists:
            if not isinstance(x, list):
                return [Problem(f"{gtype} coordinates must be nested arrays {depth + 1} deep", row=1, field="geometry")]
            if level == depth - 1:
                continue
            nxt.extend(x)
        if level < depth - 1:
            lists = nxt
    if depth == 0:
        positions, rings = [coords], []
    else:
        total = sum(len(x) for x in lists)
        if total > MAX_VERTICES:
            return [Problem(f"the geometry has {total:,} vertices; at most {MAX_VERTICES:,} are allowed "
                            "(simplify it first, e.g. to 1 m)", row=1, field="geometry")]
        positions = [p for x in lists for p in x]
        rings = lists if gtype in ("Polygon", "MultiPolygon") else []
    for p in positions:
        if not (isinstance(p, list) and 2 <= len(p) <= 3 and all(_number(v) for v in p)):
            return [Problem(f"a position must be [lon, lat] numbers (WGS84 degrees), not {json.dumps(p)[:60]}",
                            row=1, field="geometry")]
    for k, ring in enumerate(rings, start=1):
        if len(ring) < 4:
            return [Problem(f"polygon ring {k} has {len(ring)} positions; a ring needs at least 4 (the last "
                            "repeating the first)", row=1, field="geometry")]
        if ring[0][:2] != ring[-1][:2]:
            return [Problem(f"polygon ring {k} is not closed: its last position {ring[-1]} is not its first "
                            f"{ring[0]}", row=1, field="geometry")]
    return []


def feature_frame(feature: object, layer: str | None = None) -> tuple[gpd.GeoDataFrame, dict]:
    """A one-row frame (EPSG:4326) from a GeoJSON Feature, and its properties.

    With ``layer``, properties must be that layer's columns (or the read-only ones the features
    API serves, which are ignored), each a JSON string, number, boolean or null.

    Raises ``InvalidInput`` (422) when the body is not a Feature, its geometry cannot be read
    exactly as sent (see :func:`_geometry_problems`) or a property is unknown or not a scalar.
    """
    if not isinstance(feature, dict) or feature.get("type") != "Feature":
        raise InvalidInput("The body is not a GeoJSON Feature", [
            Problem('expected {"type": "Feature", "geometry": {...}, "properties": {...}}', field="type")])
    props = feature.get("properties")
    if props is None:
        props = {}
    if not isinstance(props, dict):
        raise InvalidInput("Bad properties", [Problem("properties must be an object", row=1, field="properties")])
    raw = feature.get("geometry")
    if not isinstance(raw, dict):
        raise InvalidInput("No geometry", [Problem("the feature has no geometry", row=1, field="geometry")])
    problems = _geometry_problems(raw)
    if layer is not None:
        known = {c.name for c in LAYERS[layer].columns}
        served = set(fdb.COLLECTIONS[layer].properties) | {"reattributed"}
        for k, v in props.items():
            if k not in known and k not in served:
                problems.append(Problem(f"unknown field {shown(k)!r}; the fields of {layer} are "
                                        f"{', '.join(sorted(known))}", row=1, field=shown(k)))
            elif v is not None and not isinstance(v, (str, int, float, bool)):
                problems.append(Problem(f"{k} must be a string, number, boolean or null, not a JSON "
                                        f"{'array' if isinstance(v, list) else 'object'}", row=1, field=k))
        props = {k: v for k, v in props.items() if k in known}
    if problems:
        raise InvalidInput(f"The {layer[:-1] if layer else 'feature'} cannot be stored as sent", problems)
    try:
        geom = shape(raw)
    except Exception as exc:  # shapely raises several types for malformed coordinates
        raise InvalidInput("Unreadable geometry", [
            Problem(f"cannot read the {raw.get('type', '?')} geometry: {exc}", row=1, field="geometry")]) from None
    props = {k: v for k, v in props.items() if k not in ("geometry", "id")}
    return gpd.GeoDataFrame([props] if props else [{}], geometry=[geom], crs=4326), props


def _check_scope(scope: Jurisdiction, frame: gpd.GeoDataFrame) -> None:
    codes = [frame[c].iloc[0] for c in ("region_code", "town_code", "community_code") if c in frame]
    if not scope.allows(*(None if pd.isna(c) else str(c) for c in codes)):
        raise Forbidden("The feature lies outside your jurisdiction.")


def _stored_feature(conn, layer: str, fid: int, scope: Jurisdiction) -> dict:
    text = fdb.item_json(conn, fdb.COLLECTIONS[layer], fid, scope)
    if text is None:  # written but not visible to the caller: report it, never leak it
        raise Forbidden("The feature was written outside your jurisdiction.")
    return json.loads(text)


def _respond(status: int, body: object, replayed: bool = False, layer: str | None = None) -> Response:
    headers = {"Idempotent-Replayed": "true"} if replayed else {}
    moved = body.get("reattributed") if isinstance(body, dict) else None
    if isinstance(moved, dict):
        headers["Reattributed-Dwellings"] = str(moved.get("dwellings", 0))
        headers["Reattributed-Incidents"] = str(moved.get("incidents", 0))
    if status == 204:
        return Response(status_code=204, headers=headers)
    if status == 201 and layer and isinstance(body, dict):
        headers["Location"] = f"/collections/{layer}/items/{body['id']}"
    if isinstance(body, dict) and body.get("etag"):
        headers["ETag"] = body.pop("etag")
    return JSONResponse(body, status_code=status, media_type=GEOJSON, headers=headers)


def _write(layer: str, feature: object, settings: Settings, scope: Jurisdiction, conn,
           existing=None) -> tuple[int, dict | None]:
    """Validate and store one feature; return its (new) id and, for grids, the re-attribution
    counts ``{"dwellings": n, "incidents": m}``.  ``existing``: the row a PUT replaces."""
    table, key = _LAYERS[layer]
    frame, props = feature_frame(feature, layer)
    if existing is not None:
        for col in (key, "region_code"):
            if props.get(col) not in (None, getattr(existing, col)):
                raise InvalidInput(f"{col} cannot change", [Problem(
                    f"{col} is {getattr(existing, col)!r} for feature {existing.id}; create a new feature "
                    "with POST instead", row=1, field=col, feature_id=str(getattr(existing, key)))])
            frame[col] = getattr(existing, col)
    elif layer == "stations" and not props.get(key):
        frame[key] = uuid.uuid4().hex
    region = str(props.get("region_code") or (existing.region_code if existing else settings.region_code))
    frame["region_code"] = region

    def check(clean: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
        _check_scope(scope, clean)
        if existing is None:
            value = str(clean[key].iloc[0])
            # concurrent creates of one key queue here (a lock in the database, held to commit): the
            # first writes, the others then see its row and get the 409 below
            fdb.lock_key(conn, table, region, value)
            current = fdb.id_by_key(conn, table, key, region, value, current=(layer == "grids"))
            if current is not None:
                raise Conflict(f"{layer[:-1]} {key}={value!r} already exists in region {region} "
                               f"(id {current}); change it with PUT /{layer}/{current}.")
            if layer == "grids" and fdb.id_by_key(conn, table, key, region, value) is not None \
                    and clean["valid_from"].isna().iloc[0]:
                clean["valid_from"] = pd.Timestamp.now(tz="UTC")  # re-creating a retired grid code
        checked.append(str(clean[key].iloc[0]))
        return clean

    checked: list[str] = []
    # one feature, not a file: a station outside every grid is the caller's decision
    report = import_frame(conn, layer, frame, settings, region_code=region, before_write=check, allow_outside=True)
    value = checked[0]
    fid = fdb.id_by_key(conn, table, key, region, value, current=(layer == "grids"))
    assert fid is not None
    moved = {"dwellings": report.dwellings_reattributed, "incidents": report.incidents_reattributed}
    return fid, (moved if layer == "grids" else None)


def _check_version(conn, layer: str, fid: int, scope: Jurisdiction, if_match: str) -> None:
    """``If-Match`` (one or more ETags, or ``*``) against the stored feature: 412 when stale."""
    wanted = {t.strip() for t in if_match.split(",") if t.strip()}
    if "*" in wanted:
        return
    now = fdb.etag(fdb.item_json(conn, fdb.COLLECTIONS[layer], fid, scope) or "")
    if now not in {t[2:] if t.startswith("W/") else t for t in wanted}:
        raise StaleVersion(f"{layer[:-1]} {fid} changed since you read it (your If-Match is not its ETag "
                           f"{now}); read it again, reapply your change and retry.", etag=now)


def _handle(layer: str, method: str, request: Request, feature, fid: int | None, key: str | None,
            engine: Engine, settings: Settings, scope: Jurisdiction, if_match: str | None = None) -> Response:
    table, _ = _LAYERS[layer]
    with engine.begin() as conn:
        replay = idempotency.begin(conn, key, method, request.url.path, feature)
        if replay:
            return _respond(replay.status_code, dict(replay.body) if isinstance(replay.body, dict) else replay.body,
                            replayed=True)
        existing = None
        if fid is not None:
            existing = fdb.row_by_id(conn, table, fid, scope, lock=True)
            if existing is None:
                raise NotFound(f"There is no {layer[:-1]} {fid}.")
            if if_match is not None:
                _check_version(conn, layer, fid, scope, if_match)
            if layer == "grids" and existing.valid_to is not None:
                current = fdb.id_by_key(conn, grids, "code", existing.region_code, existing.code, current=True)
                raise Conflict(f"Grid version {fid} is history (valid until {existing.valid_to.isoformat()}); "
                               + (f"the current version is {current}." if current else "the grid was retired."))
        if method == "DELETE" and layer == "stations":
            if not fdb.delete_station(conn, fid, scope):
                raise Conflict(f"{layer[:-1]} {fid} could not be removed (it changed meanwhile).")
            status, body = 204, None
        elif method == "DELETE":
            snap = snapshot_grids(conn, [existing.region_code])
            if not fdb.retire_grid(conn, fid, scope):
                raise Conflict(f"{layer[:-1]} {fid} could not be removed (it changed meanwhile).")
            status, body = 204, {"reattributed": reattribute_after_grid_write(conn, snap).as_dict()}
        else:
            new_id, moved = _write(layer, feature, settings, scope, conn, existing)
            status, body = (201 if method == "POST" else 200), _stored_feature(conn, layer, new_id, scope)
            body["etag"] = fdb.etag(fdb.item_json(conn, fdb.COLLECTIONS[layer], new_id, scope))
            if moved is not None:
                body["reattributed"] = moved
        idempotency.save(conn, key, method, request.url.path, feature, status, body)
    return _respond(status, body, layer=layer)


_KEY = Header(None, alias="Idempotency-Key", description="Makes a retry of this request safe (24 h).")
_IF_MATCH = Header(None, alias="If-Match", description=(
    "The ETag you read (GET /collections/{layer}/items/{id} or the last write's answer): the write "
    "happens only if the feature is still that version, else 412."))
_FEATURE = Body(..., examples=[FEATURE_EXAMPLE], media_type="application/geo+json")
_ID = Path(..., ge=1, le=2**63 - 1)


def _routes(layer: str) -> None:
    @router.post(f"/{layer}", status_code=201, summary=f"Create one {layer[:-1]} (GeoJSON Feature)",
                 name=f"create_{layer[:-1]}")
    def create(request: Request, feature: dict = _FEATURE, key: str | None = _KEY,
               engine: Engine = Depends(deps.engine), settings: Settings = Depends(deps.settings),
               scope: Jurisdiction = Depends(deps.jurisdiction)) -> Response:
        return _handle(layer, "POST", request, feature, None, key, engine, settings, scope)

    @router.put(f"/{layer}/{{fid}}", summary=f"Replace one {layer[:-1]}", name=f"replace_{layer[:-1]}")
    def replace(request: Request, fid: int = _ID, feature: dict = _FEATURE, key: str | None = _KEY,
                if_match: str | None = _IF_MATCH,
                engine: Engine = Depends(deps.engine), settings: Settings = Depends(deps.settings),
                scope: Jurisdiction = Depends(deps.jurisdiction)) -> Response:
        return _handle(layer, "PUT", request, feature, fid, key, engine, settings, scope, if_match)

    @router.delete(f"/{layer}/{{fid}}", status_code=204,
                   summary=("Delete one station" if layer == "stations" else "Retire a grid's current version"),
                   name=f"delete_{layer[:-1]}")
    def remove(request: Request, fid: int = _ID, key: str | None = _KEY, if_match: str | None = _IF_MATCH,
               engine: Engine = Depends(deps.engine), settings: Settings = Depends(deps.settings),
               scope: Jurisdiction = Depends(deps.jurisdiction)) -> Response:
        return _handle(layer, "DELETE", request, None, fid, key, engine, settings, scope, if_match)


for _layer in _LAYERS:
    _routes(_layer)

