"""The embedded cluster as ``gridmap db`` runs it: create, start, stop, restart, keep data."""

import shutil
import tempfile
from pathlib import Path

from sqlalchemy import create_engine, text

from api.db.embedded import EmbeddedPostgres


def test_lifecycle_keeps_data_and_port():
    home = Path(tempfile.mkdtemp(prefix="gridmap-embedded-"))
    home.chmod(0o755)
    pg = EmbeddedPostgres(home)
    try:
        url = pg.start()
        assert pg.running()
        eng = create_engine(pg.owner_url())
        with eng.begin() as conn:
            assert conn.execute(text("SELECT extname FROM pg_extension WHERE extname='postgis'")).scalar()
            conn.execute(text("CREATE TABLE keep (x int)"))
            conn.execute(text("INSERT INTO keep VALUES (42)"))
        eng.dispose()
        pg.stop()
        assert not pg.running()
        again = EmbeddedPostgres(home)
        assert again.start() == url  # same port and password after a restart
        eng = create_engine(again.owner_url())
        with eng.connect() as conn:
            assert conn.execute(text("SELECT x FROM keep")).scalar() == 42
        eng.dispose()
    finally:
        pg.destroy()
        shutil.rmtree(home, ignore_errors=True)
