"""Exhaustive search of a small area when the local search leaves grids out of band."""

from __future__ import annotations

import numpy as np

from geo.zoning.graph import UnitGraph

__all__ = ["EXACT_UNITS", "exact_parts"]

EXACT_UNITS = 12  # areas with at most this many free units are searched exhaustively when the search misses


def exact_parts(graph: UnitGraph, hh: np.ndarray, free: np.ndarray, lo: int, hi: int, k: int | None):
    """Exhaustive search of a small area: parts (0..) of ``free`` units, each connected and in band.

    Every count of parts is tried (only ``k`` when given); the first plan found is returned, or None.
    """
    nb = graph.lists()[0]
    n = len(free)
    pos = {int(u): i for i, u in enumerate(free)}
    adj = [[pos[v] for v in nb[int(u)] if v in pos] for u in free]
    w = hh[free].astype(int).tolist()
    total = sum(w)

    def connected(members):
        ms = set(members)
        stack, seen = [members[0]], {members[0]}
        while stack:
            x = stack.pop()
            for v in adj[x]:
                if v in ms and v not in seen:
                    seen.add(v)
                    stack.append(v)
        return len(seen) == len(ms)

    counts = [k] if k else range(max(1, -(-total // hi) if hi else 1), (total // lo if lo else n) + 1)
    for kk in counts:
        if kk > n:
            break
        a = [0] * n
        sums = [0] * kk

        def rec(i, m):
            if i == n:
                if m == kk and all(lo <= s <= hi for s in sums):
                    parts = [[j for j in range(n) if a[j] == g] for g in range(kk)]
                    if all(connected(pp) for pp in parts):
                        return True
                return False
            if n - i < kk - m:
                return False
            for v in range(min(m + 1, kk)):
                if sums[v] + w[i] > hi:
                    continue
                a[i] = v
                sums[v] += w[i]
                if rec(i + 1, max(m, v + 1)):
                    return True
                sums[v] -= w[i]
            return False

        if rec(0, 0):
            return np.array(a, dtype=np.int64)
    return None
