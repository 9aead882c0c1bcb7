"""``GET /audit``: the audit log of every write, newest first (admins only, api/auth/roles.py)."""

from __future__ import annotations

from fastapi import APIRouter, Query

from api.deps import EngineDep, IsoDateTime, SettingsDep, query_instant
from api.db.users import audit_rows

router = APIRouter(tags=["admin"])


@router.get("/audit", summary="Audit log: who changed what, when, the row before and after")
def audit(engine: EngineDep, settings: SettingsDep,
          since: IsoDateTime | None = Query(None, description="Rows at or after this time (no offset: GRIDMAP_TIMEZONE)."),
          table: str | None = Query(None, description="Only changes of this table (grids, stations, incidents, ...)."),
          actor: str | None = Query(None, description="Only changes by this actor (a user name, cli:<user>, system)."),
          limit: int = Query(100, ge=1, le=1000), offset: int = Query(0, ge=0, le=2**62)) -> dict:
    with engine.connect() as conn:
        total, rows = audit_rows(conn, since=query_instant("since", since, settings.timezone), table=table, actor=actor,
                                 limit=limit, offset=offset)
    return {"numberMatched": total, "numberReturned": len(rows), "items": rows}
