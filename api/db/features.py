"""Read queries of the features API: GeoJSON built by PostGIS, scoped to the caller's jurisdiction.

Each collection is one of gridmap's layers (``geo.layers``).  PostGIS assembles the features
(``json_build_object`` + ``ST_AsGeoJSON``) and returns them as one JSON text, which the route
wraps without parsing: a 10,000-feature page never becomes Python objects.

Also here: the two deletes of the write API (:func:`delete_station`, :func:`retire_grid`), so that
every write goes through ``api/db``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import (
    Column,
    ColumnElement,
    Connection,
    BigInteger,
    Table,
    and_,
    any_,
    bindparam,
    cast,
    func,
    literal,
    literal_column,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSON, aggregate_order_by
from sqlalchemy.types import Text

from api.db.load import point_grid_id_sql
from api.db.models import areas, dwellings, grids, incidents, stations, streets
from api.jurisdiction import Jurisdiction

#: Decimal places of coordinates in GeoJSON output: 1e-7 degrees is about 1 cm.
PRECISION = 7
MAX_LIMIT = 10_000
DEFAULT_LIMIT = 100


@dataclass(frozen=True)
class Collection:
    """One collection of the features API.

    ``properties`` are the columns served (and filterable by ``?name=value``); ``temporal`` names
    how ``datetime=`` filters it: ``"validity"`` (grid versions valid then; without it, the
    current grids) or a timestamp column.
    """

    id: str
    table: Table
    properties: tuple[str, ...]
    geometry: str
    temporal: str | None = None
    filterable: tuple[str, ...] = field(default_factory=tuple)


def _cols(table: Table, *skip: str) -> tuple[str, ...]:
    drop = {"id", "geom", "footprint", "created_at", "updated_at", *skip}
    return tuple(c.name for c in table.columns if c.name not in drop)


COLLECTIONS: dict[str, Collection] = {
    c.id: c
    for c in (
        Collection("areas", areas, _cols(areas), "MultiPolygon",
                   filterable=("region_code", "code", "level", "parent_code")),
        Collection("grids", grids, _cols(grids) + ("community_name", "households"), "MultiPolygon",
                   temporal="validity",
                   filterable=("region_code", "code", "community_code", "town_code")),
        Collection("dwellings", dwellings, _cols(dwellings), "Point",
                   filterable=("region_code", "source_id", "community_code", "grid_code", "building_type")),
        Collection("stations", stations, _cols(stations), "Point",
                   filterable=("region_code", "source_id", "kind", "community_code")),
        Collection("streets", streets, _cols(streets), "LineString",
                   filterable=("region_code", "source_id", "road_class", "walk", "bike", "drive")),
        Collection("incidents", incidents, _cols(incidents, "grid_id"), "Point", temporal="reported_at",
                   filterable=("region_code", "external_id", "category", "status", "escalation_level",
                               "reporter_kind", "grid_code", "community_code", "town_code",
                               "outside_grid")),
    )
}


@dataclass(frozen=True)
class Interval:
    """A ``datetime=`` filter: an instant (``start is end``) or an interval, either end open."""

    start: datetime | None
    end: datetime | None

    @property
    def instant(self) -> bool:
        return self.start is not None and self.start == self.end


def _households(t: Table) -> ColumnElement:
    """Households of the dwellings that belong to the grid version by the point-in-grid rule
    (``api.db.load.attribution``), same region: for a current version, among the current grids; for
    a past one, among the versions valid when it began.  A dwelling on an edge or vertex that grids
    share counts in one grid only."""
    point = f"{dwellings.name}.geom"
    rule = literal_column(f"CASE WHEN {t.name}.valid_to IS NULL THEN {point_grid_id_sql(point)} "
                          f"ELSE {point_grid_id_sql(point, at=f'{t.name}.valid_from')} END")
    return (
        select(func.coalesce(func.sum(dwellings.c.households), 0))
        .where(dwellings.c.region_code == t.c.region_code, func.ST_Intersects(t.c.geom, dwellings.c.geom),
               t.c.id == rule)
        .scalar_subquery()
    )


def _community_name(t: Table) -> ColumnElement:
    """Name of the grid's community (``areas``, same region), or null."""
    return (
        select(areas.c.name)
        .where(areas.c.region_code == t.c.region_code, areas.c.code == t.c.community_code)
        .limit(1)
        .scalar_subquery()
    )


def _property(coll: Collection, name: str) -> ColumnElement:
    if coll.id == "grids" and name == "households":  # computed; dwellings have their own column
        return _households(coll.table)
    if coll.id == "grids" and name == "community_name":
        return _community_name(coll.table)
    return coll.table.c[name]


def _feature(coll: Collection, scope: Jurisdiction) -> ColumnElement:
    props: list = []
    for name in coll.properties:
        if scope.hides(coll.table.name, name):  # personal fields: only for the roles that need them
            continue
        props += [literal(name), _property(coll, name)]
    return func.json_build_object(
        literal("type"), literal("Feature"),
        literal("id"), coll.table.c.id,
        literal("geometry"), cast(func.ST_AsGeoJSON(coll.table.c.geom, PRECISION), JSON),
        literal("properties"), func.json_build_object(*props),
    )


def _conditions(
    coll: Collection,
    scope: Jurisdiction,
    bbox: tuple[float, float, float, float] | None,
    when: Interval | None,
    filters: dict[str, object] | None,
) -> list[ColumnElement]:
    t = coll.table
    conds: list[ColumnElement] = [scope.clause(t)]
    if bbox is not None:
        conds.append(func.ST_Intersects(t.c.geom, func.ST_MakeEnvelope(*bbox, 4326)))
    if coll.temporal == "validity":
        vf, vt = t.c.valid_from, t.c.valid_to
        if when is None:
            conds += [vf <= func.now(), or_(vt.is_(None), vt > func.now())]
        elif when.instant:
            conds += [vf <= when.start, or_(vt.is_(None), vt > when.start)]
        else:  # versions whose validity overlaps the interval
            if when.end is not None:
                conds.append(vf <= when.end)
            if when.start is not None:
                conds.append(or_(vt.is_(None), vt > when.start))
    elif coll.temporal and when is not None:
        col: Column = t.c[coll.temporal]
        if when.instant:
            conds.append(col == when.start)
        else:
            if when.start is not None:
                conds.append(col >= when.start)
            if when.end is not None:
                conds.append(col <= when.end)
    for name, value in (filters or {}).items():
        conds.append(t.c[name] == value)
    return conds


def count_items(conn: Connection, coll: Collection, scope: Jurisdiction, *,
                bbox=None, when: Interval | None = None, filters=None) -> int:
    """``numberMatched``: features of ``coll`` in ``scope`` passing the filters."""
    conds = _conditions(coll, scope, bbox, when, filters)
    return conn.execute(select(func.count()).select_from(coll.table).where(and_(*conds))).scalar_one()


def ids_param(ids: list[int]):
    """``ids`` as one bigint[] bind parameter (one parameter, whatever the page size)."""
    return bindparam("ids", ids, type_=ARRAY(BigInteger))


def items_json(conn: Connection, coll: Collection, scope: Jurisdiction, *, bbox=None,
               when: Interval | None = None, filters=None, limit: int = DEFAULT_LIMIT,
               offset: int = 0) -> tuple[str, int]:
    """One page of features as a JSON array text (ordered by id) and how many it holds.

    Parameters
    ----------
    bbox : (min_lon, min_lat, max_lon, max_lat), optional
        Degrees, EPSG:4326; features intersecting it.
    when : Interval, optional
        For grids: the versions valid at an instant / overlapping an interval (default: current).
        For incidents: ``reported_at`` at or within it.
    filters : dict, optional
        Property equality filters (names from ``coll.filterable``).
    """
    t = coll.table
    conds = _conditions(coll, scope, bbox, when, filters)
    # Pick the page's ids first, so rows skipped by OFFSET are never turned into GeoJSON, then
    # build the features of exactly those rows (primary-key lookups).
    ids = list(conn.execute(
        select(t.c.id).where(and_(*conds)).order_by(t.c.id).limit(limit).offset(offset)
    ).scalars())
    if not ids:
        return "[]", 0
    page = select(t.c.id.label("fid"), _feature(coll, scope).label("f")).where(t.c.id == any_(ids_param(ids))).subquery()
    row = conn.execute(
        select(
            cast(func.coalesce(func.json_agg(aggregate_order_by(page.c.f, page.c.fid)), text("'[]'::json")), Text),
            func.count(),
        ).select_from(page)
    ).one()
    return row[0], int(row[1])


def item_json(conn: Connection, coll: Collection, fid: int, scope: Jurisdiction) -> str | None:
    """One feature (any grid version) as JSON text; ``None`` if absent or outside ``scope``."""
    t = coll.table
    return conn.execute(
        select(cast(_feature(coll, scope), Text)).where(t.c.id == fid, scope.clause(t))
    ).scalar_one_or_none()


def extent(conn: Connection, coll: Collection, scope: Jurisdiction, *,
           when: Interval | None = None) -> list[float] | None:
    """``[min_lon, min_lat, max_lon, max_lat]`` of the collection's features in scope, or ``None``."""
    conds = _conditions(coll, scope, None, when, None)
    box = func.ST_Extent(coll.table.c.geom)
    row = conn.execute(
        select(func.ST_XMin(box), func.ST_YMin(box), func.ST_XMax(box), func.ST_YMax(box)).where(and_(*conds))
    ).one()
    return None if row[0] is None else [float(v) for v in row]


def kind_counts(conn: Connection, scope: Jurisdiction, region: str | None = None) -> dict[str, int]:
    """Stations in scope (and in county ``region`` when given) by kind, most numerous first."""
    conds = [scope.clause(stations)] + ([stations.c.region_code == region] if region else [])
    rows = conn.execute(
        select(stations.c.kind, func.count()).where(*conds)
        .group_by(stations.c.kind).order_by(func.count().desc(), stations.c.kind)
    )
    return {k: int(n) for k, n in rows}


def row_by_id(conn: Connection, table: Table, fid: int, scope: Jurisdiction, lock: bool = False):
    """The row ``fid`` of ``table`` (all columns, geometry as WKT in ``wkt``) if in ``scope``;
    ``lock``: locked until the transaction ends (concurrent writers of the row wait, then read
    what the first wrote)."""
    q = select(table, func.ST_AsText(table.c.geom).label("wkt")).where(table.c.id == fid, scope.clause(table))
    return conn.execute(q.with_for_update(of=table) if lock else q).one_or_none()


def etag(item_text: str) -> str:
    """The entity tag of one stored feature as served (its GeoJSON text): a strong ETag that
    changes whenever any property or the geometry does."""
    import hashlib

    return '"' + hashlib.sha256(item_text.encode()).hexdigest()[:32] + '"'


def lock_key(conn: Connection, table: Table, region_code: str, value: str) -> None:
    """Hold, until the transaction ends, the lock on one key of ``table`` in ``region_code``:
    writes of that key that take it run one after another (creates: exactly one inserts)."""
    conn.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 16))"),
                 {"k": f"{table.name}\x1f{region_code}\x1f{value}"})


def id_by_key(conn: Connection, table: Table, key: str, region_code: str, value: str,
              current: bool = False) -> int | None:
    """The id of the row whose ``key`` column is ``value`` in ``region_code`` (grids: the current version)."""
    conds = [table.c[key] == value, table.c.region_code == region_code]
    if current:
        conds.append(table.c.valid_to.is_(None))
    return conn.execute(select(table.c.id).where(*conds).order_by(table.c.id.desc()).limit(1)).scalar()


def delete_station(conn: Connection, fid: int, scope: Jurisdiction) -> bool:
    """Delete station ``fid`` if it is in ``scope``; whether a row went."""
    res = conn.execute(stations.delete().where(stations.c.id == fid, scope.clause(stations)))
    return res.rowcount > 0


def retire_grid(conn: Connection, fid: int, scope: Jurisdiction) -> bool:
    """End the current grid version ``fid`` now (``valid_to = now()``): history and incident
    attribution are kept.  Whether a current version in ``scope`` was closed."""
    res = conn.execute(
        update(grids)
        .where(grids.c.id == fid, grids.c.valid_to.is_(None), grids.c.valid_from < func.now(), scope.clause(grids))
        .values(valid_to=func.now())
    )
    return res.rowcount > 0
