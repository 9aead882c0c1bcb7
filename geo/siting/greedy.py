"""Greedy siting: lazy greedy on the sparse matrix, for instant previews and incumbents.

Each step opens the site with the largest marginal gain (households newly covered, or for
p-median household-seconds saved, per unit of cost when costs are given); ties go to the lowest
column position, so the answer is *the* greedy answer, the same as a naive loop that re-evaluates
every site at every step.  Marginal gains only shrink as sites open (coverage and the p-median
savings are submodular), so a gain computed at an earlier step is an upper bound ("lazy greedy",
Minoux 1978): instead of a heap popped one site at a time, each step re-evaluates the sites with the
largest bounds in one vectorised batch and accepts the best as soon as no remaining bound can beat
it.

Every cardinality run also returns a certified **upper bound** on the best value of ``k`` sites
(valid for any monotone submodular objective): ``min(f(S_0) + top-k gains at S_0, f(S) + top-k gains
at the final S, f(S) / (1 - (1 - 1/k)^k))``.  :func:`swap_improve` is the 1-swap local search the
exact solve uses for its incumbent.
"""

from __future__ import annotations

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
    out = np.zeros(c.shape[1])
    nz = np.flatnonzero(np.diff(c.indptr))
    if nz.size:
        out[nz] = np.add.reduceat(rem[c.indices], c.indptr[nz])
    return out


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


def _key(g: np.ndarray, cost: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(cost > 0, g / np.where(cost > 0, cost, 1.0), np.where(g > 0, np.inf, 0.0))


def _lazy(g0: np.ndarray, cols: np.ndarray, cost: np.ndarray, evaluate, accept, kmax: int, done=lambda: False):
    """The lazy greedy loop, vectorised: each step re-evaluates the ``t`` sites with the largest upper
    bounds at once (``evaluate(columns) -> gains``) and accepts the best fresh one as soon as no other
    bound could still beat it (ties: lowest column); otherwise ``t`` doubles.  Returns (picks, gains).

    The sites are sorted once by their starting bound; the loop works on a window of the best ones
    and takes more only when the first site outside it (the largest bound outside: those bounds are
    untouched) could still win, so a step costs the window, not every site (the whole city's 36,539
    gap candidates)."""
    ub = _key(g0, cost)
    live = np.flatnonzero(ub > 0)
    srt = live[np.lexsort((cols[live], -ub[live]))]
    BU, BC, BK, BG = ub[srt], cols[srt], cost[srt], np.asarray(g0, dtype=float)[srt]
    n = BU.size
    U, C, K, G = (np.zeros(0), np.zeros(0, dtype=cols.dtype), np.zeros(0), np.zeros(0))
    b = 0  # BU[b:] are outside the window, in order, bounds untouched

    def extend(m: int):
        nonlocal U, C, K, G, b
        e = min(b + m, n)
        U, C, K, G = np.r_[U, BU[b:e]], np.r_[C, BC[b:e]], np.r_[K, BK[b:e]], np.r_[G, BG[b:e]]
        b = e

    def outside_wins(best: float, col) -> bool:
        return b < n and (BU[b] > best or (BU[b] == best and BC[b] < col))

    picks, gains = [], []
    t = 16
    extend(256)
    while len(picks) < kmax and (U.size or b < n) and not done():
        if U.size == 0:
            extend(256)
            continue
        tt = min(t, U.size)
        top = np.argpartition(-U, tt - 1)[:tt] if tt < U.size else np.arange(U.size)
        g = evaluate(C[top])
        key = _key(g, K[top])
        U[top], G[top] = key, g
        best = key.max()
        if not best > 0:
            keep = U > 0
            U, C, K, G = U[keep], C[keep], K[keep], G[keep]
            if tt == keep.size and b >= n:
                break
            continue
        tie = top[key == best]
        jb = tie[np.argmin(C[tie])]
        rest = np.ones(U.size, dtype=bool)
        rest[top] = False
        if (U[rest] > best).any() or ((U[rest] == best) & (C[rest] < C[jb])).any():
            t *= 2
            continue
        if outside_wins(best, C[jb]):
            extend(max(256, U.size))
            continue
        picks.append(int(C[jb]))
        gains.append(float(G[jb]))
        accept(int(C[jb]))
        keep = U > 0
        keep[jb] = False
        U, C, K, G = U[keep], C[keep], K[keep], G[keep]
        t = max(16, t // 2)
    return picks, gains


def _gather_sums(ptr: np.ndarray, ind: np.ndarray, cols: np.ndarray, values) -> np.ndarray:
    """Per column of ``cols``: the sum of ``values(rows, entry positions)`` over its entries."""
    start, stop = ptr[cols], ptr[cols + 1]
    n = stop - start
    out = np.zeros(cols.size)
    tot = int(n.sum())
    if tot == 0:
        return out
    pos = np.repeat(start - np.cumsum(n) + n, n) + np.arange(tot)
    v = values(ind[pos], pos)
    nz = np.flatnonzero(n)
    out[nz] = np.add.reduceat(v, (np.cumsum(n) - n)[nz])
    return out


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
    got = [0.0]

    def evaluate(cs):
        return _gather_sums(ptr, ind, cs, lambda r, _: rem[r])

    def accept(j):
        got[0] += float(rem[ind[ptr[j]:ptr[j + 1]]].sum())
        rem[ind[ptr[j]:ptr[j + 1]]] = 0.0

    picks, gains = _lazy(g0, cols, cost, evaluate, accept, kmax,
                         (lambda: got[0] >= target) if target is not None else (lambda: False))
    value = float(sum(gains))
    bound = np.nan
    if target is None and costs is None:
        last = _column_gains_cover(cover, rem)[cols]
        bound = min(_top_sum(g0, kmax), value + _top_sum(last, kmax), _classic(value, kmax) if value > 0 else np.inf)
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

    def evaluate(cs):
        return _gather_sums(ptr, ind, cs, lambda r, p: np.maximum(cur[r] - dat[p], 0.0) * w[r])

    def accept(j):
        sl = slice(ptr[j], ptr[j + 1])
        np.minimum.at(cur, ind[sl], dat[sl])

    picks, gains = _lazy(g0, cols, np.ones(cols.size), evaluate, accept, kmax)
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


def swap_improve(cover: sp.csc_matrix, weights: np.ndarray, picks: np.ndarray, *, allowed: np.ndarray | None = None,
                 max_rounds: int = 200) -> tuple[np.ndarray, float]:
    """Best-improvement 1-swap local search for maximal covering (an incumbent for the exact solve).

    Each round evaluates every swap (one open site out, one closed site of ``allowed`` in) at once:
    ``value(j in, s out) = G_j - L_s + O_js`` where ``G_j`` is the weight ``j`` would newly cover,
    ``L_s`` the weight only ``s`` covers, and ``O_js`` the weight only ``s`` covers that ``j`` also
    covers; the best positive swap is applied, until none is left or ``max_rounds``.

    Returns
    -------
    (picks, value)
        The improved open sites and the weight they cover.
    """
    w = np.asarray(weights, dtype=float)
    c = cover.tocsc()
    n, s = c.shape
    S = np.asarray(picks, dtype=np.int64).copy()
    allowed = np.arange(s) if allowed is None else np.asarray(allowed, dtype=np.int64)
    ct = c.T.tocsr().astype(float)
    for _ in range(max_rounds):
        if S.size == 0:
            break
        cs = c[:, S].astype(np.int64)
        cnt = np.asarray(cs.sum(axis=1)).ravel()
        w0 = w * (cnt == 0)
        w1 = w * (cnt == 1)
        G = np.asarray(ct @ w0).ravel()  # (s,)
        L = np.asarray(cs.T @ w1).ravel()  # (|S|,)
        O = (ct @ sp.diags(w1) @ cs.astype(float)).toarray()  # (s, |S|)
        V = G[:, None] + O - L[None, :]
        mask = np.full(s, False)
        mask[allowed] = True
        mask[S] = False
        V[~mask] = -np.inf
        j, k = np.unravel_index(int(np.argmax(V)), V.shape)
        if not V[j, k] > 1e-9:
            break
        S[k] = j
    cov = np.zeros(n, dtype=bool)
    if S.size:
        cov[c[:, S].indices] = True
    return S, float(w @ cov)
