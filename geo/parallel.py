"""How gridmap starts worker processes: one rule for every process pool in ``geo``.

A single-threaded caller (the CLI, a notebook, a benchmark) forks: the workers inherit the job
without pickling it.  A caller that runs other threads (the web server: its event loop, the
database pools, a background warm-up) must not fork, since a lock another thread held at that
moment stays locked in the child for ever and the pool would wait on it; it starts its workers
from a fork server instead (a clean single-threaded process), and the job is pickled to them.
"""

from __future__ import annotations

import multiprocessing as mp
import threading

__all__ = ["process_context"]


def process_context():
    """The multiprocessing context for a pool started now: ``fork`` when this process runs one
    thread, else ``forkserver`` (``spawn`` where there is no fork server); None where processes
    cannot be started this way (the caller then computes in its own thread)."""
    methods = mp.get_all_start_methods()
    if "fork" not in methods:
        return None
    if threading.active_count() == 1:
        return mp.get_context("fork")
    return mp.get_context("forkserver" if "forkserver" in methods else "spawn")
