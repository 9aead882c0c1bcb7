"""The database layer: engine, models, migrations and the query functions routes call."""
