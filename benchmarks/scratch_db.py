"""A throwaway embedded PostGIS for the benchmarks."""

from __future__ import annotations

import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def scratch_postgis(prefix: str = "gridmap-bench-"):
    """Start a private PostGIS cluster under a temporary home, yield ``(url, home)``, destroy it afterwards.

    ``url`` is the schema owner's (``gridmap_owner``): the benchmarks migrate, truncate and toggle
    triggers between rounds, which the least-privilege application role may not; privileges cost
    nothing that is measured.  The home is made mode 755 so that the ``postgres`` system user
    reaches it when run as root.
    """
    from api.db.embedded import EmbeddedPostgres

    home = Path(tempfile.mkdtemp(prefix=prefix))
    home.chmod(0o755)
    pg = EmbeddedPostgres(home)
    try:
        pg.start()
        yield pg.owner_url(), home
    finally:
        pg.destroy()
        shutil.rmtree(home, ignore_errors=True)


LAYERS = ("areas", "grids", "streets", "stations", "dwellings")


@contextmanager
def loaded_postgis(layers: dict, prefix: str = "gridmap-bench-"):
    """A :func:`scratch_postgis` migrated and holding ``layers`` (frames by layer name, loaded in
    dependency order through ``api.imports.import_frame``, then ANALYZE): yields ``(url, home,
    engine, load_s)``, ``load_s`` the seconds the load took (migrations not counted)."""
    import time

    from sqlalchemy import text

    from api.db.engine import make_engine
    from api.db.migrate import upgrade
    from api.imports import import_frame
    from api.settings import Settings

    with scratch_postgis(prefix) as (url, home):
        engine = make_engine(url if "+" in url.split("://")[0] else url.replace("postgresql://", "postgresql+psycopg2://", 1))
        upgrade(engine)
        t = time.perf_counter()
        with engine.begin() as conn:
            for layer in LAYERS:
                if layer in layers:
                    import_frame(conn, layer, layers[layer], Settings(_env_file=None))
        with engine.begin() as conn:
            conn.execute(text("ANALYZE"))
        try:
            yield url, home, engine, time.perf_counter() - t
        finally:
            engine.dispose()
