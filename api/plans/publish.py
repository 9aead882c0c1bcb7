"""Publishing a plan (its grids become the communities' grids) and discarding one.

Publish is ONE transaction: the plan is checked against its base (:func:`api.plans.inputs.changes_since`:
a stale plan is refused with what changed), then its grids go through the import service
(:func:`api.imports.import_frame`, ``replace=True``) with ``valid_from`` the transaction's time:
a grid whose boundary changed gets a new version and its old one ``valid_to`` = that time, a code
the plan no longer has is closed at that time, an unchanged grid stays as it is; the load re-attributes
dwellings (current grids) and incidents (the version valid at ``reported_at``: those reported
before the publish keep their grid) with :mod:`api.db.load.reattribute`.  The writes move
``data_versions``, which the coverage caches are keyed on, so coverage answers follow.  Any
failure rolls everything back.
"""

from __future__ import annotations

import geopandas as gpd
from shapely import wkb
from sqlalchemy import Engine, text

from api import i18n
from api.db import idempotency
from api.errors import PlanClosed, StalePlan
from api.jurisdiction import Jurisdiction
from api.db import plans as store
from api.plans.inputs import changes_since, fingerprint
from api.settings import Settings
from geo.errors import Problem

__all__ = ["publish_plan", "discard_plan", "plan_grid_frame"]



def plan_grid_frame(conn, row, valid_from, lang: str | None = None) -> gpd.GeoDataFrame:
    """The plan's grids as a grids layer frame (EPSG:4326): a code that has a version keeps its
    name, town, chief, worker and phone; a new code is named after its community."""
    rows = conn.execute(text("""
        SELECT pg.code, pg.community_code, ST_AsBinary(pg.geom) AS wkb, last.name, last.chief, last.worker, last.phone,
               COALESCE(last.town_code, a.parent_code) AS town_code, a.name AS community_name
        FROM plan_grids pg
        LEFT JOIN areas a ON a.region_code = pg.region_code AND a.code = pg.community_code AND a.level = 'community'
        LEFT JOIN LATERAL (SELECT g.name, g.chief, g.worker, g.phone, g.town_code FROM grids g
                           WHERE g.region_code = pg.region_code AND g.code = pg.code
                           ORDER BY g.valid_to DESC NULLS FIRST LIMIT 1) last ON true
        WHERE pg.region_code = :r AND pg.plan_id = :p ORDER BY pg.code COLLATE "C"
    """), {"r": row.region_code, "p": row.id}).all()
    recs = []
    for r in rows:
        n = r.code.rsplit("-", 1)[-1]
        name = r.name or i18n.t("plans.grid_name", lang, community=r.community_name or r.community_code, n=n)
        recs.append({"region_code": row.region_code, "code": r.code, "name": name,
                     "community_code": r.community_code, "town_code": r.town_code, "chief": r.chief,
                     "worker": r.worker, "phone": r.phone, "valid_from": valid_from,
                     "geometry": wkb.loads(bytes(r.wkb))})
    return gpd.GeoDataFrame(recs, geometry="geometry", crs=4326)


def publish_plan(engine: Engine, settings: Settings, scope: Jurisdiction, plan_id: int, *, live=None,
                 key: str | None = None, path: str = "", before_commit=None) -> tuple[int, dict, bool]:
    """Publish draft ``plan_id``; returns ``(status, answer, replayed)``.

    The answer: ``id``, ``published_at``, ``grids`` (``added``, ``new_versions``, ``closed``,
    ``unchanged`` counts) and ``reattributed`` (``dwellings``, ``incidents``).
    ``before_commit(conn)`` runs last inside the transaction (tests force a failure there).

    Raises
    ------
    api.errors.StalePlan
        The plan's communities changed since it was made (409, ``errors`` say what changed).
    api.errors.PlanClosed
        The plan is not a draft.
    """
    from api.imports import import_frame

    with engine.begin() as conn:
        replay = idempotency.begin(conn, key, "POST", path, {})
        if replay:
            return replay.status_code, replay.body, True
        row = store.plan_row(conn, plan_id, scope, lock=True)
        if row.status != "draft":
            raise PlanClosed(f"Plan {plan_id} is {row.status}; only a draft can be published.")
        conn.execute(text("SELECT pg_advisory_xact_lock(hashtextextended('gridmap-publish-' || :r, 7))"),
                     {"r": row.region_code})  # one publish of a region at a time: the check below holds
        changed = changes_since(row.base, fingerprint(conn, row.region_code, list(row.community_codes)))
        if changed:
            raise StalePlan(f"Plan {plan_id} was made from data that changed since; make a new plan "
                            "(gridmap plan create) and publish that.",
                            [Problem(c, field="communities") for c in changed])
        at = conn.execute(text("SELECT now()")).scalar_one()
        frame = plan_grid_frame(conn, row, at)
        report = import_frame(conn, "grids", frame, settings, region_code=row.region_code, replace=True)
        store.touch(conn, row.region_code, row.id, status="published", published_at=at)
        answer = {"id": int(row.id), "published_at": at.isoformat(),
                  "grids": {"added": report.added, "new_versions": report.new_versions, "closed": report.closed,
                            "unchanged": report.unchanged + report.updated},
                  "reattributed": {"dwellings": report.dwellings_reattributed,
                                   "incidents": report.incidents_reattributed}}
        if before_commit is not None:
            before_commit(conn)
        idempotency.save(conn, key, "POST", path, {}, 200, answer)
    if live is not None:
        live.drop(plan_id)
    return 200, answer, False


def discard_plan(engine: Engine, scope: Jurisdiction, plan_id: int, *, live=None, key: str | None = None,
                 path: str = "") -> tuple[int, dict, bool]:
    """Discard draft ``plan_id`` (kept, marked ``discarded``; a discarded plan cannot change)."""
    with engine.begin() as conn:
        replay = idempotency.begin(conn, key, "DELETE", path, {})
        if replay:
            return replay.status_code, replay.body, True
        row = store.plan_row(conn, plan_id, scope, lock=True)
        if row.status != "draft":
            raise PlanClosed(f"Plan {plan_id} is {row.status}; only a draft can be discarded.")
        store.touch(conn, row.region_code, row.id, status="discarded")
        answer = {"id": int(row.id), "status": "discarded"}
        idempotency.save(conn, key, "DELETE", path, {}, 200, answer)
    if live is not None:
        live.drop(plan_id)
    return 200, answer, False
