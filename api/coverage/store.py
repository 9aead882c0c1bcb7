"""Street networks and dwelling snaps kept across restarts, in the data directory.

Building a county's network and snapping its dwellings are the costly first steps of a coverage
run; both depend only on the stored streets (and dwellings) and on the build parameters.
:class:`DiskStore` keeps each one as a pickle under ``<GRIDMAP_HOME>/cache/coverage/``, named by
a hash of its key.  The coverage service's keys hold the database it was read from and the
``data_versions`` of the layers it was built from (``version@changed_at``: every write to a layer
moves it), so a street edit makes every stored network of that database unreachable: it is built
again and stored under the new key, and the files not used for the longest are removed beyond
:data:`KEEP` entries.

The files are written by gridmap itself into its own data directory (the same trust as the
embedded cluster beside them): a file is written to a temporary name and renamed into place, so
a reader never sees half a file; one that cannot be read (another gridmap version, a full disk)
is removed and computed again.
"""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
import tempfile
from pathlib import Path
from typing import Any, Callable

log = logging.getLogger(__name__)

#: Bumped when the pickled classes (geo.network.Network, geo.snap.Snap) change shape.
FORMAT = 1
#: Files kept (the most recently used); older ones are removed after each write.
KEEP = 64


class DiskStore:
    """Values computed once per key and kept as files in ``directory`` (``None``: not kept).

    Parameters
    ----------
    directory : Path, optional
        Where the files live (created when first written).
    keep : int
        Most files kept; the least recently used beyond it are removed.
    """

    def __init__(self, directory: Path | None, keep: int = KEEP):
        self.directory = Path(directory) if directory is not None else None
        self.keep = keep
        self.stats = {"loaded": 0, "stored": 0}

    def path(self, kind: str, key: tuple) -> Path | None:
        """The file of ``key`` (``kind`` names it: ``network``, ``snap``), or None when not kept."""
        if self.directory is None:
            return None
        digest = hashlib.sha256(repr((FORMAT, kind, _stable(key))).encode()).hexdigest()[:40]
        return self.directory / f"{kind}-{digest}.pkl"

    def get(self, kind: str, key: tuple, make: Callable[[], Any]) -> Any:
        """The value of ``key``: read from its file if there, else ``make()`` (then written)."""
        path = self.path(kind, key)
        if path is None:
            return make()
        try:
            with open(path, "rb") as fh:
                value = pickle.load(fh)
            os.utime(path)  # recently used: kept longest
            self.stats["loaded"] += 1
            return value
        except FileNotFoundError:
            pass
        except Exception as exc:  # noqa: BLE001 - unreadable: computed again, the file replaced
            log.warning("coverage store: %s unreadable (%s); computing it again", path.name, exc)
            path.unlink(missing_ok=True)
        value = make()
        self._write(path, value)
        return value

    def _write(self, path: Path, value: Any) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".pkl")
            with os.fdopen(fd, "wb") as fh:
                pickle.dump(value, fh, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, path)
            self.stats["stored"] += 1
        except OSError as exc:  # a read-only or full data directory: the value is still returned
            log.warning("coverage store: cannot write %s (%s)", path, exc)
            return
        self._prune()

    def _prune(self) -> None:
        def used(p: Path) -> float:
            try:
                return p.stat().st_mtime
            except FileNotFoundError:  # removed by another process meanwhile
                return 0.0

        files = sorted(self.directory.glob("*.pkl"), key=used, reverse=True)
        for old in files[self.keep:]:
            old.unlink(missing_ok=True)


def _stable(v):
    """``v`` with every set made a sorted tuple: a set's order (and so its repr) changes from one
    process to the next with string hashing, a key's file name must not."""
    if isinstance(v, (set, frozenset)):
        return ("set", tuple(sorted((_stable(x) for x in v), key=repr)))
    if isinstance(v, (tuple, list)):
        return tuple(_stable(x) for x in v)
    return v
