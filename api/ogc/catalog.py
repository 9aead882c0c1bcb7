"""The catalog of collections: tipg's pool and collection index over the ``ogc`` schema only.

Opened in gridmap's lifespan (:func:`open_catalog`) from the engine gridmap already made from its
one settings object (``GRIDMAP_DATABASE_URL`` or the embedded cluster): no second set of
variables.  tipg reads only the views of schema ``ogc`` (migration ``0009_ogc``) and no functions,
so PostGIS's own functions (``st_hexagongrid`` ...) never become collections.  Collection ids are
the view names (``grids``, not ``ogc.grids``).
"""

from __future__ import annotations

import datetime as dt

from fastapi import FastAPI
from sqlalchemy import Engine
from tipg.collections import Catalog, PgCollection, pg_get_collection_index
from tipg.database import close_db_connection, connect_to_db
from tipg.settings import DatabaseSettings, PostgresSettings

from api.jurisdiction import PERSONAL_FIELDS
from api.settings import Settings

__all__ = ["SCHEMA", "COLLECTIONS", "open_catalog", "close_catalog", "refresh_catalog"]

SCHEMA = "ogc"
#: The collections (views of schema ``ogc``) -> the stored table each reads (its personal fields).
COLLECTIONS: dict[str, str] = {
    "areas": "areas", "towns": "areas", "communities": "areas", "grids": "grids", "grid_versions": "grids",
    "dwellings": "dwellings", "stations": "stations", "streets": "streets", "incidents": "incidents",
}
#: The column ``datetime=`` filters (grid versions: their validity, api.ogc.scope).
DATETIME_COLUMN = {"incidents": "reported_at", "grids": "valid_from", "grid_versions": "valid_from",
                   "stations": "opened_on"}
POOL_MAX = 8
CONNECT_TIMEOUT_S = 2  # as the engine's (api.db.engine.make_engine)


def _async_url(engine: Engine) -> str:
    url = engine.url.set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


def _db_settings() -> DatabaseSettings:
    return DatabaseSettings(schemas=[SCHEMA], functions=[], tables=None, exclude_tables=None,
                            exclude_table_schemas=None, exclude_functions=None, exclude_function_schemas=None,
                            spatial_extent=False, datetime_extent=False, only_spatial_tables=True,
                            _env_file=None)


def _bare(c: PgCollection) -> PgCollection | None:
    """A catalog entry under its view's name, its datetime column chosen, personal fields left out."""
    if c.table not in COLLECTIONS:
        return None
    hidden = PERSONAL_FIELDS.get(COLLECTIONS[c.table], frozenset())
    pk = c.id_column.name if c.id_column is not None else None  # the feature's id, not a property
    keep = [p for p in c.properties if p.name not in hidden and p.name != pk]
    when = next((p for p in c.table_columns if p.name == DATETIME_COLUMN.get(c.table)), c.datetime_column)
    return c.model_copy(update={"id": c.table, "title": c.table, "properties": keep, "datetime_column": when})


async def refresh_catalog(app: FastAPI) -> None:
    """Read the ``ogc`` views into ``app.state.collection_catalog`` (tipg's catalog)."""
    async with app.state.pool.acquire() as conn:
        found = await pg_get_collection_index(conn, settings=_db_settings())
    entries = [b for b in (_bare(c) for c in found) if b is not None]
    app.state.collection_catalog = Catalog(collections={c.id: c for c in entries},
                                           last_updated=dt.datetime.now())


async def open_catalog(app: FastAPI, engine: Engine, settings: Settings) -> None:
    """Open tipg's asyncpg pool on gridmap's database and register the catalog."""
    timeout_ms = str(int(settings.statement_timeout_s * 1000))
    await connect_to_db(app, schemas=[SCHEMA], tipg_schema="pg_temp",
                        settings=PostgresSettings(database_url=_async_url(engine), db_min_conn_size=1,
                                                  db_max_conn_size=POOL_MAX, _env_file=None),
                        server_settings={"statement_timeout": timeout_ms}, timeout=CONNECT_TIMEOUT_S)
    await refresh_catalog(app)


async def close_catalog(app: FastAPI) -> None:
    if getattr(app.state, "pool", None) is not None:
        await close_db_connection(app)
