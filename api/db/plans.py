"""The rows of a plan: writing a redraw's units and grids, reading them back, rebuilding a live
:class:`geo.zoning.Partition` from them, and saving the grids a move changed.

Every function works inside the caller's transaction and takes the plan's ``region_code`` with its
id (the tables' keys include it).  Geometry is stored in EPSG:4326; the units were built in the
metric CRS recorded on the plan (``plans.crs``), and a partition is rebuilt in that same CRS.
"""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import shapely.geometry
from geoalchemy2.shape import from_shape
from sqlalchemy import Connection, delete, insert, null, select, text, update

from api.db.models import plan_grids, plan_units, plans
from api.errors import NotFound
from api.jurisdiction import Jurisdiction

__all__ = ["plan_row", "insert_plan", "write_community", "write_communities", "grid_values", "grid_rows", "unit_frame", "rebuild_partition",
           "save_grids", "save_units", "save_micro", "set_locked", "touch", "jsonable", "GRID_METRIC_COLUMNS",
           "zoning_params", "copy_home_codes", "grids_with_micro"]

#: Per-grid metrics stored in ``plan_grids.metrics`` (from :func:`geo.zoning.grid_metrics`).
GRID_METRIC_COLUMNS = ("units", "contiguous", "parts", "area_m2", "perimeter_m", "polsby_popper", "reock",
                       "boundary_m", "street_share", "moved_households", "in_band")


def jsonable(v):
    """Plain JSON values from numpy/pandas ones (NaN -> None)."""
    if isinstance(v, dict):
        return {str(k): jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [jsonable(x) for x in v]
    if isinstance(v, (np.bool_, bool)):
        return bool(v)
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating, float)):
        return None if not math.isfinite(float(v)) else round(float(v), 6)
    return v


def plan_row(conn: Connection, plan_id: int, scope: Jurisdiction, *, lock: bool = False):
    """The plan's row in ``scope`` (``FOR UPDATE`` with ``lock``).

    Raises
    ------
    NotFound
        No plan ``plan_id`` in scope.
    """
    q = select(plans).where(plans.c.id == plan_id)  # scope: its region or one of its communities (below)
    if lock:
        q = q.with_for_update()
    row = conn.execute(q).one_or_none()
    if row is None or not scope.allows(row.region_code, *row.community_codes):
        raise NotFound(f"There is no plan {plan_id}.")
    return row


def insert_plan(conn: Connection, *, region_code: str, communities: list[str], params: dict, author: str,
                crs: str, base: dict) -> int:
    return conn.execute(insert(plans).values(
        region_code=region_code, community_codes=list(communities), params=params, author=author, crs=crs,
        base=base).returning(plans.c.id)).scalar_one()


def _multi(geom):
    return geom if geom.geom_type == "MultiPolygon" else shapely.MultiPolygon([geom]) if geom.geom_type == "Polygon" \
        else shapely.MultiPolygon([g for g in shapely.get_parts(geom) if g.geom_type == "Polygon"])


def _copy_text(v) -> str:
    """One field of ``COPY ... FROM STDIN`` (text format): ``\\N`` for NULL, backslash escapes."""
    if v is None:
        return "\\N"
    return str(v).replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def _array_literal(items) -> str:
    """A ``text[]`` literal of ``items`` (each element quoted, ``"`` and ``\\`` escaped)."""
    return "{" + ",".join('"' + str(x).replace("\\", "\\\\").replace('"', '\\"') + '"' for x in items) + "}"


_UNIT_COLUMNS = ("region_code", "plan_id", "community_code", "unit_id", "kind", "block", "households",
                 "dwelling_ids", "grid_code", "home_code", "geom")


def write_community(conn: Connection, region_code: str, plan_id: int, community, locked: set) -> None:
    """Store one :class:`geo.zoning.CommunityPlan`: its units (grid and home grid) and its grids."""
    write_communities(conn, region_code, plan_id, [community], locked)


def write_communities(conn: Connection, region_code: str, plan_id: int, communities, locked: set) -> None:
    """Store :class:`geo.zoning.CommunityPlan` s, in the order given: their units (grid and home
    grid) in one ``COPY`` (ids follow the units' order), their grids in one multi-row insert.

    (A statement per community cost ~20 ms each for the city's 333, most of it JSON decoding of the
    units; the audit triggers fire once per statement and still log every row.)
    """
    import io

    from geo.zoning.units import to_lonlat_geoms

    communities = list(communities)
    buf = io.StringIO()
    r = _copy_text(region_code)
    for community in communities:
        p = community.partition
        u = p.units
        if not len(u):
            continue
        labels = np.asarray([_copy_text(x) for x in p.labels] + ["\\N"], dtype=object)
        grid = labels[np.asarray(p.grid_of, dtype=np.int64)]
        home = labels[np.where(p.home >= 0, p.home, len(p.labels))]
        geoms = shapely.set_srid(to_lonlat_geoms(u.geometry, u.crs), 4326)
        wkb = shapely.to_wkb(geoms, hex=True, include_srid=True)
        head = f"{r}\t{int(plan_id)}\t{_copy_text(community.community)}\t"
        for i, (uid, kind, block, hh, dws) in enumerate(zip(u.ids.tolist(), u.kind.tolist(), u.block.tolist(),
                                                            u.households.tolist(), u.dwelling_ids)):
            buf.write(f"{head}{_copy_text(uid)}\t{_copy_text(kind)}\t{int(block)}\t{int(hh)}\t"
                      f"{_copy_text(_array_literal(dws or []))}\t{grid[i]}\t{home[i]}\t{wkb[i]}\n")
    if buf.tell():
        buf.seek(0)
        cur = conn.connection.driver_connection.cursor()
        try:
            cur.copy_expert(f"COPY plan_units ({', '.join(_UNIT_COLUMNS)}) FROM STDIN", buf)
        finally:
            cur.close()
    rows = [{"region_code": region_code, "plan_id": plan_id, "community_code": c.community,
             "locked": v["code"] in locked, **v}
            for c in communities for v in grid_values(c.partition, range(len(c.partition.labels)))]
    if rows:
        conn.execute(insert(plan_grids), rows)
    for community in communities:
        if community.micro is not None and len(community.micro):
            save_micro(conn, region_code, plan_id, community.micro)


def save_micro(conn: Connection, region_code: str, plan_id: int, micro: gpd.GeoDataFrame) -> None:
    """Store each grid's micro-grids (a FeatureCollection: ``label``, ``households``, ``status``,
    ``contiguous``, ``dwelling_ids``) in ``plan_grids.micro``."""
    for grid, part in micro.groupby("grid", sort=True):
        feats = [{"type": "Feature", "id": str(r.label), "geometry": shapely.geometry.mapping(r.geometry),
                  "properties": jsonable({"label": str(r.label), "grid": str(grid), "households": int(r.households),
                                          "status": str(r.status), "contiguous": bool(r.contiguous),
                                          "dwelling_ids": [str(d) for d in r.dwelling_ids]})}
                 for r in part.itertuples(index=False)]
        conn.execute(update(plan_grids).where(
            plan_grids.c.region_code == region_code, plan_grids.c.plan_id == plan_id, plan_grids.c.code == str(grid))
            .values(micro={"type": "FeatureCollection", "features": feats}))


def _grid_values(p, grids, metrics: pd.DataFrame) -> list[dict]:
    """Row values of ``grids``; ``metrics``: their :func:`geo.zoning.grid_metrics` rows, same order."""
    polys = p.polygons(list(grids))
    out = []
    for i, (g, poly) in enumerate(zip(grids, polys)):
        m = metrics.iloc[i]
        out.append({"code": p.labels[g], "households": int(m["households"]), "status": str(m["status"]),
                    "metrics": jsonable({c: m[c] for c in GRID_METRIC_COLUMNS}),
                    "geom": from_shape(_multi(shapely.make_valid(poly)), srid=4326)})
    return out


def grid_values(p, grids) -> list[dict]:
    """Row values (``code``, ``households``, ``status``, ``metrics``, ``geom``) of ``grids`` (indices
    into ``p.labels``) of a partition."""
    from geo.zoning import grid_metrics

    grids = list(grids)
    return _grid_values(p, grids, grid_metrics(p, grids)) if grids else []


def save_grids(conn: Connection, region_code: str, plan_id: int, community_code: str, p, grids, *,
               locked: set = frozenset(), new: bool = False) -> None:
    """Write (``new``) or update the rows of ``grids`` (indices into ``p.labels``) of a community."""
    grids = list(grids)
    if not grids:
        return
    values = grid_values(p, grids)
    if new:
        conn.execute(insert(plan_grids), [
            {"region_code": region_code, "plan_id": plan_id, "community_code": community_code,
             "locked": v["code"] in locked, **v} for v in values])
        return
    for v in values:
        conn.execute(update(plan_grids).where(
            plan_grids.c.region_code == region_code, plan_grids.c.plan_id == plan_id,
            plan_grids.c.code == v["code"]).values(households=v["households"], status=v["status"],
                                                   metrics=v["metrics"], geom=v["geom"],
                                                   micro=null()))  # an edited grid's micro-grids no longer fit
                                                                 # (the move redraws them: api/plans/live.py)


def delete_grid(conn: Connection, region_code: str, plan_id: int, code: str) -> None:
    """Remove grid ``code`` (left without units by a merge) from a plan."""
    conn.execute(delete(plan_grids).where(plan_grids.c.region_code == region_code, plan_grids.c.plan_id == plan_id,
                                          plan_grids.c.code == code))


def save_units(conn: Connection, region_code: str, plan_id: int, community_code: str, unit_ids, grid: str) -> None:
    """Assign ``unit_ids`` of a community to ``grid``."""
    if unit_ids:
        conn.execute(update(plan_units).where(
            plan_units.c.region_code == region_code, plan_units.c.plan_id == plan_id,
            plan_units.c.community_code == community_code, plan_units.c.unit_id.in_(list(unit_ids)))
            .values(grid_code=grid))


def grid_rows(conn: Connection, region_code: str, plan_id: int, community_code: str | None = None) -> list:
    """The plan's grids (``geojson``: the polygon as GeoJSON text, 7 decimals), by community and code."""
    q = select(plan_grids.c.community_code, plan_grids.c.code, plan_grids.c.locked, plan_grids.c.households,
               plan_grids.c.status, plan_grids.c.metrics,
               text("ST_AsGeoJSON(plan_grids.geom, 7) AS geojson")).where(
        plan_grids.c.region_code == region_code, plan_grids.c.plan_id == plan_id)
    if community_code is not None:
        q = q.where(plan_grids.c.community_code == community_code)
    return conn.execute(q.order_by(plan_grids.c.community_code, text('plan_grids.code COLLATE "C"'))).all()


def unit_frame(conn: Connection, region_code: str, plan_id: int, community_code: str | None = None) -> gpd.GeoDataFrame:
    """The plan's units (EPSG:4326): ``community_code``, ``unit_id``, ``kind``, ``block``,
    ``households``, ``dwelling_ids``, ``grid_code``, ``home_code``, geometry; in stored order."""
    where = "region_code = :r AND plan_id = :p" + (" AND community_code = :c" if community_code else "")
    f = gpd.read_postgis(text(f"""
        SELECT community_code, unit_id, kind, block, households, dwelling_ids, grid_code, home_code, geom
        FROM plan_units WHERE {where} ORDER BY community_code, id"""), conn, geom_col="geom",
        params={"r": region_code, "p": plan_id, "c": community_code})
    return f.rename_geometry("geometry")


def rebuild_partition(conn: Connection, row, community_code: str):
    """The live :class:`geo.zoning.Partition` of one community of plan ``row``, from its rows."""
    from geo.zoning import Partition, units_from_frame

    units_f = unit_frame(conn, row.region_code, row.id, community_code)
    if units_f.empty:
        raise NotFound(f"Plan {row.id} has no community {community_code}.")
    g = conn.execute(select(plan_grids.c.code, plan_grids.c.locked).where(
        plan_grids.c.region_code == row.region_code, plan_grids.c.plan_id == row.id,
        plan_grids.c.community_code == community_code).order_by(text('plan_grids.code COLLATE "C"'))).all()
    labels = [r.code for r in g]
    index = {c: i for i, c in enumerate(labels)}
    units = units_from_frame(units_f, row.crs)
    assign = np.array([index[c] for c in units_f["grid_code"]], dtype=np.int64)
    home = np.array([-1 if h is None else index.get(h, -2) for h in units_f["home_code"]], dtype=np.int64)
    params = zoning_params(row)
    return Partition(units, assign, labels, params.bounds, locked=[r.code for r in g if r.locked], home=home)


def zoning_params(row):
    """The :class:`geo.zoning.ZoningParams` plan ``row`` was made with."""
    from geo.zoning import ZoningParams

    return ZoningParams(**{k: (tuple(v) if k == "locked" else v) for k, v in row.params.items()
                           if k in ZoningParams.__dataclass_fields__})


def copy_home_codes(conn: Connection, region_code: str, source_id: int, plan_id: int) -> None:
    """Give plan ``plan_id``'s units the published grid (``home_code``) of the same units in plan
    ``source_id`` (a proposal made from a draft: the same units, the same published grids)."""
    conn.execute(text("""
        UPDATE plan_units n SET home_code = o.home_code FROM plan_units o
        WHERE n.region_code = :r AND n.plan_id = :p AND o.region_code = :r AND o.plan_id = :s
          AND o.community_code = n.community_code AND o.unit_id = n.unit_id
          AND n.home_code IS DISTINCT FROM o.home_code"""), {"r": region_code, "p": plan_id, "s": source_id})


def grids_with_micro(conn: Connection, region_code: str, plan_id: int, codes) -> list[str]:
    """Those of ``codes`` that have micro-grids stored, sorted."""
    return sorted(conn.execute(select(plan_grids.c.code).where(
        plan_grids.c.region_code == region_code, plan_grids.c.plan_id == plan_id,
        plan_grids.c.code.in_(list(codes)), plan_grids.c.micro.isnot(None))).scalars())


def set_locked(conn: Connection, region_code: str, plan_id: int, codes, locked: bool) -> int:
    return conn.execute(update(plan_grids).where(
        plan_grids.c.region_code == region_code, plan_grids.c.plan_id == plan_id,
        plan_grids.c.code.in_(list(codes))).values(locked=locked)).rowcount


def touch(conn: Connection, region_code: str, plan_id: int, **values):
    """Set ``values`` and ``updated_at = now()``; returns the new ``updated_at``."""
    return conn.execute(update(plans).where(plans.c.region_code == region_code, plans.c.id == plan_id)
                        .values(updated_at=text("now()"), **values).returning(plans.c.updated_at)).scalar_one()
