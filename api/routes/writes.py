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
from api.errors import Conflict, Forbidden, NotFound
from api.imports import import_frame
from api.jurisdiction import Jurisdiction
from api.settings import Settings
from geo.errors import InvalidInput, Problem

router = APIRouter(tags=["writes"])

GEOJSON = "application/geo+json"
FEATURE_EXAMPLE = {
    "type": "Feature",
    "geometry": {"type": "Point", "coordinates": [120.285, 31.905]},
    "properties": {"source_id": "st-001", "name": "城东社区党群服务中心", "kind": "service_centre",
                   "community_code": "320281001001"},
}


_LAYERS: dict[str, tuple[Table, str]] = {"stations": (stations, "source_id"), "grids": (grids, "code")}


def feature_frame(feature: object) -> tuple[gpd.GeoDataFrame, dict]:
    """A one-row frame (EPSG:4326) from a GeoJSON Feature, and its properties.

    Raises ``InvalidInput`` (422) when the body is not a Feature or its geometry cannot be read.
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
    return JSONResponse(body, status_code=status, media_type=GEOJSON, headers=headers)


def _write(layer: str, feature: object, settings: Settings, scope: Jurisdiction, conn,
           existing=None) -> tuple[int, dict | None]:
    """Validate and store one feature; return its (new) id and, for grids, the re-attribution
    counts ``{"dwellings": n, "incidents": m}``.  ``existing``: the row a PUT replaces."""
    table, key = _LAYERS[layer]
    frame, props = feature_frame(feature)
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


def _handle(layer: str, method: str, request: Request, feature, fid: int | None, key: str | None,
            engine: Engine, settings: Settings, scope: Jurisdiction) -> Response:
    table, _ = _LAYERS[layer]
    with engine.begin() as conn:
        replay = idempotency.begin(conn, key, method, request.url.path, feature)
        if replay:
            return _respond(replay.status_code, replay.body, replayed=True)
        existing = None
        if fid is not None:
            existing = fdb.row_by_id(conn, table, fid, scope)
            if existing is None:
                raise NotFound(f"There is no {layer[:-1]} {fid}.")
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
            if moved is not None:
                body["reattributed"] = moved
        idempotency.save(conn, key, method, request.url.path, feature, status, body)
    return _respond(status, body, layer=layer)


_KEY = Header(None, alias="Idempotency-Key", description="Makes a retry of this request safe (24 h).")
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
                engine: Engine = Depends(deps.engine), settings: Settings = Depends(deps.settings),
                scope: Jurisdiction = Depends(deps.jurisdiction)) -> Response:
        return _handle(layer, "PUT", request, feature, fid, key, engine, settings, scope)

    @router.delete(f"/{layer}/{{fid}}", status_code=204,
                   summary=("Delete one station" if layer == "stations" else "Retire a grid's current version"),
                   name=f"delete_{layer[:-1]}")
    def remove(request: Request, fid: int = _ID, key: str | None = _KEY,
               engine: Engine = Depends(deps.engine), settings: Settings = Depends(deps.settings),
               scope: Jurisdiction = Depends(deps.jurisdiction)) -> Response:
        return _handle(layer, "DELETE", request, None, fid, key, engine, settings, scope)


for _layer in _LAYERS:
    _routes(_layer)

