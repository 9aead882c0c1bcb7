"""Rendered pages kept per process while the data they show stay put.

A page is keyed by the request (scope, language, parameters, the settings that shape it) and by the
``data_versions`` (version and time of change) of the layers it reads: any write to one of them makes
the next request build the page afresh (the version triggers of migration 0004 bump on every
statement that changes a row).  Several workers each keep their own.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Callable

from sqlalchemy import Connection

from api.incidents.map_data import data_versions

__all__ = ["PageCache"]


class PageCache:
    """Pages (any value) per key and per the versions of ``layers``; the ``size`` most recently used
    kept; with ``max_age_s``, a page older than that is built again even if nothing changed (for pages
    that show the clock, such as overdue counts)."""

    def __init__(self, layers: tuple[str, ...], size: int = 16, max_age_s: float | None = None):
        self.layers, self.size, self.max_age_s = tuple(layers), size, max_age_s
        self.pages: OrderedDict[tuple, tuple[float, object]] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, conn: Connection, key: tuple, make: Callable[[], object]) -> tuple[object, bool]:
        """``(page, hit)``: the kept page of ``key`` at the current versions, else ``make()`` kept."""
        full = (conn.engine.url.render_as_string(hide_password=True), data_versions(conn, self.layers), *key)
        now = time.monotonic()
        with self.lock:
            hit = self.pages.get(full)
            if hit is not None and (self.max_age_s is None or now - hit[0] <= self.max_age_s):
                self.pages.move_to_end(full)
                return hit[1], True
        page = make()
        with self.lock:
            self.pages[full] = (now, page)
            self.pages.move_to_end(full)
            while len(self.pages) > self.size:
                self.pages.popitem(last=False)
        return page, False
