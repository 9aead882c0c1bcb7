"""geo.parallel: a threaded caller's pools never fork (a lock held by another thread would stay
locked in the child); a single-threaded caller forks."""

from __future__ import annotations

import threading

from geo.parallel import process_context


def test_fork_only_when_this_process_runs_one_thread():
    started, stop = threading.Event(), threading.Event()
    if threading.active_count() == 1:
        assert process_context().get_start_method() == "fork"
    t = threading.Thread(target=lambda: (started.set(), stop.wait(10)), daemon=True)
    t.start()
    started.wait(5)
    try:
        assert process_context().get_start_method() in ("forkserver", "spawn")
    finally:
        stop.set()
        t.join(5)
