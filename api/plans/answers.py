"""What the plan endpoints and ``gridmap plan`` show: a plan's summary, the list, one plan (grids
and units as GeoJSON with metrics), and its difference from the current grids.

Shapes (JSON; the workbench page loads them):

- summary: ``id``, ``region_code``, ``communities``, ``status``, ``author``, ``params``,
  ``metrics`` (:func:`geo.zoning.plan_metrics`), ``reasons``, ``created_at``, ``updated_at``,
  ``published_at``;
- one plan: the summary plus ``grids`` (a FeatureCollection: ``code``, ``community_code``,
  ``locked``, ``households``, ``status``, metrics) and, when asked, ``units`` (a FeatureCollection:
  ``unit_id``, ``community_code``, ``kind``, ``households``, ``grid``, ``home``);
- diff: ``households_moved``, ``dwellings_moved`` and per grid ``code``, ``community_code``,
  ``change`` (``new``/``changed``/``unchanged``/``closed``), ``households_before``, ``households_after``,
  ``households_in``, ``households_out`` (counted over the dwellings as they are attributed now).
"""

from __future__ import annotations

import json

from sqlalchemy import Connection, select, text

from api.db.models import plans
from api.jurisdiction import Jurisdiction
from api.db import plans as store

__all__ = ["summary", "list_plans", "show_plan", "diff_plan", "STATUSES"]

#: A plan's statuses (frozen in migration 0008).
STATUSES = ("draft", "published", "discarded")


def _iso(t):
    return t.isoformat() if t is not None else None


def plan_totals(conn: Connection, row) -> dict:
    """:func:`geo.zoning.plan_metrics` over the plan's grid rows as they are now (after its edits)."""
    import pandas as pd

    from geo.zoning import plan_metrics

    rows = conn.execute(text("SELECT households, metrics FROM plan_grids WHERE region_code = :r AND plan_id = :p"),
                        {"r": row.region_code, "p": row.id}).all()
    if not rows:
        return {}
    f = pd.DataFrame([{"households": r.households, **(r.metrics or {})} for r in rows])
    for c in ("polsby_popper", "reock", "boundary_m", "street_share"):
        f[c] = pd.to_numeric(f[c], errors="coerce")
    return store.jsonable(plan_metrics(f))


def summary(conn: Connection, row) -> dict:
    """The summary of plan ``row`` (see the module docstring); an edited plan's metrics are its grids' now."""
    metrics = plan_totals(conn, row) if row.updated_at != row.created_at else row.metrics
    return {"id": int(row.id), "region_code": row.region_code, "communities": list(row.community_codes),
            "status": row.status, "author": row.author, "params": row.params, "metrics": metrics,
            "reasons": row.reasons, "created_at": _iso(row.created_at), "updated_at": _iso(row.updated_at),
            "published_at": _iso(row.published_at)}


def list_plans(conn: Connection, scope: Jurisdiction, status: str | None = None) -> list[dict]:
    """Summaries of the plans in ``scope`` (newest first), those of ``status`` when given."""
    q = select(plans)  # in scope: the plan's region or one of its communities (filtered below)
    if status is not None:
        q = q.where(plans.c.status == status)
    rows = conn.execute(q.order_by(plans.c.id.desc())).all()
    return [summary(conn, r) for r in rows if scope.allows(r.region_code, *r.community_codes)]


def grid_features(rows) -> dict:
    feats = [{"type": "Feature", "id": r.code, "geometry": json.loads(r.geojson),
              "properties": {"code": r.code, "community_code": r.community_code, "locked": bool(r.locked),
                             "households": int(r.households), "status": r.status, **(r.metrics or {})}}
             for r in rows]
    return {"type": "FeatureCollection", "features": feats}


def unit_features(conn: Connection, row) -> dict:
    rows = conn.execute(text("""
        SELECT community_code, unit_id, kind, households, grid_code, home_code, ST_AsGeoJSON(geom, 7) AS g
        FROM plan_units WHERE region_code = :r AND plan_id = :p ORDER BY community_code, id"""),
        {"r": row.region_code, "p": row.id}).all()
    feats = [{"type": "Feature", "id": f"{r.community_code}/{r.unit_id}", "geometry": json.loads(r.g),
              "properties": {"unit_id": r.unit_id, "community_code": r.community_code, "kind": r.kind,
                             "households": int(r.households), "grid": r.grid_code, "home": r.home_code}}
             for r in rows]
    return {"type": "FeatureCollection", "features": feats}


def micro_features(conn: Connection, row) -> dict:
    """The plan's micro-grids (drawn with ``micro``; redrawn in a grid a move changed), one collection."""
    rows = conn.execute(text("""SELECT micro FROM plan_grids WHERE region_code = :r AND plan_id = :p
                                AND micro IS NOT NULL ORDER BY code COLLATE "C" """),
                        {"r": row.region_code, "p": row.id}).scalars()
    return {"type": "FeatureCollection", "features": [f for m in rows for f in m["features"]]}


def show_plan(conn: Connection, scope: Jurisdiction, plan_id: int, *, units: bool = False,
              micro: bool = False) -> dict:
    """One plan: its summary, its grids as GeoJSON with metrics and, with ``units``, its units
    (with ``micro``, its micro-grids)."""
    row = store.plan_row(conn, plan_id, scope)
    out = summary(conn, row)
    out["grids"] = grid_features(store.grid_rows(conn, row.region_code, row.id))
    if units:
        out["units"] = unit_features(conn, row)
    if micro:
        out["micro"] = micro_features(conn, row)
    return out


_DIFF = """
    WITH pu AS (
        SELECT u.community_code, u.grid_code AS new_code, unnest(u.dwelling_ids) AS source_id
        FROM plan_units u WHERE u.region_code = :r AND u.plan_id = :p
    ), d AS (
        SELECT pu.community_code, pu.new_code, d.grid_code AS old_code, d.households
        FROM pu JOIN dwellings d ON d.region_code = :r AND d.source_id = pu.source_id
    )
    SELECT community_code, old_code, new_code, count(*) AS dwellings, sum(households) AS households
    FROM d GROUP BY 1, 2, 3
"""


def diff_plan(conn: Connection, scope: Jurisdiction, plan_id: int) -> dict:
    """The plan against the current grids of its communities (module docstring)."""
    row = store.plan_row(conn, plan_id, scope)
    flows = conn.execute(text(_DIFF), {"r": row.region_code, "p": row.id}).all()
    current = {(r.community_code, r.code) for r in conn.execute(text(
        "SELECT community_code, code FROM grids WHERE region_code = :r AND valid_to IS NULL "
        "AND community_code = ANY(:c)"), {"r": row.region_code, "c": list(row.community_codes)})}
    plan_codes = {(r.community_code, r.code) for r in store.grid_rows(conn, row.region_code, row.id)}
    per: dict = {}

    def slot(comm, code):
        return per.setdefault((comm, code), {"code": code, "community_code": comm, "households_before": 0,
                                             "households_after": 0, "households_in": 0, "households_out": 0})

    moved_hh = moved_dw = 0
    for f in flows:
        h = int(f.households)
        slot(f.community_code, f.new_code)["households_after"] += h
        if f.old_code is not None:
            slot(f.community_code, f.old_code)["households_before"] += h
        if f.old_code != f.new_code:
            moved_hh += h
            moved_dw += int(f.dwellings)
            slot(f.community_code, f.new_code)["households_in"] += h
            if f.old_code is not None:
                slot(f.community_code, f.old_code)["households_out"] += h
    for key in current | plan_codes:
        slot(*key)
    for key, s in per.items():
        s["change"] = ("closed" if key not in plan_codes else "new" if key not in current
                       else "changed" if s["households_in"] or s["households_out"] else "unchanged")
    grids = sorted(per.values(), key=lambda s: (s["community_code"], s["code"].encode()))
    return {"id": int(row.id), "households_moved": moved_hh, "dwellings_moved": moved_dw, "grids": grids}
