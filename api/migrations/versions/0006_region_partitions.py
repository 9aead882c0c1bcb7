"""Region partitions: grids, dwellings, streets, incidents and incident_events become LIST partitions
by ``region_code``, one partition per county, created when its first row arrives, and a DEFAULT
partition for any row of a county without one yet.

Each table is rebuilt: the old one renamed, a partitioned one created like it (columns, defaults,
CHECK constraints; the same id sequence), its keys and indexes re-made (every primary key and
unique constraint holds ``region_code``, as PostgreSQL requires of a partitioned table: ``id`` alone
becomes ``(region_code, id)``), the partitions of the counties present created, the rows copied,
the old table dropped, and the triggers of 0001/0004 and the ``current_grids`` view re-made.
PostgreSQL 15 refuses exclusion constraints on a partitioned table, so the grid-history constraint
(``grids_no_overlapping_versions``) is added to every grids partition as it is created.

Partitions live in the schema ``regions`` (``regions.dwellings_r320281``, ``regions.dwellings_default``):
the tables the application names stay in ``public``.  :func:`gridmap_region_partitions(code)`
creates a county's partitions (moving any of its rows out of the default partitions first) and
returns how many it made; the load path calls it before writing (``api.db.load.partitions``).

The DDL below is frozen: later changes need a new revision.

Revision ID: 0006_region_partitions
Revises: 0005_siting_jobs
"""

from alembic import op

revision = "0006_region_partitions"
down_revision = "0005_siting_jobs"
branch_labels = None
depends_on = None

#: Partitioned tables, in the order rows must be written (events after their incidents).
TABLES = ("grids", "dwellings", "streets", "incidents", "incident_events")
#: The layers whose writes move ``data_versions`` (0001, 0004).
VERSIONED = ("grids", "dwellings", "streets", "incidents")

KEYS = {
    "grids": ["CONSTRAINT grids_pkey PRIMARY KEY (region_code, id)"],
    "dwellings": ["CONSTRAINT dwellings_pkey PRIMARY KEY (region_code, id)",
                  "CONSTRAINT dwellings_region_source_key UNIQUE (region_code, source_id)"],
    "streets": ["CONSTRAINT streets_pkey PRIMARY KEY (region_code, id)",
                "CONSTRAINT streets_region_source_key UNIQUE (region_code, source_id)"],
    "incidents": ["CONSTRAINT incidents_pkey PRIMARY KEY (region_code, id)",
                  "CONSTRAINT incidents_region_external_key UNIQUE (region_code, external_id)",
                  "CONSTRAINT incidents_category_fkey FOREIGN KEY (category) REFERENCES incident_categories (code)"],
    "incident_events": ["CONSTRAINT incident_events_pkey PRIMARY KEY (region_code, id)"],
}
#: Unique constraints equal to the new primary key, kept under their 0001 names (CREATE TABLE would
#: fold them into the key, so they are added after it).
SAME_AS_KEY = {"grids": "grids_region_id_key", "incidents": "incidents_region_id_key"}
#: A foreign key onto a partitioned table shows up in the catalogue once per referenced partition, so
#: an event's key to its incident is held by each county's pair of partitions instead.
EVENT_FK = ("FOREIGN KEY (region_code, incident_id) REFERENCES regions.%I (region_code, id) ON DELETE CASCADE")
INDEXES = {
    "grids": ["grids_geom_idx ON grids USING gist (geom)", "grids_code_idx ON grids (region_code, code)",
              "grids_community_idx ON grids (region_code, community_code)"],
    "dwellings": ["dwellings_geom_idx ON dwellings USING gist (geom)",
                  "dwellings_grid_idx ON dwellings (region_code, grid_code)"],
    "streets": ["streets_geom_idx ON streets USING gist (geom)"],
    "incidents": ["incidents_geom_idx ON incidents USING gist (geom)",
                  "incidents_reported_idx ON incidents (region_code, reported_at)",
                  "incidents_grid_idx ON incidents (region_code, grid_code, reported_at)",
                  "incidents_town_idx ON incidents (region_code, town_code, reported_at)",
                  "incidents_status_idx ON incidents (region_code, status)",
                  "incidents_town_time_idx ON incidents (town_code, reported_at)",
                  "incidents_community_time_idx ON incidents (community_code, reported_at)",
                  "incidents_grid_time_idx ON incidents (grid_code, reported_at)",
                  "incidents_time_idx ON incidents (reported_at)"],
    "incident_events": ["incident_events_incident_idx ON incident_events (region_code, incident_id, at)"],
}
GRID_HISTORY = ("EXCLUDE USING gist (region_code WITH =, code WITH =, tstzrange(valid_from, valid_to) WITH &&)")
CURRENT_GRIDS = """
CREATE VIEW current_grids AS
    SELECT * FROM grids
    WHERE valid_from <= now() AND (valid_to IS NULL OR valid_to > now());
"""

FUNCTION = f"""
CREATE FUNCTION gridmap_region_partitions(code text) RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    tables text[] := ARRAY{list(TABLES)!r}::text[];
    t text;
    n integer := 0;
BEGIN
    IF code IS NULL OR code !~ '^[0-9]{{6}}$' THEN
        RAISE EXCEPTION 'region code % is not a 6-digit county code', code;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM unnest(tables) u
                   WHERE to_regclass(format('regions.%I', u || '_r' || code)) IS NULL) THEN
        RETURN 0;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('gridmap_region_partitions'));
    -- rows of this county that arrived before its partitions sit in the default ones: move them
    FOREACH t IN ARRAY tables LOOP
        EXECUTE format('CREATE TEMP TABLE %I AS SELECT * FROM regions.%I WHERE region_code = %L',
                       'gm_move_' || t, t || '_default', code);
    END LOOP;
    FOR i IN REVERSE array_length(tables, 1)..1 LOOP
        EXECUTE format('DELETE FROM regions.%I WHERE region_code = %L', tables[i] || '_default', code);
    END LOOP;
    FOREACH t IN ARRAY tables LOOP
        IF to_regclass(format('regions.%I', t || '_r' || code)) IS NULL THEN
            EXECUTE format('CREATE TABLE regions.%I PARTITION OF public.%I FOR VALUES IN (%L)',
                           t || '_r' || code, t, code);
            IF t = 'grids' THEN
                EXECUTE format('ALTER TABLE regions.%I ADD CONSTRAINT %I {GRID_HISTORY}',
                               t || '_r' || code, t || '_r' || code || '_no_overlapping_versions');
            ELSIF t = 'incident_events' THEN
                EXECUTE format('ALTER TABLE regions.%I ADD CONSTRAINT %I {EVENT_FK}',
                               t || '_r' || code, t || '_r' || code || '_incident_fkey', 'incidents_r' || code);
            END IF;
            n := n + 1;
        END IF;
    END LOOP;
    FOREACH t IN ARRAY tables LOOP
        EXECUTE format('INSERT INTO public.%I SELECT * FROM %I', t, 'gm_move_' || t);
        EXECUTE format('DROP TABLE %I', 'gm_move_' || t);
    END LOOP;
    RETURN n;
END $$;
"""


def _triggers(t: str) -> str:
    return f"""
        CREATE TRIGGER {t}_touch BEFORE UPDATE ON {t} FOR EACH ROW EXECUTE FUNCTION gridmap_touch();
        CREATE TRIGGER {t}_bump_version_insert AFTER INSERT ON {t}
            REFERENCING NEW TABLE AS gm_new_rows
            FOR EACH STATEMENT EXECUTE FUNCTION gridmap_bump_version_if_rows();
        CREATE TRIGGER {t}_bump_version_update AFTER UPDATE ON {t}
            REFERENCING NEW TABLE AS gm_new_rows
            FOR EACH STATEMENT EXECUTE FUNCTION gridmap_bump_version_if_rows();
        CREATE TRIGGER {t}_bump_version_delete AFTER DELETE ON {t}
            REFERENCING OLD TABLE AS gm_old_rows
            FOR EACH STATEMENT EXECUTE FUNCTION gridmap_bump_version_if_rows();
        CREATE TRIGGER {t}_bump_version_truncate AFTER TRUNCATE ON {t}
            FOR EACH STATEMENT EXECUTE FUNCTION gridmap_bump_version();
    """


def _free_index_names(old: str) -> str:
    """Rename the indexes (and so their constraints) of table ``old`` out of the way."""
    return f"""
        DO $$ DECLARE r record; BEGIN
            FOR r IN SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
                     WHERE i.indrelid = 'public.{old}'::regclass LOOP
                EXECUTE format('ALTER INDEX public.%I RENAME TO %I', r.relname, left(r.relname, 55) || '_pre0006');
            END LOOP;
        END $$;
    """


def _rebuild(t: str, partitioned: bool) -> None:
    old = f"{t}_pre0006"
    op.execute(f"ALTER TABLE {t} RENAME TO {old}")
    op.execute(_free_index_names(old))
    part = " PARTITION BY LIST (region_code)" if partitioned else ""
    body = ",\n".join([f"LIKE {old} INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE"] + KEYS[t])
    op.execute(f"CREATE TABLE {t} ({body}){part}")
    for ix in INDEXES[t]:
        op.execute(f"CREATE INDEX {ix}")
    if t in SAME_AS_KEY:
        op.execute(f"ALTER TABLE {t} ADD CONSTRAINT {SAME_AS_KEY[t]} UNIQUE (region_code, id)")
    if partitioned:
        op.execute(f"CREATE TABLE regions.{t}_default PARTITION OF {t} DEFAULT")
        if t == "grids":
            op.execute(f"ALTER TABLE regions.grids_default ADD CONSTRAINT grids_default_no_overlapping_versions "
                       f"{GRID_HISTORY}")
        if t == "incident_events":
            op.execute("ALTER TABLE regions.incident_events_default ADD CONSTRAINT incident_events_default_incident_fkey "
                       + EVENT_FK.replace("%I", "incidents_default"))
    else:
        if t == "grids":
            op.execute(f"ALTER TABLE grids ADD CONSTRAINT grids_no_overlapping_versions {GRID_HISTORY}")


def _copy(t: str) -> None:
    old = f"{t}_pre0006"
    op.execute(f"INSERT INTO {t} SELECT * FROM {old}")
    op.execute(f"ALTER SEQUENCE {t}_id_seq OWNED BY {t}.id")
    op.execute(f"DROP TABLE {old} CASCADE")
    if t in VERSIONED:
        op.execute(_triggers(t))


def upgrade() -> None:
    op.execute("CREATE SCHEMA IF NOT EXISTS regions")
    op.execute("DROP VIEW IF EXISTS current_grids")
    for t in TABLES:
        _rebuild(t, partitioned=True)
    op.execute(FUNCTION)
    codes = " UNION ".join(f"SELECT region_code FROM {t}_pre0006" for t in TABLES)
    op.execute(f"SELECT gridmap_region_partitions(c.region_code) FROM ({codes}) c ORDER BY 1")
    for t in TABLES:
        _copy(t)
    op.execute(CURRENT_GRIDS)


def downgrade() -> None:
    op.execute("DROP VIEW IF EXISTS current_grids")
    op.execute("ALTER TABLE incident_events DROP CONSTRAINT IF EXISTS incident_events_incident_fkey")
    for t in TABLES:
        old = f"{t}_pre0006"
        op.execute(f"ALTER TABLE {t} RENAME TO {old}")
        op.execute(_free_index_names(old))
        keys = [k.replace("(region_code, id)", "(id)") if "PRIMARY KEY" in k else k for k in KEYS[t]]
        keys += [f"CONSTRAINT {SAME_AS_KEY[t]} UNIQUE (region_code, id)"] if t in SAME_AS_KEY else []
        body = ",\n".join([f"LIKE {old} INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE"] + keys)
        op.execute(f"CREATE TABLE {t} ({body})")
        for ix in INDEXES[t]:
            op.execute(f"CREATE INDEX {ix}")
        if t == "grids":
            op.execute(f"ALTER TABLE grids ADD CONSTRAINT grids_no_overlapping_versions {GRID_HISTORY}")
    for t in TABLES:
        old = f"{t}_pre0006"
        op.execute(f"INSERT INTO {t} SELECT * FROM {old}")
        op.execute(f"ALTER SEQUENCE {t}_id_seq OWNED BY {t}.id")
        op.execute(f"DROP TABLE {old} CASCADE")
        if t in VERSIONED:
            op.execute(_triggers(t))
    op.execute("ALTER TABLE incident_events ADD CONSTRAINT incident_events_incident_fkey FOREIGN KEY "
               "(region_code, incident_id) REFERENCES incidents (region_code, id) ON DELETE CASCADE")
    op.execute("DROP FUNCTION IF EXISTS gridmap_region_partitions(text)")
    op.execute("DROP SCHEMA IF EXISTS regions CASCADE")
    op.execute(CURRENT_GRIDS)
