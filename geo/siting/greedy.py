"""Greedy siting: lazy greedy with a heap on the sparse matrix, for instant previews and incumbents.

Each step opens the site with the largest marginal gain (households newly covered, or for
p-median household-seconds saved); ties go to the lowest column position, so the answer is *the*
greedy answer, the same as a naive loop that re-evaluates every site at every step.  Marginal gains
only shrink as sites open (coverage and the p-median savings are submodular), so a gain computed at
an earlier step is an upper bound: a site is re-evaluated only when it reaches the top of the heap
with a stale gain ("lazy greedy", Minoux 1978).

Every cardinality run also returns a certified **upper bound** on the best value of ``k`` sites
(valid for any monotone submodular objective): ``min(f(S_0) + top-k gains at S_0, f(S) + top-k gains
at the final S, f(S) / (1 - (1 - 1/k)^k))``.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp


@dataclass(frozen=True)
class GreedyRun:
    """One greedy run.

    Attributes
    ----------
    picks : ndarray of int
        Column positions opened, in order.
    gains : ndarray of float
        Marginal gain of each pick (households, or household-seconds saved for p-median).
    value : float
        Sum of the gains (the value added to the starting state).
    bound : float
        Upper bound on the value any ``k`` sites could add (``nan`` for target runs).
    """

    picks: np.ndarray
    gains: np.ndarray
    value: float
    bound: float


def _column_gains_cover(c: sp.csc_matrix, rem: np.ndarray) -> np.ndarray:
    """Per column: sum of ``rem`` over the rows it covers."""
    return np.asarray(c.T @ rem).ravel() if c.shape[1] else np.zeros(0)


def _column_gains_time(t: sp.csc_matrix, w: np.ndarray, cur: np.ndarray) -> np.ndarray:
    """Per column: household-seconds saved if opened, given each row's current time ``cur``."""
    s = np.maximum(cur[t.indices] - t.data, 0.0) * w[t.indices]
    out = np.zeros(t.shape[1])
    nz = np.flatnonzero(np.diff(t.indptr))
    if nz.size:
        out[nz] = np.add.reduceat(s, t.indptr[nz])
    return out


def _top_sum(g: np.ndarray, k: int) -> float:
    if k <= 0 or g.size == 0:
        return 0.0
    k = min(k, g.size)
    return float(np.partition(g, g.size - k)[g.size - k:].sum())


def _classic(value: float, k: int) -> float:
    return value / (1.0 - (1.0 - 1.0 / k) ** k) if k > 0 else value


def greedy_cover(cover: sp.csc_matrix, weights: np.ndarray, k: int | None = None, *, covered: np.ndarray | None = None,
                 allowed: np.ndarray | None = None, costs: np.ndarray | None = None,
                 target: float | None = None) -> GreedyRun:
    """Lazy greedy maximal covering on a boolean CSC matrix (demand x sites).

    Parameters
    ----------
    cover : scipy.sparse.csc_matrix, shape (n, s), bool, sorted indices
    weights : ndarray (n,)
        Households per row.
    k : int, optional
        Sites to open (cardinality run).  At most ``k`` even with a target.
    covered : ndarray of bool (n,), optional
        Rows already covered (by kept stations): they add nothing.
    allowed : ndarray of int, optional
        Columns that may open (default all).
    costs : ndarray (s,), optional
        Opening costs: picks maximise gain / cost (set covering).  Default 1.
    target : float, optional
        Stop as soon as the added households reach ``target`` (set covering).

    Returns
    -------
    GreedyRun
        Stops early when no site adds anything.
    """
    w = np.asarray(weights, dtype=float)
    rem = w.copy()
    if covered is not None:
        rem[covered] = 0.0
    s = cover.shape[1]
    cols = np.arange(s) if allowed is None else np.asarray(allowed, dtype=np.int64)
    g0 = _column_gains_cover(cover, rem)[cols]
    cost = np.ones(cols.size) if costs is None else np.asarray(costs, dtype=float)[cols]
    kmax = cols.size if k is None else min(int(k), cols.size)
    ptr, ind = cover.indptr, cover.indices
    key0 = np.where(cost > 0, g0 / np.where(cost > 0, cost, 1.0), np.where(g0 > 0, np.inf, 0.0))
    heap = [(-float(key0[i]), int(cols[i]), float(g0[i])) for i in np.flatnonzero(g0 > 0)]
    heapq.heapify(heap)
    cost_of = dict(zip(cols.tolist(), cost.tolist())) if costs is not None else None
    fresh = {}  # column -> step at which its heap entry was computed
    step = 0
    picks, gains = [], []
    got = 0.0
    while heap and len(picks) < kmax and (target is None or got < target):
        negkey, j, g = heap[0]
        if fresh.get(j, 0) == step:
            heapq.heappop(heap)
            if g <= 0:
                break
            picks.append(j)
            gains.append(g)
            got += g
            rem[ind[ptr[j]:ptr[j + 1]]] = 0.0
            step += 1
            continue
        g = float(rem[ind[ptr[j]:ptr[j + 1]]].sum())
        fresh[j] = step
        c = 1.0 if cost_of is None else cost_of[j]
        key = g / c if c > 0 else (np.inf if g > 0 else 0.0)
        if g > 0:
            heapq.heapreplace(heap, (-key, j, g))
        else:
            heapq.heappop(heap)
    value = float(sum(gains))
    bound = np.nan
    if target is None and costs is None:
        kb = kmax
        last = _column_gains_cover(cover, rem)[cols]
        bound = min(_top_sum(g0, kb), value + _top_sum(last, kb), _classic(value, kb) if value > 0 else np.inf)
        bound = max(bound, value)
    return GreedyRun(picks=np.asarray(picks, dtype=np.int64), gains=np.asarray(gains, dtype=float), value=value,
                     bound=float(bound))


def greedy_median(time_csc: sp.csc_matrix, weights: np.ndarray, start_time_s: np.ndarray, k: int, *,
                  allowed: np.ndarray | None = None) -> GreedyRun:
    """Lazy greedy p-median: open ``k`` sites, each saving the most household-seconds.

    Parameters
    ----------
    time_csc : scipy.sparse.csc_matrix, shape (n, s)
        Stored pairs' times, seconds (explicit zeros are pairs).
    weights : ndarray (n,)
    start_time_s : ndarray (n,)
        Each row's time before any pick (kept stations or the fallback), seconds.
    k : int
    allowed : ndarray of int, optional

    Returns
    -------
    GreedyRun
        Gains and value in household-seconds saved.
    """
    w = np.asarray(weights, dtype=float)
    cur = np.asarray(start_time_s, dtype=float).copy()
    s = time_csc.shape[1]
    cols = np.arange(s) if allowed is None else np.asarray(allowed, dtype=np.int64)
    g0 = _column_gains_time(time_csc, w, cur)[cols]
    kmax = min(int(k), cols.size)
    ptr, ind, dat = time_csc.indptr, time_csc.indices, time_csc.data
    heap = [(-float(g0[i]), int(cols[i])) for i in np.flatnonzero(g0 > 0)]
    heapq.heapify(heap)
    fresh = {}
    step = 0
    picks, gains = [], []
    while heap and len(picks) < kmax:
        negg, j = heap[0]
        sl = slice(ptr[j], ptr[j + 1])
        if fresh.get(j, 0) == step:
            heapq.heappop(heap)
            picks.append(j)
            gains.append(-negg)
            r = ind[sl]
            np.minimum.at(cur, r, dat[sl])
            step += 1
            continue
        r = ind[sl]
        g = float((np.maximum(cur[r] - dat[sl], 0.0) * w[r]).sum())
        fresh[j] = step
        if g > 0:
            heapq.heapreplace(heap, (-g, j))
        else:
            heapq.heappop(heap)
    value = float(sum(gains))
    last = _column_gains_time(time_csc, w, cur)[cols]
    bound = min(_top_sum(g0, kmax), value + _top_sum(last, kmax), _classic(value, kmax) if value > 0 else np.inf)
    return GreedyRun(picks=np.asarray(picks, dtype=np.int64), gains=np.asarray(gains, dtype=float), value=value,
                     bound=float(max(bound, value)))


def greedy_close(cover: sp.csc_matrix, weights: np.ndarray, open_sites: np.ndarray, n_close: int, *,
                 covered: np.ndarray | None = None) -> GreedyRun:
    """Reverse greedy: close ``n_close`` of ``open_sites`` one at a time, each losing the fewest households.

    Parameters
    ----------
    cover : scipy.sparse.csc_matrix (n, s), bool
    weights : ndarray (n,)
    open_sites : ndarray of int
        The columns open now (the closable ones).
    n_close : int
    covered : ndarray of bool (n,), optional
        Rows covered by sites that stay open regardless (they never lose coverage).

    Returns
    -------
    GreedyRun
        ``picks``: the closed columns in order; ``gains``: households each closure loses (>= 0);
        ``bound`` is nan.
    """
    w = np.asarray(weights, dtype=float)
    open_sites = np.asarray(open_sites, dtype=np.int64)
    sub = cover[:, open_sites].tocsc()
    count = np.asarray(sub.sum(axis=1)).ravel().astype(np.int64)
    if covered is not None:
        count = count + np.where(covered, 1, 0)  # a permanent cover counts as one more site
    alive = np.ones(open_sites.size, dtype=bool)
    picks, losses = [], []
    for _ in range(min(int(n_close), open_sites.size)):
        only = w * (count == 1)
        loss = np.asarray(sub.T @ only).ravel()
        loss[~alive] = np.inf
        j = int(np.argmin(loss))
        picks.append(int(open_sites[j]))
        losses.append(float(loss[j]))
        alive[j] = False
        count[sub.indices[sub.indptr[j]:sub.indptr[j + 1]]] -= 1
    return GreedyRun(picks=np.asarray(picks, dtype=np.int64), gains=np.asarray(losses, dtype=float),
                     value=float(sum(losses)), bound=np.nan)
