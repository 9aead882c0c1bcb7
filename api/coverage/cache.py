"""Values computed once per key, even under concurrency: the caches of the coverage service and the
lazy parts of each coverage run."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any, Callable


class Keyed:
    """A thread-safe map whose values are computed once per key.

    Each key has its own lock while its value is computed, so a long computation (the warm-up
    building the what-if planner, drawing every station's areas) does not hold up other keys, and
    concurrent callers of the same key compute it once.  A failed computation leaves nothing
    behind: the next caller tries again.  With ``size``, the least recently used values beyond it
    are dropped.
    """

    def __init__(self, size: int | None = None):
        self.size = size
        self.items: OrderedDict = OrderedDict()
        self.lock = threading.Lock()
        self.building: dict = {}

    def get(self, key, make: Callable[[], Any]):
        with self.lock:
            if key in self.items:
                self.items.move_to_end(key)
                return self.items[key]
            klock = self.building.setdefault(key, threading.RLock())
        with klock:
            with self.lock:
                if key in self.items:
                    return self.items[key]
            try:
                value = make()
            except BaseException:
                with self.lock:
                    self.building.pop(key, None)
                raise
            with self.lock:
                self.items[key] = value
                self.items.move_to_end(key)
                while self.size is not None and len(self.items) > self.size:
                    self.items.popitem(last=False)
                self.building.pop(key, None)
            return value

    def peek(self, key):
        with self.lock:
            return self.items.get(key)

    def clear(self):
        with self.lock:
            self.items.clear()

    def __contains__(self, key) -> bool:
        with self.lock:
            return key in self.items

    def __getitem__(self, key):
        with self.lock:
            return self.items[key]

    def __iter__(self):
        with self.lock:
            return iter(list(self.items))
