"""Plans: stored grid redraws (drafts) with their units, grids and metrics.

A plan is a redraw of one or more communities (:mod:`geo.zoning`) kept as a draft until it is
published (its grids become the communities' new grid versions) or discarded.  Every table
carries ``region_code``; units and grids reference their plan by ``(region_code, plan_id)`` and go
with it (``ON DELETE CASCADE``).

- ``plans``: parameters (the frozen :class:`geo.zoning.ZoningParams`), status, author, the metric
  CRS the units were built in, the *base* of each community (a fingerprint of its dwellings,
  current grids and outline when the plan was made, to refuse publishing a stale plan), metrics
  and reasons.
- ``plan_units``: the units (street blocks, dwelling cells) with households, dwelling ids, the
  grid they are assigned to and the current grid they lay in when the plan was made.
- ``plan_grids``: one row per grid of the plan (code, locked, households, band status, metrics,
  polygon), and its micro-grids as JSON when drawn.

Revision ID: 0008_plans
Revises: 0007_auth
"""

from alembic import op

revision = "0008_plans"
down_revision = "0007_auth"
branch_labels = None
depends_on = None

#: Frozen copy of the plan statuses (api.plans.STATUSES when this revision was written).
STATUSES = ("draft", "published", "discarded")
#: Frozen copy of the band statuses (geo.zoning.band_status).
BAND = ("under", "in_band", "over")

REGION = "region_code varchar(6) NOT NULL CHECK (region_code ~ '^[0-9]{6}$')"


def _in(values) -> str:
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


def upgrade() -> None:
    op.execute(f"""
        CREATE TABLE plans (
            id bigserial PRIMARY KEY,
            {REGION},
            community_codes varchar(32)[] NOT NULL,
            params jsonb NOT NULL,
            status varchar(16) NOT NULL DEFAULT 'draft' CHECK (status IN {_in(STATUSES)}),
            author text NOT NULL DEFAULT 'system',
            crs text NOT NULL,
            base jsonb NOT NULL,
            metrics jsonb NOT NULL DEFAULT '{{}}'::jsonb,
            reasons jsonb NOT NULL DEFAULT '[]'::jsonb,
            published_at timestamptz,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT plans_region_id_key UNIQUE (region_code, id)
        );
        CREATE INDEX plans_status_idx ON plans (region_code, status, created_at);

        CREATE TABLE plan_units (
            id bigserial PRIMARY KEY,
            {REGION},
            plan_id bigint NOT NULL,
            community_code varchar(32) NOT NULL,
            unit_id text NOT NULL,
            kind varchar(8) NOT NULL,
            block integer NOT NULL,
            households integer NOT NULL CHECK (households >= 0),
            dwelling_ids text[] NOT NULL DEFAULT '{{}}',
            grid_code varchar(32) NOT NULL,
            home_code varchar(32),
            geom geometry(Geometry, 4326) NOT NULL,
            CONSTRAINT plan_units_plan_fkey FOREIGN KEY (region_code, plan_id)
                REFERENCES plans (region_code, id) ON DELETE CASCADE,
            CONSTRAINT plan_units_unit_key UNIQUE (region_code, plan_id, community_code, unit_id)
        );
        CREATE INDEX plan_units_grid_idx ON plan_units (region_code, plan_id, grid_code);

        CREATE TABLE plan_grids (
            id bigserial PRIMARY KEY,
            {REGION},
            plan_id bigint NOT NULL,
            community_code varchar(32) NOT NULL,
            code varchar(32) NOT NULL,
            locked boolean NOT NULL DEFAULT false,
            households integer NOT NULL CHECK (households >= 0),
            status varchar(8) NOT NULL CHECK (status IN {_in(BAND)}),
            metrics jsonb NOT NULL DEFAULT '{{}}'::jsonb,
            micro jsonb,
            geom geometry(MultiPolygon, 4326) NOT NULL,
            CONSTRAINT plan_grids_plan_fkey FOREIGN KEY (region_code, plan_id)
                REFERENCES plans (region_code, id) ON DELETE CASCADE,
            CONSTRAINT plan_grids_code_key UNIQUE (region_code, plan_id, code)
        );
    """)


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS plan_grids; DROP TABLE IF EXISTS plan_units; DROP TABLE IF EXISTS plans;")
