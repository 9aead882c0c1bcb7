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
