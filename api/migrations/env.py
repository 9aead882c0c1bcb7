"""Alembic environment: runs gridmap's migrations on the connection the caller passes.

``api.db.migrate.upgrade`` hands over a connection in ``config.attributes["connection"]``;
GeoAlchemy2's alembic helpers keep spatial indexes and geometry types right in autogenerate.
"""

from alembic import context
from geoalchemy2 import alembic_helpers

from api.db.models import metadata

config = context.config


def run() -> None:
    connection = config.attributes["connection"]
    context.configure(
        connection=connection,
        target_metadata=metadata,
        include_object=alembic_helpers.include_object,
        process_revision_directives=alembic_helpers.writer,
        render_item=alembic_helpers.render_item,
        transaction_per_migration=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run()
