"""The siting core on matrices: against brute force, spopt (PuLP + CBC) and a naive greedy loop."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pulp
import pytest
import scipy.sparse as sp

from geo.errors import InvalidInput
from geo.siting import (from_matrix, gain_curve, greedy_cover, greedy_median, closure_losses, lscp, mclp,
                        merge_rows, p_median)

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from spopt.locate import LSCP, MCLP

BUDGET = 300.0
LIMIT = 600.0


def instance(seed: int, n: int, m: int, e: int = 0, clustered: bool = True):
    """Demand points and sites on a plane, times = distance (s); clustered demand like real districts."""
    rng = np.random.default_rng(seed)
    if clustered:
        centres = rng.uniform(0, 3000, (max(2, n // 40), 2))
        d = centres[rng.integers(0, len(centres), n)] + rng.normal(0, 150, (n, 2))
    else:
        d = rng.uniform(0, 3000, (n, 2))
    s = rng.uniform(0, 3000, (m + e, 2))
    T = np.hypot(*(d[:, None, :] - s[None, :, :]).transpose(2, 0, 1)) / 1.39
    w = rng.integers(1, 60, n).astype(float)
    return T, w


def matrix(T, w, m, **kw):
    return from_matrix(time_s=T[:, :m], existing_time_s=T[:, m:] if T.shape[1] > m else None, weights=w,
                       budget_s=BUDGET, limit_s=LIMIT, **kw)


def cbc():
    return pulp.PULP_CBC_CMD(msg=False)


def spopt_mclp(T, w, k, predefined=None):
    cost = np.where(T <= LIMIT, T, 1e9)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = MCLP.from_cost_matrix(cost, w, BUDGET, p_facilities=k, predefined_facilities_arr=predefined)
        model.solve(cbc())
    return float(model.problem.objective.value())


def spopt_lscp(T, predefined=None):
    cost = np.where(T <= LIMIT, T, 1e9)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = LSCP.from_cost_matrix(cost, BUDGET, predefined_facilities_arr=predefined)
        model.solve(cbc())
    return float(model.problem.objective.value())


# -- brute force on tiny cases ------------------------------------------------------------

@pytest.mark.parametrize("seed", range(6))
def test_mclp_kept_and_closable_equal_brute_force(seed):
    T, w = instance(seed, 30, 9, 3)
    m, e, k = 9, 3, 3
    C = T <= BUDGET
    M = matrix(T, w, m)
    cov0 = C[:, m:].any(1)
    best = max(w[(cov0 | C[:, list(s)].any(1)) & ~cov0].sum() for s in itertools.combinations(range(m), k))
    r = mclp(M, k)
    assert r.objective == pytest.approx(best)
    assert r.households_after - r.households_before == pytest.approx(best)
    assert r.bound >= r.objective - 1e-9 and r.gap >= 0
    assert len(r.sites) <= k and (r.sites < m).all()
    best_c = max(w[C[:, list(s) + list(q)].any(1)].sum()
                 for s in itertools.combinations(range(m), k) for q in itertools.combinations(range(m, m + e), e - 1))
    rc = mclp(M, k, existing="closable", close=1)
    assert rc.objective == pytest.approx(best_c)
    assert rc.closed.size == 1
    assert rc.households_after == pytest.approx(best_c)


@pytest.mark.parametrize("seed", range(6))
def test_p_median_equals_brute_force(seed):
    T, w = instance(seed, 30, 8, 2)
    m, k = 8, 2
    M = matrix(T, w, m)
    Tl = np.where(T <= LIMIT, T, np.inf)
    t0 = np.minimum(LIMIT, Tl[:, m:].min(1))
    best = min((w * np.minimum(t0, Tl[:, list(s)].min(1))).sum() for s in itertools.combinations(range(m), k)) / w.sum()
    r = p_median(M, k)
    assert r.objective == pytest.approx(best)
    assert r.bound <= r.objective + 1e-9 and r.gap >= 0
    assert (w @ r.time_after_s) / w.sum() == pytest.approx(best)
    g = p_median(M, k, method="greedy")
    assert g.objective >= best - 1e-9 and g.bound <= best + 1e-6
    # no existing stations: the plain p-median with the fallback time for rows beyond the limit
    M0 = matrix(T[:, :m], w, m)
    best0 = min((w * np.minimum(LIMIT, Tl[:, list(s)].min(1))).sum() for s in itertools.combinations(range(m), k)) / w.sum()
    assert p_median(M0, k).objective == pytest.approx(best0)


@pytest.mark.parametrize("seed", range(4))
def test_capacitated_mclp_equals_an_independent_lp_milp(seed):
    """Capacities: brute force over the site sets, each assignment solved as a transportation LP."""
    from scipy.optimize import linprog

    T, w = instance(seed, 20, 6, 2)
    m, e, k = 6, 2, 2
    rng = np.random.default_rng(seed + 100)
    cap = rng.integers(40, 200, m + e).astype(float)
    C = T <= BUDGET
    M = matrix(T, w, m, candidate_capacity=cap[:m], existing_capacity=cap[m:])

    def served(open_cols):
        pairs = [(i, j) for j in open_cols for i in np.flatnonzero(C[:, j])]
        if not pairs:
            return 0.0
        P = len(pairs)
        A, b = [], []
        for i in range(len(w)):
            A.append([1.0 if p[0] == i else 0.0 for p in pairs]); b.append(1.0)
        for j in open_cols:
            A.append([w[p[0]] if p[1] == j else 0.0 for p in pairs]); b.append(cap[j])
        res = linprog(-np.array([w[p[0]] for p in pairs]), A_ub=np.array(A), b_ub=np.array(b), bounds=[(0, 1)] * P,
                      method="highs")
        return -res.fun

    best = max(served(list(s) + [m, m + 1]) for s in itertools.combinations(range(m), k))
    r = mclp(M, k, capacity=True)
    assert r.objective == pytest.approx(best, rel=1e-7)
    assert r.households_after == pytest.approx(best, rel=1e-7)
    assert r.households_before == pytest.approx(served([m, m + 1]), rel=1e-7)
    assert np.nansum(r.served) == pytest.approx(best, rel=1e-7)
    open_cap = cap[r.open_sites]
    assert (r.served <= open_cap + 1e-6).all()


def test_lscp_full_and_partial_equal_brute_force():
    T, w = instance(3, 40, 10, 1)
    m = 10
    C = T <= BUDGET
    M = matrix(T, w, m)
    cov0 = C[:, m:].any(1)
    coverable = cov0 | C[:, :m].any(1)
    for target in (None, 0.9 * w[coverable].sum() / w.sum()):
        need = w[coverable].sum() if target is None else target * w.sum()
        for kk in range(m + 1):
            if any(w[cov0 | C[:, list(s)].any(1)].sum() >= need - 1e-9 for s in itertools.combinations(range(m), kk)):
                break
        r = lscp(M, target)
        assert r.objective == kk
        assert r.households_after >= need - 1e-9
        assert r.bound <= r.objective
    assert w[coverable].sum() < w.sum()
    with pytest.raises(InvalidInput, match="at most"):
        lscp(M, 1.0)


# -- against spopt on the same matrix ------------------------------------------------------

@pytest.mark.parametrize("n,m,k,seed", [(60, 15, 4, 0), (200, 40, 6, 1), (600, 80, 10, 2), (1500, 150, 15, 3)])
def test_mclp_equals_spopt(n, m, k, seed):
    T, w = instance(seed, n, m)
    r = mclp(matrix(T, w, m), k, mip_gap=0)
    assert r.status == "optimal" and r.gap == 0
    assert r.objective == pytest.approx(spopt_mclp(T, w, k))
    g = mclp(matrix(T, w, m), k, method="greedy")
    assert g.objective <= r.objective + 1e-9
    assert g.bound >= r.objective - 1e-9


@pytest.mark.parametrize("seed", [4, 5])
def test_mclp_with_kept_stations_equals_spopt_predefined(seed):
    m, e, k = 60, 8, 6
    T, w = instance(seed, 500, m, e)
    r = mclp(matrix(T, w, m), k, mip_gap=0)
    pre = np.r_[np.zeros(m, dtype=bool), np.ones(e, dtype=bool)]
    total = spopt_mclp(T, w, k + e, predefined=pre)
    assert r.households_after == pytest.approx(total)
    assert r.objective == pytest.approx(total - r.households_before)


@pytest.mark.parametrize("n,m,seed", [(80, 30, 0), (400, 120, 1), (1200, 300, 2)])
def test_lscp_equals_spopt(n, m, seed):
    T, w = instance(seed, n, m, clustered=False)
    T = T / 2
    keep = (T <= BUDGET).any(1)  # spopt's LSCP needs every demand reachable
    T, w = T[keep], w[keep]
    assert keep.mean() > 0.9
    r = lscp(matrix(T, w, m), 1.0, mip_gap=0)
    assert r.objective == pytest.approx(spopt_lscp(T))
    assert r.households_after == pytest.approx(w.sum())
    g = lscp(matrix(T, w, m), 1.0, method="greedy")
    assert g.objective >= r.objective and g.bound <= r.objective + 1e-9


# -- greedy is the exact greedy ------------------------------------------------------------

def naive_greedy(C, w, k, covered=None):
    rem = w.astype(float).copy()
    if covered is not None:
        rem[covered] = 0
    picks, gains = [], []
    for _ in range(k):
        g = C.T.astype(float) @ rem
        j = int(np.argmax(g))
        if g[j] <= 0:
            break
        picks.append(j); gains.append(g[j])
        rem[C[:, j]] = 0
    return picks, gains


@pytest.mark.parametrize("seed", range(5))
def test_lazy_greedy_is_the_naive_greedy(seed):
    T, w = instance(seed, 800, 120)
    C = T <= BUDGET
    cov0 = np.random.default_rng(seed).random(800) < 0.2
    run = greedy_cover(sp.csc_matrix(C), w, 25, covered=cov0)
    picks, gains = naive_greedy(C, w, 25, covered=cov0)
    assert run.picks.tolist() == picks
    assert np.allclose(run.gains, gains)
    # ties: identical columns go to the lowest position
    C2 = np.c_[C[:, :5], C[:, :5]]
    run2 = greedy_cover(sp.csc_matrix(C2), w, 5)
    assert run2.picks.tolist() == naive_greedy(C2, w, 5)[0] and (run2.picks < 5).all()


@pytest.mark.parametrize("seed", range(3))
def test_preview_and_curve_on_the_open_rows_are_the_naive_greedy_on_the_whole_matrix(seed):
    """The preview and the gain curve start from the rows the kept stations leave uncovered
    (``SitingMatrix.open_cover``); the answer is the naive greedy's on the unreduced matrix."""
    T, w = instance(seed, 900, 100, e=12)
    w[::17] = 0.0  # rows without households are left out too
    M = matrix(T, w, 100)
    C = T[:, :100] <= BUDGET
    cov0 = (T[:, 100:] <= BUDGET).any(axis=1)
    picks, gains = naive_greedy(C, w, 15, covered=cov0)
    r = mclp(M, 15, method="greedy")
    assert r.sites.tolist() == picks and np.allclose(r.site_gains, gains)
    assert np.array_equal(r.covered_after > 0.5, cov0 | C[:, picks].any(axis=1))
    curve = gain_curve(M, 15)
    assert curve["site"].tolist()[: len(picks)] == [M.candidate_ids[j] for j in picks]
    assert np.allclose(curve["covered"].to_numpy()[: len(picks)], w @ cov0 + np.cumsum(gains))
    rows, _, oc = M.open_cover()
    assert np.array_equal(rows, np.flatnonzero(~cov0 & (w > 0))) and np.array_equal(oc.toarray(), C[rows])


@pytest.mark.parametrize("seed", range(3))
def test_lazy_greedy_beyond_its_window_is_the_naive_greedy(seed):
    """More sites than the lazy loop's first window (256): 300 copies of one large column (all but
    one fall to nothing after the first pick, the window empties and must take more), then many
    small ones whose bounds outside the window still beat what is left inside; costs and a target
    (the set-covering greedy) too."""
    rng = np.random.default_rng(seed)
    n = 3000
    big = rng.random(n) < 0.3
    small = rng.random((n, 900)) < 0.01
    C = np.c_[np.repeat(big[:, None], 300, axis=1), small]
    w = rng.integers(1, 30, n).astype(float)
    run = greedy_cover(sp.csc_matrix(C), w, 40)
    picks, gains = naive_greedy(C, w, 40)
    assert run.picks.tolist() == picks and np.allclose(run.gains, gains)
    cov0 = rng.random(n) < 0.2
    run = greedy_cover(sp.csc_matrix(C), w, 40, covered=cov0, allowed=np.arange(100, 1200))
    sub = C[:, 100:]
    picks, gains = naive_greedy(sub, w, 40, covered=cov0)
    assert (run.picks - 100).tolist() == picks and np.allclose(run.gains, gains)
    cost = rng.uniform(0.5, 2.0, C.shape[1])
    run = greedy_cover(sp.csc_matrix(C), w, None, costs=cost, target=0.9 * w.sum())
    rem, want = w.copy(), []
    while w.sum() - rem.sum() < 0.9 * w.sum():
        g = (C.T.astype(float) @ rem) / cost
        j = int(np.argmax(g))
        if g[j] <= 0:
            break
        want.append(j)
        rem[C[:, j]] = 0
    assert run.picks.tolist() == want


def test_lazy_greedy_median_is_the_naive_greedy():
    T, w = instance(7, 400, 60)
    Tl = np.where(T <= LIMIT, T, np.inf)
    cur = np.full(400, LIMIT)
    run = greedy_median(from_matrix(time_s=T, weights=w, budget_s=BUDGET, limit_s=LIMIT).time_csc, w, cur, 10)
    picks = []
    for _ in range(10):
        g = (np.maximum(cur[:, None] - Tl, 0) * w[:, None]).sum(0)
        j = int(np.argmax(g))
        picks.append(j)
        cur = np.minimum(cur, Tl[:, j])
    assert run.picks.tolist() == picks


@pytest.mark.parametrize("seed", range(3))
def test_greedy_never_beats_the_optimum_and_its_bound_holds(seed):
    T, w = instance(seed + 10, 300, 25)
    M = matrix(T, w, 25)
    C = T <= BUDGET
    for k in (1, 3, 5):
        best = max(w[C[:, list(s)].any(1)].sum() for s in itertools.combinations(range(25), k)) if k <= 3 else \
            mclp(M, k, mip_gap=0).objective
        g = mclp(M, k, method="greedy")
        assert g.objective <= best + 1e-9 <= g.bound + 2e-9
        assert g.status == "greedy" and g.gap >= 0


# -- reductions, curve, closures, errors ---------------------------------------------------

def test_merge_rows_merges_identical_rows_only():
    rng = np.random.default_rng(0)
    base = (rng.random((50, 30)) < 0.2) * rng.integers(1, 5, (50, 30)).astype(float)
    A = base[rng.integers(0, 50, 400)]
    w = rng.integers(1, 9, 400).astype(float)
    mr = merge_rows(sp.csr_matrix(A), w)
    assert mr.weights.sum() == pytest.approx(w.sum())
    assert np.array_equal(mr.matrix.toarray()[mr.group], A)
    uniq = np.unique(A, axis=0)
    assert mr.matrix.shape[0] == len(uniq)
    assert merge_rows(sp.csr_matrix(A), w, extra=np.arange(400.0)).matrix.shape[0] == 400


def test_gain_curve_and_closure_losses():
    m, e = 30, 5
    T, w = instance(11, 400, m, e)
    M = matrix(T, w, m)
    C = T <= BUDGET
    curve = gain_curve(M, 5, exact_at=(1, 5))
    assert curve["gain"].is_monotonic_decreasing
    cov0 = w[C[:, m:].any(1)].sum()
    assert curve["covered"].iloc[0] == pytest.approx(cov0 + curve["gain"].iloc[0])
    assert curve["exact_covered"].iloc[0] == pytest.approx(curve["covered"].iloc[0])  # greedy is exact at k=1
    assert curve["exact_covered"].iloc[4] >= curve["covered"].iloc[4] - 1e-9
    cl = closure_losses(M)
    for _, row in cl.iterrows():
        j = m + list(M.existing_ids).index(row["station"])
        others = [c for c in range(m, m + e) if c != j]
        lost = w[C[:, j] & ~C[:, others].any(1)].sum()
        assert row["lost_households"] == pytest.approx(lost)
    assert cl["lost_households"].is_monotonic_increasing
    # best single closure by the MILP loses what the least-loss station loses alone
    r = mclp(M, 0, existing="closable", close=1)
    assert r.households_before - r.households_after == pytest.approx(cl["lost_households"].iloc[0])


def test_coverage_matrix_input_and_errors():
    T, w = instance(2, 100, 12)
    C = T <= BUDGET
    a = mclp(from_matrix(coverage=sp.csr_matrix(C), weights=w), 3)
    b = mclp(matrix(T, w, 12), 3)
    assert a.objective == pytest.approx(b.objective)
    with pytest.raises(InvalidInput):
        from_matrix(coverage=C, time_s=T, weights=w, budget_s=1)
    with pytest.raises(InvalidInput, match="weights"):
        from_matrix(coverage=C, weights=-w)
    with pytest.raises(InvalidInput, match="k"):
        mclp(matrix(T, w, 12), 13)
    with pytest.raises(InvalidInput, match="times"):
        p_median(from_matrix(coverage=C, weights=w), 2)


def test_dominated_columns_are_exactly_the_dominated_ones():
    from geo.siting.matrix import dominated_columns

    rng = np.random.default_rng(5)
    A = rng.random((60, 40)) < 0.15
    A[:, 10] = A[:, 3]  # an identical pair: the later one goes
    A[:, 11] = A[:, 4] & (rng.random(60) < 0.5)  # a subset
    cost = rng.integers(1, 3, 40).astype(float)
    for costs in (None, cost):
        got = dominated_columns(sp.csc_matrix(A), costs)
        c = np.ones(40) if costs is None else costs
        want = np.zeros(40, dtype=bool)
        for j in range(40):
            if not A[:, j].any():
                continue
            for jp in range(40):
                if jp != j and not (A[:, j] & ~A[:, jp]).any() and c[jp] <= c[j] and (
                        A[:, jp].sum() > A[:, j].sum() or c[jp] < c[j] or jp < j):
                    want[j] = True
        assert np.array_equal(got, want)
    assert dominated_columns(sp.csc_matrix(A))[10]


def test_edge_cases_nothing_to_gain():
    T, w = instance(8, 50, 6, 2)
    T[:, 6:] = 0.0  # the existing stations cover everyone
    M = matrix(T, w, 6)
    r = mclp(M, 3)
    assert r.objective == 0 and r.households_after == pytest.approx(w.sum()) and r.status == "optimal"
    assert mclp(M, 0).sites.size == 0
    z = lscp(M, 1.0)
    assert z.objective == 0 and z.sites.size == 0
    g = mclp(M, 3, method="greedy")
    assert g.objective == 0 and g.bound == 0 and g.gap == 0
