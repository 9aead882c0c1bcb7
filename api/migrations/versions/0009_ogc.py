"""OGC API collections: a schema ``ogc`` of views that tipg publishes (``api/ogc``).

One view per collection, nothing else in the schema (tipg is told to read only ``ogc`` and no
functions, so PostGIS's own functions never appear as collections):

- ``areas`` (every level), ``towns``, ``communities``;
- ``grids`` (the current versions, with the community's name and the households attributed to the
  grid) and ``grid_versions`` (every version with ``valid_from``/``valid_to``);
- ``dwellings``, ``stations``, ``streets``, ``incidents``.

Personal fields are not in any view: grid workers' phones (``grids.phone``), exact dwelling
addresses (``dwellings.address``), reporter contacts (none stored yet).  The rule is
``api.jurisdiction.PERSONAL_FIELDS``; ``tests/api/ogc/test_catalog.py`` checks that no view carries
one, and ``api.ogc.catalog`` drops any that a later view would add.  The scope columns
(``region_code``, ``town_code``, ``community_code``, ``grid_code``; areas: ``code``,
``parent_code``) are kept: the caller's jurisdiction is applied on them (``api.ogc.scope``).

Revision ID: 0009_ogc
Revises: 0008_plans
"""

from alembic import op


revision = "0009_ogc"
down_revision = "0008_plans"
branch_labels = None
depends_on = None

#: The current grid holding point d.geom (api.db.load.point_grid_id_sql("d.geom") when written).
POINT_GRID_ID = ('(SELECT _pg.id FROM public.grids _pg WHERE ST_Intersects(_pg.geom, d.geom) AND _pg.valid_to IS NULL '
                 'ORDER BY _pg.code COLLATE "C", _pg.id LIMIT 1)')

#: Frozen column lists (the layers' columns when this revision was written, minus personal fields).
GRID_COLS = "g.id, g.region_code, g.code, g.name, g.community_code, g.town_code, g.chief, g.worker"
VIEWS = {
    "areas": "SELECT id, region_code, code, name, level, parent_code, geom FROM public.areas",
    "towns": "SELECT id, region_code, code, name, parent_code, geom FROM public.areas WHERE level = 'town'",
    "communities": "SELECT id, region_code, code, name, parent_code AS town_code, geom "
                   "FROM public.areas WHERE level = 'community'",
    # households: the dwellings the grid holds by THE point-in-grid rule (api/db/load/attribution.py's
    # point_grid_id_sql as it read when this revision was written, frozen here like every migration's
    # SQL: a later change of the rule needs a new revision of this view)
    "grids": f"""
        SELECT {GRID_COLS},
               (SELECT a.name FROM public.areas a
                 WHERE a.region_code = g.region_code AND a.code = g.community_code LIMIT 1) AS community_name,
               (SELECT coalesce(sum(d.households), 0)::integer FROM public.dwellings d
                 WHERE d.region_code = g.region_code AND ST_Intersects(g.geom, d.geom)
                   AND g.id = {POINT_GRID_ID}) AS households,
               g.valid_from, g.geom
          FROM public.grids g
         WHERE g.valid_to IS NULL AND g.valid_from <= now()""",
    "grid_versions": f"SELECT {GRID_COLS}, g.valid_from, g.valid_to, g.geom FROM public.grids g",
    "dwellings": "SELECT id, region_code, source_id, households, name, population, levels, building_type, "
                 "community_code, grid_code, geom FROM public.dwellings",
    "stations": "SELECT id, region_code, source_id, name, kind, community_code, capacity, opening_hours, "
                "opened_on, closed_on, address, geom FROM public.stations",
    "streets": "SELECT id, region_code, source_id, name, road_class, walk, bike, drive, oneway, speed_kmh, geom "
               "FROM public.streets",
    "incidents": "SELECT id, region_code, external_id, category, description, reported_at, reporter_kind, status, "
                 "close_reason, escalation_level, grid_code, community_code, town_code, outside_grid, due_at, "
                 "closed_at, geom FROM public.incidents",
}


def upgrade() -> None:
    op.execute("CREATE SCHEMA IF NOT EXISTS ogc")
    for name, sql in VIEWS.items():
        op.execute(f"CREATE VIEW ogc.{name} AS {sql}")
    op.execute("COMMENT ON SCHEMA ogc IS 'gridmap: the collections of the OGC API (api/ogc), no personal fields'")


def downgrade() -> None:
    op.execute("DROP SCHEMA IF EXISTS ogc CASCADE")
