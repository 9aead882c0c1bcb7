"""Writing validated layers into PostGIS, in the caller's transaction.

Modules: :mod:`~api.db.load.write` (:func:`load_frame`, the one write of a validated layer),
:mod:`~api.db.load.stage` (COPY into a staging table), :mod:`~api.db.load.attribution` (the
point-in-grid rule of :mod:`geo.attribution` rendered in SQL, and point attribution),
:mod:`~api.db.load.grids` (community and overlap checks, versioned upsert, replace, in-place
correction, gaps), :mod:`~api.db.load.reattribute` (re-attribution after a grid write) and
:mod:`~api.db.load.report` (:class:`LoadReport`).  Validation happens above, in the import
service :func:`api.imports.import_frame`.
"""

from api.db.load.attribution import (
    DWELLING_PLACE_SQL,
    INCIDENT_PLACE_COLUMNS,
    INCIDENT_PLACE_VALUES,
    covers_sql,
    incident_place_joins,
    point_grid_id_sql,
    precedence_sql,
    reattribute_dwellings,
)
from api.db.load.grids import GRID_TOLERANCE_M, GRID_TOLERANCE_SHARE
from api.db.load.reattribute import Reattribution, reattribute_after_grid_write, snapshot_grids
from api.db.load.report import REPORT_COLUMNS, LoadReport
from api.db.load.stage import CHUNK_ROWS
from api.db.load.write import POINT_LAYERS, load_frame

__all__ = [
    "load_frame", "LoadReport", "REPORT_COLUMNS", "POINT_LAYERS", "CHUNK_ROWS",
    "GRID_TOLERANCE_M", "GRID_TOLERANCE_SHARE",
    "reattribute_dwellings", "snapshot_grids", "reattribute_after_grid_write", "Reattribution",
    "covers_sql", "precedence_sql", "point_grid_id_sql",
    "incident_place_joins", "INCIDENT_PLACE_COLUMNS", "INCIDENT_PLACE_VALUES", "DWELLING_PLACE_SQL",
]
