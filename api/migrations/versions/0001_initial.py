"""Initial schema: areas, grid history, dwellings, stations, streets, incidents and their events.

The value lists below are frozen copies of ``geo.layers`` as they were when this revision was
written: a migration must create the same schema whatever the code says later.  A changed list in
``geo.layers`` needs a new revision (``tests/api/db/test_schema.py`` compares them).

Revision ID: 0001_initial
Revises:
"""

from alembic import op

revision = "0001_initial"
down_revision = None
branch_labels = None
depends_on = None


AREA_LEVELS = ("county", "town", "community")
INCIDENT_STATUSES = ("reported", "dispatched", "accepted", "in_progress", "resolved", "closed_other")
CLOSE_REASONS = ("duplicate", "not_responsible", "no_action_possible")
ESCALATION_LEVELS = ("grid", "community", "town", "department")
#: The categories seeded at creation: code -> (Chinese name, English name, SLA hours).
INCIDENT_CATEGORIES = {
    "safety_hazard": ("安全隐患", "Safety hazard", 24),
    "dispute": ("矛盾纠纷", "Dispute", 72),
    "environment": ("环境卫生", "Environment and sanitation", 48),
    "illegal_construction": ("违法建设", "Illegal construction", 168),
    "property": ("物业管理", "Property management", 72),
    "parking": ("停车管理", "Parking", 24),
    "street_light": ("路灯照明", "Street lights", 48),
    "elderly_care": ("养老服务", "Elderly care", 72),
    "other": ("其他", "Other", 72),
}


def _in(values) -> str:
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


LONLAT = (
    "ST_XMin({g}) >= -180 AND ST_XMax({g}) <= 180 AND ST_YMin({g}) >= -90 AND ST_YMax({g}) <= 90"
)


def _geom_checks(table: str, col: str = "geom") -> str:
    return (
        f"ALTER TABLE {table} ADD CONSTRAINT {table}_{col}_valid CHECK (ST_IsValid({col}));\n"
        f"ALTER TABLE {table} ADD CONSTRAINT {table}_{col}_lonlat CHECK ({LONLAT.format(g=col)});\n"
    )


STAMPS = """
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()"""

DDL = f"""
CREATE EXTENSION IF NOT EXISTS postgis;
CREATE EXTENSION IF NOT EXISTS btree_gist;

CREATE TABLE areas (
    id bigserial PRIMARY KEY,
    region_code varchar(6) NOT NULL CHECK (region_code ~ '^[0-9]{{6}}$'),
    code varchar(32) NOT NULL,
    name text NOT NULL,
    level varchar(16) NOT NULL CHECK (level IN {_in(AREA_LEVELS)}),
    parent_code varchar(32),
    geom geometry(MultiPolygon, 4326) NOT NULL,{STAMPS},
    CONSTRAINT areas_region_code_code_key UNIQUE (region_code, code)
);
CREATE INDEX areas_geom_idx ON areas USING gist (geom);
CREATE INDEX areas_parent_idx ON areas (region_code, parent_code);

CREATE TABLE grids (
    id bigserial PRIMARY KEY,
    region_code varchar(6) NOT NULL CHECK (region_code ~ '^[0-9]{{6}}$'),
    code varchar(32) NOT NULL,
    name text NOT NULL,
    community_code varchar(32) NOT NULL,
    town_code varchar(32),
    chief text,
    worker text,
    phone text,
    valid_from timestamptz NOT NULL DEFAULT '-infinity',
    valid_to timestamptz,
    geom geometry(MultiPolygon, 4326) NOT NULL,{STAMPS},
    CONSTRAINT grids_region_id_key UNIQUE (region_code, id),
    CONSTRAINT grids_validity_order CHECK (valid_to IS NULL OR valid_to > valid_from),
    CONSTRAINT grids_no_overlapping_versions EXCLUDE USING gist (
        region_code WITH =, code WITH =, tstzrange(valid_from, valid_to) WITH &&)
);
CREATE INDEX grids_geom_idx ON grids USING gist (geom);
CREATE INDEX grids_code_idx ON grids (region_code, code);
CREATE INDEX grids_community_idx ON grids (region_code, community_code);

CREATE VIEW current_grids AS
    SELECT * FROM grids
    WHERE valid_from <= now() AND (valid_to IS NULL OR valid_to > now());

CREATE TABLE dwellings (
    id bigserial PRIMARY KEY,
    region_code varchar(6) NOT NULL CHECK (region_code ~ '^[0-9]{{6}}$'),
    source_id text NOT NULL,
    households integer NOT NULL CHECK (households >= 0),
    name text,
    address text,
    population integer CHECK (population IS NULL OR population >= 0),
    levels smallint,
    building_type text,
    community_code varchar(32),
    grid_code varchar(32),
    geom geometry(Point, 4326) NOT NULL,
    footprint geometry(MultiPolygon, 4326),{STAMPS},
    CONSTRAINT dwellings_region_source_key UNIQUE (region_code, source_id)
);
CREATE INDEX dwellings_geom_idx ON dwellings USING gist (geom);
CREATE INDEX dwellings_grid_idx ON dwellings (region_code, grid_code);

CREATE TABLE stations (
    id bigserial PRIMARY KEY,
    region_code varchar(6) NOT NULL CHECK (region_code ~ '^[0-9]{{6}}$'),
    source_id text NOT NULL,
    name text NOT NULL,
    kind varchar(64) NOT NULL CHECK (kind <> ''),
    community_code varchar(32),
    capacity integer CHECK (capacity IS NULL OR capacity >= 0),
    opening_hours text,
    opened_on date,
    closed_on date,
    address text,
    geom geometry(Point, 4326) NOT NULL,{STAMPS},
    CONSTRAINT stations_region_source_key UNIQUE (region_code, source_id)
);
CREATE INDEX stations_geom_idx ON stations USING gist (geom);

CREATE TABLE streets (
    id bigserial PRIMARY KEY,
    region_code varchar(6) NOT NULL CHECK (region_code ~ '^[0-9]{{6}}$'),
    source_id text NOT NULL,
    name text,
    road_class varchar(32) NOT NULL,
    walk boolean NOT NULL DEFAULT true,
    bike boolean NOT NULL DEFAULT true,
    drive boolean NOT NULL DEFAULT false,
    oneway smallint NOT NULL DEFAULT 0 CHECK (oneway IN (-1, 0, 1)),
    speed_kmh double precision CHECK (speed_kmh IS NULL OR speed_kmh > 0),
    geom geometry(LineString, 4326) NOT NULL,{STAMPS},
    CONSTRAINT streets_region_source_key UNIQUE (region_code, source_id)
);
CREATE INDEX streets_geom_idx ON streets USING gist (geom);

CREATE TABLE incident_categories (
    code varchar(64) PRIMARY KEY,
    name_zh text NOT NULL,
    name_en text NOT NULL,
    sla_hours integer NOT NULL CHECK (sla_hours > 0)
);

CREATE TABLE incidents (
    id bigserial PRIMARY KEY,
    region_code varchar(6) NOT NULL CHECK (region_code ~ '^[0-9]{{6}}$'),
    external_id text NOT NULL,
    category varchar(64) NOT NULL REFERENCES incident_categories (code),
    description text,
    reported_at timestamptz NOT NULL,
    reporter_kind varchar(32) NOT NULL DEFAULT 'other',
    status varchar(16) NOT NULL DEFAULT 'reported' CHECK (status IN {_in(INCIDENT_STATUSES)}),
    close_reason varchar(32) CHECK (close_reason IS NULL OR close_reason IN {_in(CLOSE_REASONS)}),
    escalation_level varchar(16) NOT NULL DEFAULT 'grid' CHECK (escalation_level IN {_in(ESCALATION_LEVELS)}),
    grid_id bigint,
    grid_code varchar(32),
    community_code varchar(32),
    town_code varchar(32),
    outside_grid boolean NOT NULL DEFAULT false,
    due_at timestamptz,
    closed_at timestamptz,
    geom geometry(Point, 4326) NOT NULL,{STAMPS},
    CONSTRAINT incidents_region_external_key UNIQUE (region_code, external_id),
    CONSTRAINT incidents_region_id_key UNIQUE (region_code, id)
);
CREATE INDEX incidents_geom_idx ON incidents USING gist (geom);
CREATE INDEX incidents_reported_idx ON incidents (region_code, reported_at);
CREATE INDEX incidents_grid_idx ON incidents (region_code, grid_code, reported_at);
CREATE INDEX incidents_town_idx ON incidents (region_code, town_code, reported_at);
CREATE INDEX incidents_status_idx ON incidents (region_code, status);

CREATE TABLE incident_events (
    id bigserial PRIMARY KEY,
    region_code varchar(6) NOT NULL,
    incident_id bigint NOT NULL,
    at timestamptz NOT NULL DEFAULT now(),
    actor text NOT NULL DEFAULT 'system',
    action varchar(32) NOT NULL,
    from_status varchar(16),
    to_status varchar(16),
    escalation_level varchar(16),
    note text,
    CONSTRAINT incident_events_incident_fkey FOREIGN KEY (region_code, incident_id)
        REFERENCES incidents (region_code, id) ON DELETE CASCADE
);
CREATE INDEX incident_events_incident_idx ON incident_events (region_code, incident_id, at);

CREATE TABLE idempotency_keys (
    key text PRIMARY KEY,
    method varchar(8) NOT NULL,
    path text NOT NULL,
    request_hash varchar(64) NOT NULL,
    status_code smallint NOT NULL,
    response jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE data_versions (
    layer varchar(32) PRIMARY KEY,
    version bigint NOT NULL DEFAULT 0,
    changed_at timestamptz NOT NULL DEFAULT now()
);

-- Any write to a layer bumps its version: cached results (coverage runs) name the versions
-- they were computed from and are stale once a version moves.
CREATE FUNCTION gridmap_bump_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO data_versions (layer, version) VALUES (TG_TABLE_NAME, 1)
    ON CONFLICT (layer) DO UPDATE SET version = data_versions.version + 1, changed_at = now();
    RETURN NULL;
END $$;

CREATE FUNCTION gridmap_touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END $$;
"""

VERSIONED = ("areas", "grids", "dwellings", "stations", "streets", "incidents")


def upgrade() -> None:
    op.execute(DDL)
    for t in ("areas", "grids", "dwellings", "stations", "streets", "incidents"):
        op.execute(_geom_checks(t))
    op.execute(_geom_checks("dwellings", "footprint"))
    for t in VERSIONED:
        op.execute(
            f"CREATE TRIGGER {t}_bump_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {t} "
            "FOR EACH STATEMENT EXECUTE FUNCTION gridmap_bump_version()"
        )
        op.execute(
            f"CREATE TRIGGER {t}_touch BEFORE UPDATE ON {t} FOR EACH ROW EXECUTE FUNCTION gridmap_touch()"
        )
    rows = ", ".join(
        f"('{code}', '{zh}', '{en}', {sla})" for code, (zh, en, sla) in INCIDENT_CATEGORIES.items()
    )
    op.execute(f"INSERT INTO incident_categories (code, name_zh, name_en, sla_hours) VALUES {rows}")


def downgrade() -> None:
    op.execute(
        "DROP VIEW IF EXISTS current_grids; "
        "DROP TABLE IF EXISTS incident_events, incidents, incident_categories, streets, stations, "
        "dwellings, grids, areas, idempotency_keys, data_versions CASCADE; "
        "DROP FUNCTION IF EXISTS gridmap_bump_version(), gridmap_touch();"
    )
