"""The caller's jurisdiction inside tipg: every collection's ``WHERE`` ANDs it.

:class:`ScopedCollection` is a tipg ``PgCollection`` that carries the request's
:class:`~api.jurisdiction.Jurisdiction` (as a CQL2 expression on the view's scope columns) and the
output CRS; its :meth:`~ScopedCollection.cql_where` ANDs the scope to whatever the request asked
(``filter``, property filters, ``bbox``, ``datetime``, a tile's envelope), so a user filter can only
narrow it.  Items, a single item (tipg reads it through the same ``features`` call) and tiles all
go through ``cql_where``.

:func:`collection` is the ``collection_dependency`` given to tipg: it takes gridmap's
``api.deps.jurisdiction`` (the caller ``api.auth`` built), so every tipg route on a collection is
scoped the same way as the rest of gridmap.
"""

from __future__ import annotations

from typing import Annotated, Any, List, Optional

from cql2 import Expr
from fastapi import Depends, Path, Query, Request
from tipg.collections import Catalog, PgCollection

from api import deps
from api.errors import DatabaseUnavailable, NotFound, ValidationFailed
from api.jurisdiction import Jurisdiction
from api.limits import MAX_OFFSET
from geo.errors import Problem
from api.ogc import crs as ogc_crs

__all__ = ["ScopedCollection", "scope_expr", "scoped", "collection", "bbox", "cql_filter"]

#: Columns holding area codes a jurisdiction is matched on; views of areas also match their own
#: ``code`` and ``parent_code`` (``Jurisdiction.clause`` does the same for the ``areas`` table).
SCOPE_COLUMNS = ("region_code", "town_code", "community_code")
AREA_COLLECTIONS = frozenset({"areas", "towns", "communities"})
#: Collections whose ``datetime`` is the validity of a version (``valid_from``/``valid_to``).
VALIDITY_COLLECTIONS = frozenset({"grid_versions"})
FILTER_LANGS = ("cql2-text", "cql2-json", "cql-text")
#: The query parameters of ``/collections/{id}/items`` besides property names (tipg's and Part 2's).
ITEMS_PARAMS = frozenset({"f", "ids", "datetime", "bbox", "bbox-crs", "crs", "properties", "filter", "filter-lang",
                          "geom-column", "datetime-column", "limit", "offset", "bbox-only", "simplify", "sortby",
                          "lang"})


def scope_expr(scope: Jurisdiction, collection_id: str, columns: set[str]) -> Expr | None:
    """The CQL2 condition keeping a collection's rows inside ``scope`` (``None``: everywhere).

    The same rule as :meth:`Jurisdiction.clause`: a row is in scope when one of its area-code
    columns holds one of the codes; ``scope.grids`` further narrows rows that carry a ``grid_code``.
    """
    if scope.codes is None:
        return None
    cols = [c for c in SCOPE_COLUMNS if c in columns]
    if collection_id in AREA_COLLECTIONS:
        cols += [c for c in ("code", "parent_code") if c in columns]
    codes = sorted(scope.codes)
    if not codes or not cols:
        return Expr(False)
    anyof = [{"op": "in", "args": [{"property": c}, codes]} for c in cols]
    cond: dict[str, Any] = anyof[0] if len(anyof) == 1 else {"op": "or", "args": anyof}
    if scope.grids is not None and "grid_code" in columns:
        grids = sorted(scope.grids)
        narrow = {"op": "in", "args": [{"property": "grid_code"}, grids]} if grids else False
        cond = {"op": "and", "args": [cond, narrow]}
    return Expr(cond)


class ScopedCollection(PgCollection):
    """A collection as one caller sees it: rows in its jurisdiction, geometry in its CRS."""

    scope_where: Optional[Any] = None  # cql2.Expr; Any: pydantic has no schema for it
    bbox_where: Optional[Any] = None  # a bbox given in a projected bbox-crs, exactly (cql2.Expr)
    out_crs: ogc_crs.Crs = ogc_crs.Crs(ogc_crs.CRS84, 4326, False)

    model_config = {"arbitrary_types_allowed": True}

    def cql_where(self, ids=None, datetime=None, bbox=None, properties=None, cql=None, geom=None, dt=None,
                  tile=None, tms=None):
        validity = None
        for v in datetime or ():
            _check_time(v)
        if datetime and self.id in VALIDITY_COLLECTIONS:
            validity, datetime = _validity(datetime), None
        where = super().cql_where(ids=ids, datetime=datetime, bbox=bbox, properties=properties, cql=cql,
                                  geom=geom, dt=dt, tile=tile, tms=tms)
        for extra in (validity, self.bbox_where if bbox is not None else None, self.scope_where):
            if extra is not None:
                where = extra if where is None else where + extra
        return where

    def _geom_expr(self, geometry_column, bbox_only, simplify):
        g = super()._geom_expr(geometry_column, bbox_only, simplify)
        return g if g is None or self.out_crs.stored else ogc_crs.geometry_sql(g, self.out_crs)


def _check_time(v: str) -> None:
    """422 for a ``datetime`` end that is neither open (``..``, empty) nor an RFC 3339 date-time."""
    from tipg.collections import parse_rfc3339  # the parser tipg's own datetime filter uses

    if v in ("..", ""):
        return
    try:
        parse_rfc3339(v)
    except ValueError:
        raise ValidationFailed(f"datetime={v!r} is not an RFC 3339 date-time (e.g. 2026-01-01T00:00:00Z; "
                               "an interval is start/end, '..' for an open end).") from None


def _validity(datetime: list[str]) -> Expr:
    """Versions valid at an instant, or whose validity overlaps an interval (``..`` open)."""

    def ts(v):
        return {"timestamp": v}

    start, end = (datetime[0], datetime[0]) if len(datetime) == 1 else (datetime[0], datetime[1])
    open_s, open_e = start in ("..", ""), end in ("..", "")
    if open_s and open_e:
        raise ValidationFailed("datetime=../.. is not an interval: give at least one end.")
    args = []
    if not open_e:  # began by the end (at the instant)
        args.append({"op": "<=", "args": [{"property": "valid_from"}, ts(end)]})
    if not open_s:  # not ended before the start
        args.append({"op": "or", "args": [{"op": "isNull", "args": [{"property": "valid_to"}]},
                                          {"op": ">", "args": [{"property": "valid_to"}, ts(start)]}]})
    return Expr(args[0] if len(args) == 1 else {"op": "and", "args": args})


def _catalog(request: Request) -> Catalog:
    catalog = getattr(request.app.state, "collection_catalog", None)
    if catalog is None:
        raise DatabaseUnavailable("The OGC API catalog is not loaded (the database was unreachable at start-up); "
                                  "restart gridmap once the database is up.")
    return catalog


def scoped(base: PgCollection, scope: Jurisdiction, out: ogc_crs.Crs | None = None) -> ScopedCollection:
    """``base`` (from the catalog) as seen by ``scope``, output in ``out`` (CRS84 by default)."""
    columns = {c.name for c in base.table_columns}
    fields = {k: getattr(base, k) for k in type(base).model_fields}
    fields["schema"] = fields.pop("dbschema")
    return ScopedCollection(**fields, scope_where=scope_expr(scope, base.id, columns),
                            out_crs=out or ogc_crs.parse(None, "crs"))


def collection(
    request: Request,
    scope: deps.ScopeDep,
    collectionId: Annotated[str, Path(description="Collection identifier (see /collections)")],
    crs: Annotated[Optional[str], Query(description="CRS of the answer's geometries (a URI from the "
                                                    "collection's crs list; default CRS84)")] = None,
) -> ScopedCollection:
    """tipg's ``collection_dependency``: the collection, scoped to the caller, in the CRS asked."""
    base = _catalog(request)["collections"].get(collectionId)
    if base is None:
        raise NotFound(f"There is no collection {collectionId!r}; see /collections.")
    _check_integers(request, base)
    if request.url.path.endswith("/items"):
        props = {p.name for p in base.properties}
        unknown = [k for k in request.query_params if k.lower() not in ITEMS_PARAMS and k not in props]
        if unknown:
            raise ValidationFailed(f"Unknown query parameter {unknown[0]!r} for collection {collectionId!r}; "
                                   "filter on its properties (" + ", ".join(sorted(props - {"geom"}))
                                   + ") by name, or with filter=... (CQL2, see its /queryables).")
    out = ogc_crs.parse(crs, "crs")
    request.state.content_crs = out.uri
    c = scoped(base, scope, out)
    box, box_crs = request.query_params.get("bbox"), request.query_params.get("bbox-crs")
    if box and box_crs:
        # tipg's bbox (from bbox() below) is the lon/lat envelope, for the index; this the exact box
        poly = ogc_crs.bbox_polygon(_numbers(box), ogc_crs.parse(box_crs, "bbox-crs"))
        if poly is not None and c.geometry_column is not None:
            c.bbox_where = Expr({"op": "s_intersects", "args": [{"property": c.geometry_column.name}, poly]})
    return c


def _check_integers(request: Request, base: PgCollection) -> None:
    """``offset`` and ``limit`` within what the database takes (422 naming them); an item id beyond
    bigint is no item (404), not a database error."""
    for name in ("offset", "limit"):
        raw = request.query_params.get(name)
        if raw is not None and raw.strip().lstrip("+").isdigit() and int(raw) > MAX_OFFSET:
            raise ValidationFailed(f"{name}={raw} is beyond {MAX_OFFSET:,}.",
                                   [Problem(reason=f"at most {MAX_OFFSET:,}", field=f"query.{name}")])
    item = request.path_params.get("itemId")
    if item is not None and item.lstrip("-").isdigit() and abs(int(item)) > 2**63 - 1:  # every view's id is bigint
        raise NotFound(f"Collection {base.id!r} has no feature {item!r}.")


def _numbers(bbox: str) -> list[float]:
    try:
        nums = [float(p) for p in bbox.split(",")]
    except ValueError:
        raise ValidationFailed(f"bbox={bbox!r}: expected four numbers minx,miny,maxx,maxy.") from None
    if len(nums) not in (4, 6):
        raise ValidationFailed(f"bbox={bbox!r}: expected four numbers minx,miny,maxx,maxy, got {len(nums)}.")
    return nums


def bbox(
    request: Request,
    bbox: Annotated[Optional[str], Query(description="minx,miny,maxx,maxy (CRS84 lon/lat; else in bbox-crs "
                                                     "and its axis order)")] = None,
    bbox_crs: Annotated[Optional[str], Query(alias="bbox-crs", description="CRS of bbox (default CRS84)")] = None,
) -> Optional[List[float]]:
    """The ``bbox`` parameter (tipg's ``bbox_query`` replaced by this): in ``bbox-crs``, returned as
    lon/lat bounds in EPSG:4326; 422 saying what is wrong."""
    if not bbox:
        return None
    nums = _numbers(bbox)
    where = ogc_crs.parse(bbox_crs, "bbox-crs")
    box = ogc_crs.bbox_to_stored(nums, where)
    minx, miny, maxx, maxy = box
    if not (-180 <= minx <= 180 and -180 <= maxx <= 180 and -90 <= miny <= 90 and -90 <= maxy <= 90):
        raise ValidationFailed(f"bbox={bbox!r}: longitudes must lie in [-180, 180] and latitudes in [-90, 90] "
                               "(is it lat/lon instead of lon/lat? or give bbox-crs).")
    if minx > maxx or miny > maxy:
        raise ValidationFailed(f"bbox={bbox!r}: the minimum exceeds the maximum (order is minx,miny,maxx,maxy).")
    return box


def cql_filter(
    query: Annotated[Optional[str], Query(alias="filter", description="CQL2 filter (cql2-text by default), e.g. "
                                          "households > 100; it can only narrow what the caller may see")] = None,
    filter_lang: Annotated[Optional[str], Query(alias="filter-lang", description="cql2-text (default), cql2-json, "
                                                "or cql-text (the drafts' name of cql2-text)")] = None,
) -> Optional[Expr]:
    """The ``filter`` parameter (tipg's ``filter_query`` replaced by this): parsed by cql2 as tipg
    does, a 422 saying where it fails when it is not CQL2."""
    if query is None:
        return None
    if filter_lang not in (None, *FILTER_LANGS):
        raise ValidationFailed(f"filter-lang={filter_lang!r}: expected one of " + ", ".join(FILTER_LANGS) + ".")
    try:
        return Expr(Expr(query).to_json())
    except Exception as exc:  # cql2 raises a bare Exception with the parser's message
        raise ValidationFailed(f"filter={query!r} is not a CQL2 expression: "
                               + " ".join(str(exc).split())[:300]) from None
