"""Liveness and database status."""

from fastapi import APIRouter, Depends
from sqlalchemy import Engine, text

from api import deps
from api.db.migrate import current

router = APIRouter(tags=["meta"])


@router.get("/health")
def health(engine: Engine = Depends(deps.engine)) -> dict:
    with engine.connect() as conn:
        postgis = conn.execute(text("SELECT postgis_lib_version()")).scalar()
    return {"status": "ok", "postgis": postgis, "schema": sorted(current(engine))}
