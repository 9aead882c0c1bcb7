"""GeoAlchemy2 models of gridmap's tables (the schema itself is made by Alembic migrations).

Conventions
-----------
- Every geometry is SRID 4326 (lon/lat) and must be valid (CHECK constraints in the migration).
- Every table carries ``region_code``: the 6-digit code of its county.  Keys that join tables
  include it, and no foreign key crosses regions, so tables can later be distributed by it.
- ``tests/api/db/test_schema.py`` checks that these models and the migrated database agree.
"""

from __future__ import annotations

from geoalchemy2 import Geometry
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

metadata = MetaData()


def _region() -> Column:
    return Column("region_code", String(6), nullable=False)


def _stamps() -> list[Column]:
    return [
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    ]


def _geom(kind: str, nullable: bool = False) -> Column:
    return Column("geom", Geometry(kind, srid=4326, spatial_index=False), nullable=nullable)


areas = Table(
    "areas",
    metadata,
    Column("id", BigInteger, primary_key=True),
    _region(),
    Column("code", String(32), nullable=False),
    Column("name", Text, nullable=False),
    Column("level", String(16), nullable=False),
    Column("parent_code", String(32)),
    _geom("MULTIPOLYGON"),
    *_stamps(),
    UniqueConstraint("region_code", "code", name="areas_region_code_code_key"),
    Index("areas_geom_idx", "geom", postgresql_using="gist"),
    Index("areas_parent_idx", "region_code", "parent_code"),
)

grids = Table(
    "grids",
    metadata,
    Column("id", BigInteger, primary_key=True),  # one row per boundary version
    _region(),
    Column("code", String(32), nullable=False),
    Column("name", Text, nullable=False),
    Column("community_code", String(32), nullable=False),
    Column("town_code", String(32)),
    Column("chief", Text),
    Column("worker", Text),
    Column("phone", Text),
    Column("valid_from", DateTime(timezone=True), nullable=False, server_default=text("'-infinity'")),
    Column("valid_to", DateTime(timezone=True)),  # NULL: the current version
    _geom("MULTIPOLYGON"),
    *_stamps(),
    UniqueConstraint("region_code", "id", name="grids_region_id_key"),
    Index("grids_geom_idx", "geom", postgresql_using="gist"),
    Index("grids_code_idx", "region_code", "code"),
    Index("grids_community_idx", "region_code", "community_code"),
)

dwellings = Table(
    "dwellings",
    metadata,
    Column("id", BigInteger, primary_key=True),
    _region(),
    Column("source_id", Text, nullable=False),
    Column("households", Integer, nullable=False),
    Column("name", Text),
    Column("address", Text),
    Column("population", Integer),
    Column("levels", SmallInteger),
    Column("building_type", Text),
    Column("community_code", String(32)),
    Column("grid_code", String(32)),
    _geom("POINT"),
    Column("footprint", Geometry("MULTIPOLYGON", srid=4326, spatial_index=False)),
    *_stamps(),
    UniqueConstraint("region_code", "source_id", name="dwellings_region_source_key"),
    Index("dwellings_geom_idx", "geom", postgresql_using="gist"),
    Index("dwellings_grid_idx", "region_code", "grid_code"),
    Index("dwellings_households_idx", "households"),  # 0013: filter=households>N (OGC API)
)

stations = Table(
    "stations",
    metadata,
    Column("id", BigInteger, primary_key=True),
    _region(),
    Column("source_id", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("kind", String(64), nullable=False),
    Column("community_code", String(32)),
    Column("capacity", Integer),
    Column("opening_hours", Text),
    Column("opened_on", Date),
    Column("closed_on", Date),
    Column("address", Text),
    _geom("POINT"),
    *_stamps(),
    UniqueConstraint("region_code", "source_id", name="stations_region_source_key"),
    Index("stations_geom_idx", "geom", postgresql_using="gist"),
)

streets = Table(
    "streets",
    metadata,
    Column("id", BigInteger, primary_key=True),
    _region(),
    Column("source_id", Text, nullable=False),
    Column("name", Text),
    Column("road_class", String(32), nullable=False),
    Column("walk", Boolean, nullable=False, server_default=text("true")),
    Column("bike", Boolean, nullable=False, server_default=text("true")),
    Column("drive", Boolean, nullable=False, server_default=text("false")),
    Column("oneway", SmallInteger, nullable=False, server_default=text("0")),
    Column("speed_kmh", Float),
    _geom("LINESTRING"),
    *_stamps(),
    UniqueConstraint("region_code", "source_id", name="streets_region_source_key"),
    Index("streets_geom_idx", "geom", postgresql_using="gist"),
)

incident_categories = Table(
    "incident_categories",
    metadata,
    Column("code", String(64), primary_key=True),
    Column("name_zh", Text, nullable=False),
    Column("name_en", Text, nullable=False),
    Column("sla_hours", Integer, nullable=False),
)

incidents = Table(
    "incidents",
    metadata,
    Column("id", BigInteger, primary_key=True),
    _region(),
    Column("external_id", Text, nullable=False),
    Column("category", String(64), ForeignKey("incident_categories.code"), nullable=False),
    Column("description", Text),
    Column("reported_at", DateTime(timezone=True), nullable=False),
    Column("reporter_kind", String(32), nullable=False, server_default=text("'other'")),
    Column("status", String(16), nullable=False, server_default=text("'reported'")),
    Column("close_reason", String(32)),
    Column("escalation_level", String(16), nullable=False, server_default=text("'grid'")),
    Column("grid_id", BigInteger),  # the grid version valid at reported_at
    Column("grid_code", String(32)),
    Column("community_code", String(32)),
    Column("town_code", String(32)),
    Column("outside_grid", Boolean, nullable=False, server_default=text("false")),
    Column("due_at", DateTime(timezone=True)),
    Column("closed_at", DateTime(timezone=True)),
    _geom("POINT"),
    *_stamps(),
    UniqueConstraint("region_code", "external_id", name="incidents_region_external_key"),
    UniqueConstraint("region_code", "id", name="incidents_region_id_key"),
    Index("incidents_geom_idx", "geom", postgresql_using="gist"),
    Index("incidents_reported_idx", "region_code", "reported_at"),
    Index("incidents_grid_idx", "region_code", "grid_code", "reported_at"),
    Index("incidents_town_idx", "region_code", "town_code", "reported_at"),
    Index("incidents_status_idx", "region_code", "status"),
)

incident_events = Table(
    "incident_events",
    metadata,
    Column("id", BigInteger, primary_key=True),
    _region(),
    Column("incident_id", BigInteger, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("actor", Text, nullable=False, server_default=text("'system'")),
    Column("action", String(32), nullable=False),
    Column("from_status", String(16)),
    Column("to_status", String(16)),
    Column("escalation_level", String(16)),
    Column("note", Text),
    # migration 0007: the foreign key to incidents (ON DELETE CASCADE) is held by each county's
    # partition (regions.incident_events_r<code> -> regions.incidents_r<code>), not by this parent
    Index("incident_events_incident_idx", "region_code", "incident_id", "at"),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("key", Text, primary_key=True),
    Column("method", String(8), nullable=False),
    Column("path", Text, nullable=False),
    Column("request_hash", String(64), nullable=False),
    Column("status_code", SmallInteger, nullable=False),
    Column("response", JSONB, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

data_versions = Table(
    "data_versions",
    metadata,
    Column("layer", String(32), primary_key=True),
    Column("version", BigInteger, nullable=False, server_default=text("0")),
    Column("changed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

#: Layer name -> table, for the importers, exporters and the features API.
LAYER_TABLES: dict[str, Table] = {
    "areas": areas,
    "grids": grids,
    "dwellings": dwellings,
    "stations": stations,
    "streets": streets,
    "incidents": incidents,
}

# 0003_incidents: indexes for incident statistics by town / community / grid and time.
Index("incidents_town_time_idx", incidents.c.town_code, incidents.c.reported_at)
Index("incidents_community_time_idx", incidents.c.community_code, incidents.c.reported_at)
Index("incidents_grid_time_idx", incidents.c.grid_code, incidents.c.reported_at)
Index("incidents_time_idx", incidents.c.reported_at)

# 0002_coverage: each coverage run with its parameters, the data versions it used and its summary.
coverage_runs = Table(
    "coverage_runs",
    metadata,
    Column("id", BigInteger, primary_key=True),
    Column("params", JSONB, nullable=False),
    Column("params_hash", String(64), nullable=False),
    Column("data_versions", JSONB, nullable=False),
    Column("summary", JSONB, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("coverage_runs_hash_idx", "params_hash", "created_at"),
)

# 0005_siting_jobs: long siting questions solved in the app's thread pool (api/siting/jobs.py).
siting_jobs = Table(
    "siting_jobs",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("params", JSONB, nullable=False),
    Column("scope", JSONB),
    Column("points", JSONB),
    Column("status", String(16), nullable=False, server_default=text("'queued'")),
    Column("result", JSONB),
    Column("error", JSONB),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("started_at", DateTime(timezone=True)),
    Column("finished_at", DateTime(timezone=True)),
    Index("siting_jobs_created_idx", "created_at"),
)

# 0007_auth: users, their API keys, and the audit log of every write (written by triggers).
users = Table(
    "users",
    metadata,
    Column("id", BigInteger, primary_key=True),
    Column("name", Text, nullable=False, unique=True),
    Column("password_hash", Text),
    Column("role", String(16), nullable=False),
    Column("areas", ARRAY(Text), nullable=False, server_default=text("'{}'")),
    Column("disabled", Boolean, nullable=False, server_default=text("false")),
    Column("tokens_valid_after", DateTime(timezone=True), nullable=False, server_default=text("'-infinity'")),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", BigInteger, primary_key=True),
    Column("user_id", BigInteger, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("name", Text, nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("prefix", String(16), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("expires_at", DateTime(timezone=True)),
    Column("revoked_at", DateTime(timezone=True)),
    Index("api_tokens_user_idx", "user_id"),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", BigInteger, primary_key=True),
    Column("at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("actor", Text, nullable=False),
    Column("request", Text),
    Column("operation", String(8), nullable=False),
    Column("table_name", Text, nullable=False),
    Column("row_key", Text),
    Column("before", JSONB),
    Column("after", JSONB),
    Column("before_geom", Geometry("GEOMETRY", srid=4326, spatial_index=False)),
    Column("after_geom", Geometry("GEOMETRY", srid=4326, spatial_index=False)),
    Index("audit_log_at_idx", "at", postgresql_using="brin"),
    Index("audit_log_row_idx", "table_name", "row_key"),
)

# 0008_plans: stored grid redraws (drafts), their units and grids (api.plans).
plans = Table(
    "plans",
    metadata,
    Column("id", BigInteger, primary_key=True),
    _region(),
    Column("community_codes", ARRAY(String(32)), nullable=False),
    Column("params", JSONB, nullable=False),
    Column("status", String(16), nullable=False, server_default=text("'draft'")),
    Column("author", Text, nullable=False, server_default=text("'system'")),
    Column("crs", Text, nullable=False),
    Column("base", JSONB, nullable=False),
    Column("metrics", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("reasons", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    Column("published_at", DateTime(timezone=True)),
    *_stamps(),
    UniqueConstraint("region_code", "id", name="plans_region_id_key"),
    Index("plans_status_idx", "region_code", "status", "created_at"),
)

plan_units = Table(
    "plan_units",
    metadata,
    Column("id", BigInteger, primary_key=True),
    _region(),
    Column("plan_id", BigInteger, nullable=False),
    Column("community_code", String(32), nullable=False),
    Column("unit_id", Text, nullable=False),
    Column("kind", String(8), nullable=False),
    Column("block", Integer, nullable=False),
    Column("households", Integer, nullable=False),
    Column("dwelling_ids", ARRAY(Text), nullable=False, server_default=text("'{}'")),
    Column("grid_code", String(32), nullable=False),
    Column("home_code", String(32)),
    Column("geom", Geometry("GEOMETRY", srid=4326, spatial_index=False), nullable=False),
    ForeignKeyConstraint(["region_code", "plan_id"], ["plans.region_code", "plans.id"],
                         name="plan_units_plan_fkey", ondelete="CASCADE"),
    UniqueConstraint("region_code", "plan_id", "community_code", "unit_id", name="plan_units_unit_key"),
    Index("plan_units_grid_idx", "region_code", "plan_id", "grid_code"),
)

plan_grids = Table(
    "plan_grids",
    metadata,
    Column("id", BigInteger, primary_key=True),
    _region(),
    Column("plan_id", BigInteger, nullable=False),
    Column("community_code", String(32), nullable=False),
    Column("code", String(32), nullable=False),
    Column("locked", Boolean, nullable=False, server_default=text("false")),
    Column("households", Integer, nullable=False),
    Column("status", String(8), nullable=False),
    Column("metrics", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("micro", JSONB),
    _geom("MULTIPOLYGON"),
    ForeignKeyConstraint(["region_code", "plan_id"], ["plans.region_code", "plans.id"],
                         name="plan_grids_plan_fkey", ondelete="CASCADE"),
    UniqueConstraint("region_code", "plan_id", "code", name="plan_grids_code_key"),
)

# 0011_plan_jobs: large redraws (POST /plans for a town or the county) worked as jobs (api/plans/jobs.py).
plan_jobs = Table(
    "plan_jobs",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("params", JSONB, nullable=False),
    Column("scope", JSONB),
    Column("status", String(16), nullable=False, server_default=text("'queued'")),
    Column("result", JSONB),
    Column("error", JSONB),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("started_at", DateTime(timezone=True)),
    Column("finished_at", DateTime(timezone=True)),
    Index("plan_jobs_created_idx", "created_at"),
)
