"""The compute-once caches of the coverage service and runs."""

from __future__ import annotations

import threading
import time

import pytest

from api.coverage.cache import Keyed


def test_concurrent_callers_compute_a_key_once_and_other_keys_are_not_held_up():
    k = Keyed()
    calls = []
    started = threading.Event()

    def slow():
        calls.append("a")
        started.set()
        time.sleep(0.3)
        return 1

    threads = [threading.Thread(target=k.get, args=("a", slow)) for _ in range(4)]
    for t in threads:
        t.start()
    started.wait()
    t0 = time.perf_counter()
    assert k.get("b", lambda: 2) == 2 and time.perf_counter() - t0 < 0.2  # "a" is still computing
    for t in threads:
        t.join()
    assert calls == ["a"] and k["a"] == 1 and set(k) == {"a", "b"}


def test_least_recently_used_values_beyond_the_size_are_dropped():
    k = Keyed(2)
    k.get(1, lambda: "one")
    k.get(2, lambda: "two")
    k.get(1, lambda: "again")  # a hit: 1 becomes the most recent
    k.get(3, lambda: "three")
    assert 2 not in k and k.peek(1) == "one" and k.peek(3) == "three"


def test_a_failed_computation_leaves_nothing_behind():
    k = Keyed()

    def boom():
        raise RuntimeError("no")

    with pytest.raises(RuntimeError):
        k.get("x", boom)
    assert "x" not in k and k.building == {}
    assert k.get("x", lambda: 5) == 5
