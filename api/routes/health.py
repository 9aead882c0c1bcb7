"""Liveness and database status: answered by the process even when the database is down."""

from fastapi import APIRouter, Depends
from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

from api import deps
from api.db.migrate import current

router = APIRouter(tags=["meta"])


@router.get("/health")
def health(engine: Engine = Depends(deps.engine)) -> dict:
    """``status`` ``ok`` when the database answers, ``degraded`` when it does not (the process is
    up either way, so the answer is 200); ``database`` says which, with PostGIS and the schema."""
    try:
        with engine.connect() as conn:
            postgis = conn.execute(text("SELECT postgis_lib_version()")).scalar()
            schema = sorted(current(engine))
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", exc)).strip().splitlines()
        return {"status": "degraded", "database": {"state": "unavailable", "reason": reason[0] if reason else ""}}
    return {"status": "ok", "postgis": postgis, "schema": schema, "database": {"state": "up"}}
