"""Run a siting model on a :class:`~geo.siting.matrix.SitingMatrix`: reduce, solve, report.

Every run (:func:`mclp`, :func:`lscp`, :func:`p_median`) first reduces the problem without losing
anything: rows already covered by kept stations drop out of an MCLP, rows with identical entries
merge (weights summed, :func:`geo.siting.matrix.merge_rows`), sites that reach no remaining row
drop out.  Then the greedy answer (:mod:`geo.siting.greedy`) is computed; ``method="greedy"``
returns it with its certified bound.  ``method="exact"`` solves the MILP (:mod:`geo.siting.models`)
with HiGHS through ``scipy.optimize.milp`` under ``time_limit_s`` and ``mip_gap`` and reports the
status, the objective (recounted on the original rows), HiGHS's dual bound and the certified gap;
if HiGHS stops without a solution the greedy answer is returned with that bound.  When the greedy
answer already meets its own certified bound the MILP is skipped (proven optimal).

Existing stations (``existing=``): ``"kept"`` (they stay open; without capacities their covered
demand drops out), ``"closable"`` (exactly ``close`` of them close, chosen by the model), or
``"ignored"`` (the matrix's candidates alone).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.optimize import Bounds, LinearConstraint, milp

from geo.errors import InvalidInput, Problem
from geo.siting.greedy import greedy_close, greedy_cover, greedy_median, swap_improve
from geo.siting.matrix import EPS_S, SitingMatrix, concat_ranges, csr_from, dominated_columns, merge_rows, take_cols, take_rows
from geo.siting.models import Cardinality, MilpModel, assignment_model, cover_model, set_cover_model
from geo.siting.results import SitingResult

EXISTING = ("kept", "closable", "ignored")
METHODS = ("exact", "greedy")
#: Relative tolerance under which a gap counts as zero ("optimal").
ZERO_GAP = 1e-9


@dataclass(frozen=True)
class MilpOutcome:
    """HiGHS's answer: ``x`` (None when no solution), natural-unit objective and bound, status."""

    x: np.ndarray | None
    objective: float
    bound: float
    status: str
    message: str


def solve_milp(model: MilpModel, *, time_limit_s: float = 60.0, mip_gap: float = 1e-4) -> MilpOutcome:
    """Solve ``model`` with HiGHS (``scipy.optimize.milp``).

    Returns the objective and HiGHS's dual bound in natural units (``model.value``); ``status`` is
    ``optimal`` / ``gap_limit`` (HiGHS optimal within ``mip_gap``), ``time_limit`` or ``infeasible``.
    """
    res = milp(model.c, integrality=model.integrality, bounds=Bounds(model.lb, model.ub),
               constraints=[LinearConstraint(model.A, model.lo, model.hi)] if model.A.shape[0] else None,
               options={"time_limit": float(time_limit_s), "mip_rel_gap": float(mip_gap), "presolve": True,
                        "disp": False})
    if res.status == 2:
        return MilpOutcome(None, np.nan, np.nan, "infeasible", res.message)
    x = res.x
    dual = getattr(res, "mip_dual_bound", None)
    if dual is None or not np.isfinite(dual):
        dual = res.fun if (res.status == 0 and res.fun is not None) else -np.inf
    bound = model.offset + model.sign * float(dual)
    if x is None:
        return MilpOutcome(None, np.nan, bound, "time_limit", res.message)
    x = np.asarray(x, dtype=float)
    obj = model.value(x)
    st = "gap_limit" if res.status == 0 else "time_limit"
    return MilpOutcome(x, obj, bound, st, res.message)


def solve_lp(model: MilpModel, *, time_limit_s: float = 60.0) -> tuple[float, np.ndarray | None]:
    """The LP relaxation of ``model``: its optimum in natural units (a bound on the MILP's; NaN if not
    solved within the time limit) and the relaxed solution."""
    res = milp(model.c, integrality=np.zeros_like(model.integrality), bounds=Bounds(model.lb, model.ub),
               constraints=[LinearConstraint(model.A, model.lo, model.hi)] if model.A.shape[0] else None,
               options={"time_limit": float(time_limit_s)})
    if res.status != 0 or res.x is None:
        return np.nan, None
    return model.value(res.x), np.asarray(res.x)


def lp_relaxation(model: MilpModel, *, time_limit_s: float = 60.0) -> float:
    """The LP relaxation's optimum of ``model`` in natural units (a bound on the MILP's)."""
    return solve_lp(model, time_limit_s=time_limit_s)[0]


def _gap(obj: float, bound: float, maximise: bool) -> float:
    if not (np.isfinite(obj) and np.isfinite(bound)):
        return np.inf
    diff = (bound - obj) if maximise else (obj - bound)
    diff = max(diff, 0.0)
    if diff <= 1e-9 * max(1.0, abs(obj)):
        return 0.0
    return diff / abs(obj) if obj != 0 else np.inf


def _check_common(matrix: SitingMatrix, existing: str, method: str, k: int | None, close: int) -> None:
    problems = []
    if existing not in EXISTING:
        problems.append(Problem(f"existing must be one of {', '.join(EXISTING)}", field="existing"))
    if method not in METHODS:
        problems.append(Problem(f"method must be one of {', '.join(METHODS)}", field="method"))
    if k is not None and (not isinstance(k, (int, np.integer)) or k < 0):
        problems.append(Problem("k must be a whole number >= 0", field="k"))
    if k is not None and isinstance(k, (int, np.integer)) and k > matrix.n_candidates:
        problems.append(Problem(f"k = {k} is more than the {matrix.n_candidates} candidates", field="k"))
    if not isinstance(close, (int, np.integer)) or close < 0 or close > matrix.n_existing:
        problems.append(Problem(f"close must be between 0 and the {matrix.n_existing} existing stations", field="close"))
    elif close and existing != "closable":
        problems.append(Problem("close needs existing='closable'", field="close"))
    if problems:
        raise InvalidInput("invalid siting request", problems)


def _sites_of(matrix: SitingMatrix, existing: str, close: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(candidate columns, existing columns) that the model may use."""
    m, e = matrix.n_candidates, matrix.n_existing
    return np.arange(m), (np.arange(m, m + e) if existing != "ignored" else np.zeros(0, dtype=np.int64))


def _order(matrix: SitingMatrix, chosen: np.ndarray, covered: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Chosen candidate columns in greedy order of marginal coverage gain from ``covered``."""
    if chosen.size == 0:
        return chosen, np.zeros(0)
    cols = np.sort(chosen)
    c = matrix.cover_csc
    sub = sp.csc_matrix((c.data[_col_ranges(c, cols)], c.indices[_col_ranges(c, cols)],
                         np.r_[0, np.cumsum(np.diff(c.indptr)[cols])]), shape=(c.shape[0], cols.size))
    run = greedy_cover(sub, matrix.weights, cols.size, covered=covered)
    picks = cols[run.picks]
    rest = np.setdiff1d(chosen, picks)  # sites adding nothing, kept in column order
    return np.r_[picks, rest].astype(np.int64), np.r_[run.gains, np.zeros(rest.size)]


def _col_ranges(c: sp.csc_matrix, cols: np.ndarray) -> np.ndarray:
    """Positions in ``c.indices`` of the entries of columns ``cols``."""
    return concat_ranges(c.indptr, np.asarray(cols, dtype=np.int64))


def _finish(matrix, model, method, status, objective, bound, maximise, *, t0, **kw) -> SitingResult:
    return SitingResult(model=model, method=method, status=status, objective=float(objective), bound=float(bound),
                        gap=_gap(objective, bound, maximise), matrix=matrix, solve_s=time.perf_counter() - t0, **kw)


# -- MCLP ---------------------------------------------------------------------------------

def mclp(matrix: SitingMatrix, k: int, *, existing: str = "kept", close: int = 0, capacity: bool = False,
         method: str = "exact", time_limit_s: float = 60.0, mip_gap: float = 1e-4, lp_bound: bool = False
         ) -> SitingResult:
    """Maximal covering: choose ``k`` new sites covering the most households within the budget.

    Parameters
    ----------
    matrix : SitingMatrix
    k : int
        New sites to open (at most ``k``: a site that adds nothing is not opened).
    existing : {"kept", "closable", "ignored"}
        Existing stations stay open (their covered households drop out), or exactly ``close`` of
        them close, chosen by the model, or they are ignored.
    close : int
        With ``existing="closable"``: how many existing stations close.
    capacity : bool
        Respect ``matrix.capacity`` (households per site; existing stations kept are open with theirs).
    method : {"exact", "greedy"}
    time_limit_s : float
        HiGHS time limit, seconds.
    mip_gap : float
        Relative gap at which HiGHS may stop (the gap reached is reported).
    lp_bound : bool
        Also solve the LP relaxation and report its bound.

    Returns
    -------
    SitingResult
    """
    t0 = time.perf_counter()
    _check_common(matrix, existing, method, k, close)
    if capacity:
        return _mclp_capacity(matrix, k, existing, close, method, time_limit_s, mip_gap, lp_bound, t0)
    m = matrix.n_candidates
    cand, ex = _sites_of(matrix, existing, close)
    w = matrix.weights
    before = matrix.covered_by(ex).astype(float)
    notes = []
    if existing == "closable":
        return _mclp_closable(matrix, k, close, method, time_limit_s, mip_gap, lp_bound, t0, before)
    covered0 = before.astype(bool)
    if method == "greedy":  # the preview: on the rows left uncovered (cached), no other reduction
        if existing == "kept":  # the same picks as on the whole matrix: covered rows add nothing
            rows, _, oc = matrix.open_cover()
            g = greedy_cover(oc, w[rows], k)
        else:
            g = greedy_cover(matrix.cover_csc, w, k, covered=covered0, allowed=cand)
        after = covered0 | matrix.covered_by(g.picks)  # every row, households or not
        return _finish(matrix, "mclp", method, "greedy", g.value, g.bound, True, t0=t0, sites=g.picks,
                       site_gains=g.gains, closed=np.zeros(0, dtype=np.int64), covered_before=before,
                       covered_after=after.astype(float), open_sites=np.r_[g.picks, ex].astype(np.int64),
                       greedy_objective=g.value, k=k, size={"demand_rows": int((~covered0).sum())})
    # reduce: uncovered rows, candidate columns; merge identical rows; drop empty rows and columns
    if existing == "kept":
        rows, sub, _ = matrix.open_cover()
    else:
        rows = np.flatnonzero(~covered0 & (w > 0))
        sub = take_cols(take_rows(matrix.cover, rows), cand)
    merged = merge_rows(sub, w[rows])
    mc = merged.matrix
    keep_r = np.flatnonzero(np.diff(mc.indptr) > 0)
    mc, mw = take_rows(mc, keep_r), merged.weights[keep_r]
    used = np.unique(mc.indices)
    mc = take_cols(mc, used)
    offset = float(w @ before) if existing == "kept" else 0.0
    size = {"demand_rows": int(rows.size), "merged_rows": int(mc.shape[0]), "candidates": int(used.size)}
    g = greedy_cover(mc.tocsc(), mw, min(k, used.size))
    greedy_sites = cand[used[g.picks]]
    greedy_val = g.value
    if method == "greedy" or g.bound - g.value <= 1e-9 * max(1.0, g.value) or used.size <= min(k, used.size):
        chosen = greedy_sites
        bound = g.bound
        status = "greedy" if method == "greedy" else "optimal"
        if method == "exact":
            notes.append("greedy answer met its certified bound: no MILP needed")
        lpb = None
    else:
        kk = min(k, used.size)
        live = np.flatnonzero(~dominated_columns(mc))  # lossless: a dominated site never beats its dominator
        mcl = take_cols(mc, live)
        size["undominated"] = int(live.size)
        model = cover_model(mcl, mw, [Cardinality(np.arange(live.size), 0, kk)])
        size.update(model.size)
        # the LP bound first; an incumbent from the greedy and the LP's top sites improved by swaps:
        # when their gap to the LP bound is within mip_gap no branch and bound is needed
        lpv, xlp = solve_lp(model, time_limit_s=time_limit_s)
        lpb = lpv if np.isfinite(lpv) else None
        csc_live = mcl.tocsc()
        single = np.argsort(-np.asarray(csc_live.T @ mw).ravel(), kind="stable")
        starts = [np.searchsorted(live, g.picks[np.isin(g.picks, live)])]
        if xlp is not None:
            starts.append(np.argsort(-xlp[: live.size], kind="stable")[:kk])
        best_s, best_v = None, -np.inf
        for st in starts:
            fill = single[~np.isin(single, st)][: kk - st.size]  # dominated greedy picks: best single sites
            sw, v = swap_improve(csc_live, mw, np.r_[st, fill].astype(np.int64))
            if v > best_v:
                best_s, best_v = sw, v
        bound = min(g.bound, lpv) if np.isfinite(lpv) else g.bound
        heur = cand[used[live[best_s]]] if best_v >= greedy_val else greedy_sites
        heur_v = max(best_v, greedy_val)
        if _gap(heur_v, bound, True) <= mip_gap:
            chosen, status = heur, "gap_limit"
            notes.append("incumbent (greedy + swaps) within mip_gap of the LP bound: no branch and bound needed")
        else:
            left = max(1.0, time_limit_s - (time.perf_counter() - t0))
            out = solve_milp(model, time_limit_s=left, mip_gap=mip_gap)
            bound = min(bound, out.bound)
            if out.x is None or out.objective < heur_v:
                chosen, status = heur, ("time_limit" if out.x is None else out.status)
                if out.x is None:
                    notes.append(f"HiGHS returned no solution ({out.message}); heuristic answer with the bound")
            else:
                chosen = cand[used[live[np.flatnonzero(out.x[: live.size] > 0.5)]]]
                status = out.status
    after = (covered0 | matrix.covered_by(chosen)).astype(float)
    obj = float(w @ after) - offset
    if status == "gap_limit" and _gap(obj, bound, True) == 0.0:
        status = "optimal"
    order, gains = _order(matrix, chosen, covered0)
    return _finish(matrix, "mclp", method, status, obj, max(bound, obj), True, t0=t0, sites=order, site_gains=gains,
                   closed=np.zeros(0, dtype=np.int64), covered_before=before, covered_after=after,
                   open_sites=np.r_[order, ex].astype(np.int64), lp_bound=lpb, greedy_objective=greedy_val, k=k,
                   size=size, notes=notes)


def _mclp_closable(matrix, k, close, method, time_limit_s, mip_gap, lp_bound, t0, before) -> SitingResult:
    m, e = matrix.n_candidates, matrix.n_existing
    w = matrix.weights
    notes = []
    rows = np.flatnonzero(w > 0)
    sub = take_rows(matrix.cover, rows)
    merged = merge_rows(sub, w[rows])
    mc = merged.matrix
    keep_r = np.flatnonzero(np.diff(mc.indptr) > 0)
    mc, mw = take_rows(mc, keep_r), merged.weights[keep_r]
    size = {"demand_rows": int(rows.size), "merged_rows": int(mc.shape[0]), "candidates": m, "existing": e}
    # greedy: close the least-loss stations one by one, then add k sites
    csc = mc.tocsc()
    gc = greedy_close(csc, mw, np.arange(m, m + e), close)
    kept = np.setdiff1d(np.arange(m, m + e), gc.picks)
    cov_kept = np.zeros(mc.shape[0], dtype=bool)
    if kept.size:
        cov_kept[np.unique(take_cols(mc, kept).indices)] = True
    ga = greedy_cover(csc, mw, k, covered=cov_kept, allowed=np.arange(m))
    greedy_open = np.r_[ga.picks, kept].astype(np.int64)
    greedy_val = float(w @ matrix.covered_by(greedy_open))
    if method == "greedy":
        open_sites, status, bound, lpb = greedy_open, "greedy", np.inf, None
        notes.append("greedy closure has no certified bound")
    else:
        cards = [Cardinality(np.arange(m), 0, k), Cardinality(np.arange(m, m + e), e - close, e - close)]
        model = cover_model(mc, mw, cards)
        size.update(model.size)
        out = solve_milp(model, time_limit_s=time_limit_s, mip_gap=mip_gap)
        lpb = lp_relaxation(model, time_limit_s=time_limit_s) if lp_bound else None
        bound = out.bound
        if out.x is None or out.objective < greedy_val:
            open_sites, status = greedy_open, ("greedy" if out.x is None else out.status)
        else:
            open_sites, status = np.flatnonzero(out.x[: m + e] > 0.5), out.status
    after = matrix.covered_by(open_sites).astype(float)
    obj = float(w @ after)
    if status == "gap_limit" and _gap(obj, bound, True) == 0.0:
        status = "optimal"
    new = open_sites[open_sites < m]
    kept_now = open_sites[open_sites >= m]
    cov_k = matrix.covered_by(kept_now)
    order, gains = _order(matrix, new, cov_k)
    closed = np.setdiff1d(np.arange(m, m + e), kept_now) - m
    return _finish(matrix, "mclp", method, status, obj, max(bound, obj), True, t0=t0, sites=order, site_gains=gains,
                   closed=closed.astype(np.int64), covered_before=before, covered_after=after,
                   open_sites=np.r_[order, kept_now].astype(np.int64), lp_bound=lpb, greedy_objective=greedy_val,
                   k=k, size=size, notes=notes)


def _pairs(m: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
    rows = np.repeat(np.arange(m.shape[0], dtype=np.int64), np.diff(m.indptr))
    return rows, m.indices.astype(np.int64)


def _mclp_capacity(matrix, k, existing, close, method, time_limit_s, mip_gap, lp_bound, t0) -> SitingResult:
    if method == "greedy":
        raise InvalidInput("invalid siting request", [Problem("capacities need method='exact'", field="method")])
    m, e = matrix.n_candidates, matrix.n_existing
    cand, ex = _sites_of(matrix, existing, close)
    w = matrix.weights
    cap = matrix.capacity
    # rows covered by a kept uncapacitated station are served regardless: they drop out
    free = ex[~np.isfinite(cap[ex])] if existing == "kept" else np.zeros(0, dtype=np.int64)
    served_free = matrix.covered_by(free)
    sites = np.r_[cand, ex].astype(np.int64)
    sites = sites[~np.isin(sites, free)]
    rows = np.flatnonzero(~served_free & (w > 0))
    sub = take_cols(take_rows(matrix.cover, rows), sites)
    merged = merge_rows(sub, w[rows])
    mc, mw = merged.matrix, merged.weights
    pr, ps = _pairs(mc)
    s = sites.size
    ncand = cand.size
    cards = [Cardinality(np.arange(ncand), 0, k)]
    fixed = None
    if existing == "kept":
        fixed = np.arange(ncand, s)
    elif existing == "closable":
        cards.append(Cardinality(np.arange(ncand, s), e - close, e - close))
    offset = float(w @ served_free)
    model = assignment_model(pr, ps, mw[pr], mw, cap[sites], mc.shape[0], cards, fixed_open=fixed, offset=offset)
    size = {"demand_rows": int(rows.size), "merged_rows": int(mc.shape[0]), "pairs": int(pr.size), **model.size}
    out = solve_milp(model, time_limit_s=time_limit_s, mip_gap=mip_gap)
    lpb = lp_relaxation(model, time_limit_s=time_limit_s) if lp_bound else None
    if out.x is None:
        raise InvalidInput("no capacitated answer within the time limit",
                           [Problem(f"HiGHS: {out.message}; raise time_limit_s", field="time_limit_s")])
    x = out.x
    open_pos = np.flatnonzero(x[:s] > 0.5)
    a = x[s:]
    share = np.bincount(pr, weights=a, minlength=mc.shape[0])
    after = np.where(served_free, 1.0, 0.0)
    after[rows] = np.minimum(share[merged.group], 1.0)
    served = np.bincount(ps, weights=a * mw[pr], minlength=s)[open_pos]
    open_sites = sites[open_pos]
    before = _capacity_before(matrix, ex, time_limit_s, mip_gap)
    new = open_sites[open_sites < m]
    kept = np.r_[free, open_sites[open_sites >= m]].astype(np.int64)
    order, gains = _order(matrix, new, matrix.covered_by(kept))
    obj = float(w @ after)
    status = "optimal" if _gap(obj, out.bound, True) == 0.0 else out.status
    open_all = np.r_[order, np.sort(kept)].astype(np.int64)
    by_site = dict(zip(open_sites.tolist(), served.tolist()))
    return _finish(matrix, "mclp", method, status, obj, max(out.bound, obj), True, t0=t0, sites=order,
                   site_gains=gains, closed=np.setdiff1d(ex, kept) - m, covered_before=before, covered_after=after,
                   open_sites=open_all, served=np.array([by_site.get(int(j), np.nan) for j in open_all]),
                   lp_bound=lpb, k=k, size=size,
                   notes=["households of a demand row may be split between sites (fractional assignment)",
                          "served is NaN for kept stations without a capacity"])


def _capacity_before(matrix: SitingMatrix, ex: np.ndarray, time_limit_s: float, mip_gap: float) -> np.ndarray:
    """Share of each row served by the existing stations ``ex`` alone, with their capacities."""
    w, cap = matrix.weights, matrix.capacity
    free = ex[~np.isfinite(cap[ex])]
    served_free = matrix.covered_by(free)
    sites = ex[np.isfinite(cap[ex])]
    rows = np.flatnonzero(~served_free & (w > 0))
    out = np.where(served_free, 1.0, 0.0)
    if sites.size == 0 or rows.size == 0:
        return out
    merged = merge_rows(take_cols(take_rows(matrix.cover, rows), sites), w[rows])
    mc, mw = merged.matrix, merged.weights
    pr, ps = _pairs(mc)
    model = assignment_model(pr, ps, mw[pr], mw, cap[sites], mc.shape[0], [], fixed_open=np.arange(sites.size))
    res = solve_milp(model, time_limit_s=time_limit_s, mip_gap=mip_gap)
    share = np.bincount(pr, weights=res.x[sites.size:], minlength=mc.shape[0])
    out[rows] = np.minimum(share[merged.group], 1.0)
    return out


# -- LSCP ---------------------------------------------------------------------------------

def lscp(matrix: SitingMatrix, target: float | None = None, *, existing: str = "kept", method: str = "exact",
         time_limit_s: float = 60.0, mip_gap: float = 1e-4, lp_bound: bool = False) -> SitingResult:
    """Set covering: the cheapest set of new sites (fewest, with unit costs) reaching a coverage target.

    Parameters
    ----------
    matrix : SitingMatrix
    target : float, optional
        Share of all households (0-1) to be covered after, existing stations' coverage included
        (1.0: everyone; 0.95: the partial form).  Default: every household some site can reach.
    existing : {"kept", "ignored"}
    method, time_limit_s, mip_gap, lp_bound
        As for :func:`mclp`.

    Raises
    ------
    geo.errors.InvalidInput
        A target above what the candidates and the kept stations can reach (the message gives it).
    """
    t0 = time.perf_counter()
    if existing == "closable":
        raise InvalidInput("invalid siting request", [Problem("set covering keeps or ignores existing stations",
                                                              field="existing")])
    _check_common(matrix, existing, method, None, 0)
    cand, ex = _sites_of(matrix, existing, 0)
    w = matrix.weights
    W = float(w.sum())
    covered0 = matrix.covered_by(ex)
    coverable = covered0 | matrix.covered_by(cand)
    reach_w = float(w @ coverable)
    if target is not None and not (0.0 <= float(target) <= 1.0):
        raise InvalidInput("invalid coverage target", [Problem("target must be a share between 0 and 1", field="target")])
    need_total = reach_w if target is None else float(target) * W
    if need_total > reach_w + 1e-9 * max(W, 1.0):
        share = reach_w / W if W else 1.0
        raise InvalidInput("coverage target cannot be reached", [Problem(
            f"the candidates and kept stations reach at most {share:.4%} of households "
            f"({reach_w:g} of {W:g}); lower the target or add candidates", field="target")])
    need = need_total - float(w @ covered0)
    rows = np.flatnonzero(~covered0 & (w > 0) & coverable)
    full = need >= float(w[rows].sum()) - 1e-9 * max(W, 1.0)
    before = covered0.astype(float)
    notes = []
    if need <= 1e-12:
        return _finish(matrix, "lscp", method, "optimal", 0.0, 0.0, False, t0=t0, sites=np.zeros(0, dtype=np.int64),
                       site_gains=np.zeros(0), closed=np.zeros(0, dtype=np.int64), covered_before=before,
                       covered_after=before.copy(), open_sites=ex, greedy_objective=0.0, k=0,
                       notes=["the target is met without new sites"])
    sub = take_cols(take_rows(matrix.cover, rows), cand)
    merged = merge_rows(sub, w[rows])
    mc, mw = merged.matrix, merged.weights
    used = np.unique(mc.indices)
    mc = take_cols(mc, used)
    cost = matrix.candidate_cost[cand[used]]
    g = greedy_cover(mc.tocsc(), mw, None, costs=cost, target=need - 1e-9 * max(W, 1.0))
    greedy_sites = cand[used[g.picks]]
    greedy_val = float(cost[g.picks].sum())
    size = {"demand_rows": int(rows.size), "merged_rows": int(mc.shape[0]), "candidates": int(used.size)}
    lpb = None
    if method == "greedy":
        chosen, status, bound = greedy_sites, "greedy", 0.0
        model = set_cover_model(mc, cost) if full else set_cover_model(mc, cost, weights=mw, target=need)
        bound = lp_relaxation(model, time_limit_s=time_limit_s)
        lpb = bound
        notes.append("bound: the LP relaxation")
    else:
        live = np.flatnonzero(~dominated_columns(mc, cost))
        mcl, costl = take_cols(mc, live), cost[live]
        size["undominated"] = int(live.size)
        model = set_cover_model(mcl, costl) if full else set_cover_model(mcl, costl, weights=mw,
                                                                         target=need - 1e-9 * max(W, 1.0))
        size.update(model.size)
        out = solve_milp(model, time_limit_s=time_limit_s, mip_gap=mip_gap)
        lpb = lp_relaxation(model, time_limit_s=time_limit_s) if lp_bound else None
        bound = out.bound
        if out.x is None or out.objective > greedy_val:
            chosen, status = greedy_sites, ("greedy" if out.x is None else out.status)
        else:
            chosen, status = cand[used[live[np.flatnonzero(out.x[: live.size] > 0.5)]]], out.status
    after = (covered0 | matrix.covered_by(chosen)).astype(float)
    obj = float(matrix.candidate_cost[chosen].sum())
    if status == "gap_limit" and _gap(obj, bound, False) == 0.0:
        status = "optimal"
    order, gains = _order(matrix, chosen, covered0)
    return _finish(matrix, "lscp", method, status, obj, min(bound, obj), False, t0=t0, sites=order, site_gains=gains,
                   closed=np.zeros(0, dtype=np.int64), covered_before=before, covered_after=after,
                   open_sites=np.r_[order, ex].astype(np.int64), lp_bound=lpb, greedy_objective=greedy_val,
                   k=int(chosen.size), size=size, notes=notes)


# -- p-median -----------------------------------------------------------------------------

def p_median(matrix: SitingMatrix, k: int, *, existing: str = "kept", close: int = 0, capacity: bool = False,
             method: str = "exact", time_limit_s: float = 60.0, mip_gap: float = 1e-4, lp_bound: bool = False
             ) -> SitingResult:
    """p-median: choose ``k`` new sites minimising the household-weighted mean time to the nearest open site.

    Only pairs stored in the matrix (within ``limit_s``) are considered; a row no open site reaches
    keeps its ``fallback_time_s``.  With kept stations each row starts from its time to the nearest
    of them.  Parameters as for :func:`mclp`; the objective is the mean time, seconds, over all
    demand (households).
    """
    t0 = time.perf_counter()
    _check_common(matrix, existing, method, k, close)
    if not matrix.has_times:
        raise InvalidInput("p-median needs travel times", [Problem("build the matrix from time_s", field="time_s")])
    m, e = matrix.n_candidates, matrix.n_existing
    cand, ex = _sites_of(matrix, existing, close)
    w = matrix.weights
    W = float(w.sum()) or 1.0
    fb = matrix.fallback_time_s
    before_t = matrix.best_time(ex)
    notes = []
    if existing == "kept" and not capacity:
        start, sites, fixed, cards = before_t, cand, None, [Cardinality(np.arange(cand.size), 0, k)]
    else:
        sites = np.r_[cand, ex].astype(np.int64)
        start = fb.astype(float)
        cards = [Cardinality(np.arange(cand.size), 0, k)]
        fixed = None
        if existing == "kept":
            fixed = np.arange(cand.size, sites.size)
        elif existing == "closable":
            cards.append(Cardinality(np.arange(cand.size, sites.size), e - close, e - close))
    if method == "greedy" and (existing != "kept" or capacity):
        raise InvalidInput("invalid siting request", [Problem("greedy p-median keeps existing stations, without "
                                                              "capacities", field="method")])
    t = take_cols(matrix.time_s, sites)
    rows_all = np.repeat(np.arange(t.shape[0], dtype=np.int64), np.diff(t.indptr))
    better = (t.data < start[rows_all]) & (w[rows_all] > 0)
    imp = csr_from(rows_all[better], t.indices[better], t.data[better], t.shape)
    rows = np.flatnonzero(np.diff(imp.indptr) > 0)
    merged = merge_rows(take_rows(imp, rows), w[rows], extra=start[rows])
    mt, mw = merged.matrix, merged.weights
    mstart = start[rows][merged.first]
    base_total = float(w @ start)
    size = {"demand_rows": int(rows.size), "merged_rows": int(mt.shape[0])}
    greedy_val = None
    g = None
    if existing == "kept" and not capacity:
        g = greedy_median(mt.tocsc(), mw, mstart, k)
        greedy_val = (base_total - g.value) / W
    lpb = None
    if method == "greedy":
        chosen = sites[g.picks]
        status, bound = "greedy", (base_total - g.bound) / W
        open_sites = np.r_[chosen, ex].astype(np.int64)
    else:
        pr, ps = _pairs(mt)
        val = mw[pr] * (mstart[pr] - mt.data)
        cap = matrix.capacity[sites] if capacity else np.full(sites.size, np.inf)
        model = assignment_model(pr, ps, val, mw, cap, mt.shape[0], cards, fixed_open=fixed, offset=base_total,
                                 sign=1.0)
        size.update(model.size)
        out = solve_milp(model, time_limit_s=time_limit_s, mip_gap=mip_gap)
        lpb = lp_relaxation(model, time_limit_s=time_limit_s) / W if lp_bound else None
        bound = out.bound / W
        if g is not None:
            bound = max(bound, (base_total - g.bound) / W)
        if out.x is None or (greedy_val is not None and out.objective / W > greedy_val):
            if g is None:
                raise InvalidInput("no p-median answer within the time limit",
                                   [Problem(f"HiGHS: {out.message}; raise time_limit_s", field="time_limit_s")])
            chosen, status = sites[g.picks], ("greedy" if out.x is None else out.status)
            open_sites = np.r_[chosen, ex].astype(np.int64)
        else:
            open_sites = sites[np.flatnonzero(out.x[: sites.size] > 0.5)]
            if existing == "kept" and not capacity:
                open_sites = np.r_[open_sites, ex].astype(np.int64)
            status = out.status
            if capacity:
                a = out.x[sites.size:]
                notes.append("households of a demand row may be split between sites (fractional assignment)")
    new = open_sites[open_sites < m]
    kept = open_sites[open_sites >= m]
    if capacity and method == "exact" and out.x is not None:
        # times with capacities: the assignment's, fallback for the unassigned share
        share = np.bincount(pr, weights=a, minlength=mt.shape[0])
        tsum = np.bincount(pr, weights=a * mt.data, minlength=mt.shape[0])
        after_m = tsum + (1 - share) * mstart
        after_t = start.copy()
        after_t[rows] = after_m[merged.group]
    else:
        after_t = matrix.best_time(open_sites)
    obj = float(w @ after_t) / W
    if status == "gap_limit" and _gap(obj, bound, False) == 0.0:
        status = "optimal"
    order, gains = _order_median(matrix, new, matrix.best_time(kept) if not capacity else start)
    budget_cov = lambda tt: (tt <= matrix.budget_s + EPS_S).astype(float)  # noqa: E731
    return _finish(matrix, "p_median", method, status, obj, min(bound, obj), False, t0=t0, sites=order,
                   site_gains=gains, closed=np.setdiff1d(ex, kept) - m, covered_before=budget_cov(before_t),
                   covered_after=budget_cov(after_t), time_before_s=before_t, time_after_s=after_t,
                   open_sites=np.r_[order, kept].astype(np.int64), lp_bound=lpb, greedy_objective=greedy_val, k=k,
                   size=size, notes=notes)


def _order_median(matrix: SitingMatrix, chosen: np.ndarray, start: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if chosen.size == 0:
        return chosen.astype(np.int64), np.zeros(0)
    run = greedy_median(matrix.time_csc, matrix.weights, start, chosen.size, allowed=np.sort(chosen))
    rest = np.setdiff1d(chosen, run.picks)
    return np.r_[run.picks, rest].astype(np.int64), np.r_[run.gains, np.zeros(rest.size)]


# -- curves and closures ------------------------------------------------------------------

def gain_curve(matrix: SitingMatrix, k: int, *, exact_at=(), existing: str = "kept", time_limit_s: float = 60.0,
               mip_gap: float = 1e-4) -> pd.DataFrame:
    """Marginal-gain curve of MCLP for ``1..k`` new sites.

    One greedy run gives, for each ``i``, the ``i``-th site's gain and the households covered after
    ``i`` sites; for each ``i`` in ``exact_at`` the exact optimum, its bound and gap are added.

    Returns
    -------
    DataFrame with ``k, site, gain, covered, covered_share`` and ``exact_covered, exact_bound,
    exact_gap`` (NaN where not solved); households covered include the kept stations'.
    """
    _check_common(matrix, existing, "greedy", k, 0)
    cand, ex = _sites_of(matrix, existing, 0)
    covered0 = matrix.covered_by(ex)
    base = float(matrix.weights @ covered0)
    if existing == "kept":  # the rows left uncovered: the same run (module docstring of greedy)
        rows, _, oc = matrix.open_cover()
        run = greedy_cover(oc, matrix.weights[rows], k)
    else:
        run = greedy_cover(matrix.cover_csc, matrix.weights, k, covered=covered0, allowed=cand)
    n = run.picks.size
    W = matrix.total_households or 1.0
    cov = base + np.cumsum(run.gains)
    df = pd.DataFrame({"k": np.arange(1, n + 1), "site": matrix.candidate_ids[run.picks], "gain": run.gains,
                       "covered": cov, "covered_share": cov / W})
    df = df.reindex(range(k)).assign(k=np.arange(1, k + 1))
    if n < k:  # no more gain: the curve is flat
        df.loc[n:, ["gain"]] = 0.0
        df.loc[n:, ["covered"]] = cov[-1] if n else base
        df.loc[n:, ["covered_share"]] = (cov[-1] if n else base) / W
    ec, eb, eg = (np.full(k, np.nan) for _ in range(3))
    for i in exact_at:
        r = mclp(matrix, int(i), existing=existing, time_limit_s=time_limit_s, mip_gap=mip_gap)
        off = base if existing == "kept" else 0.0
        ec[int(i) - 1], eb[int(i) - 1], eg[int(i) - 1] = r.objective + off, r.bound + off, r.gap
    df["exact_covered"], df["exact_bound"], df["exact_gap"] = ec, eb, eg
    return df


def closure_losses(matrix: SitingMatrix, *, open_candidates=()) -> pd.DataFrame:
    """Per existing station: households it covers and households that lose coverage if it alone closes.

    ``open_candidates`` (candidate positions) count as open too.  Sorted by the loss, least first.

    Returns
    -------
    DataFrame with ``station, lon, lat, reach_households, lost_households``.
    """
    m, e = matrix.n_candidates, matrix.n_existing
    cols = np.r_[np.asarray(open_candidates, dtype=np.int64), np.arange(m, m + e)]
    c = matrix.cover
    count = np.asarray(take_cols(c, cols).sum(axis=1)).ravel()
    ex = take_cols(c, np.arange(m, m + e)).tocsc()
    w = matrix.weights
    lost = np.asarray(ex.T @ (w * (count == 1))).ravel()
    reach = np.asarray(ex.T @ w).ravel()
    ll = matrix.site_lonlat[m:]
    df = pd.DataFrame({"station": matrix.existing_ids, "lon": ll[:, 0], "lat": ll[:, 1],
                       "reach_households": reach, "lost_households": lost})
    return df.sort_values(["lost_households", "reach_households"], kind="stable", ignore_index=True)
