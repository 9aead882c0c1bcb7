"""The siting core's input: a sparse demand x sites matrix of travel times or coverage.

A :class:`SitingMatrix` holds, for ``n`` demand rows (dwellings, or any demand unit) and the sites
that could serve them, the pairs within a search limit and their travel times in **seconds**:

* columns ``0 .. m-1`` are the **candidates** (new sites that may be chosen), columns
  ``m .. m+e-1`` the **existing stations** (kept, or closable when a model says so);
* ``time_s`` is CSR ``(n, m + e)``; an entry is stored for every pair whose time is
  ``<= limit_s`` (explicit zeros are real: a site at the demand point itself);
* a pair **covers** its demand row when ``time <= budget_s + EPS_S`` (the 8-minute rule of
  :mod:`geo.reach`: a dwelling exactly on the budget is covered);
* ``weights`` are households (any non-negative number per row).

Built by :func:`from_matrix` from a boolean coverage matrix or a time matrix (numpy or scipy.sparse)
or by :func:`geo.siting.frames.from_frames` from the network.  Nothing here depends on a CRS: site
positions, when known, are lon/lat degrees (EPSG:4326) and only carried for the results.

Demand aggregation (:func:`merge_rows`) merges rows whose stored entries are identical (same sites,
same times, and for p-median the same fallback time), summing their weights: every model gives the
same optimum on the merged rows, so nothing is lost.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import scipy.sparse as sp

from geo.errors import InvalidInput, Problem

#: Tolerance (seconds) of every budget comparison, as in :mod:`geo.reach`.
EPS_S = 1e-6


@dataclass(frozen=True)
class SitingMatrix:
    """Demand rows x sites (candidates, then existing stations) with times in seconds.

    Attributes
    ----------
    time_s : scipy.sparse.csr_matrix, shape (n, m + e)
        Travel time of each stored pair, seconds (sorted indices; explicit zeros kept).  For a
        matrix built from coverage only, every stored pair has time 0 and ``has_times`` is False.
    weights : ndarray of float, shape (n,)
        Households of each demand row.
    budget_s : float
        Coverage budget, seconds: a pair covers when ``time <= budget_s + EPS_S``.
    limit_s : float
        Search limit, seconds: pairs farther than this are not stored (``>= budget_s``).
    n_candidates : int
        ``m``: the first ``m`` columns are candidates.
    candidate_ids, existing_ids : ndarray of object, shapes (m,) and (e,)
    candidate_cost : ndarray of float, shape (m,)
        Cost of opening each candidate (LSCP minimises the sum; default 1 each).
    capacity : ndarray of float, shape (m + e,)
        Households each site can serve (``inf``: unlimited); used only when a model asks for it.
    fallback_time_s : ndarray of float, shape (n,)
        p-median: the time a demand row keeps when no open site is within ``limit_s``, seconds.
    site_lonlat : ndarray of float, shape (m + e, 2)
        Site positions, lon/lat degrees EPSG:4326 (NaN when unknown).
    has_times : bool
        Whether ``time_s`` holds real times (p-median needs them).
    demand_ids : ndarray of object, shape (n,), optional
        Identifier of each demand row (e.g. dwelling ``source_id``).
    """

    time_s: sp.csr_matrix
    weights: np.ndarray
    budget_s: float
    limit_s: float
    n_candidates: int
    candidate_ids: np.ndarray
    existing_ids: np.ndarray
    candidate_cost: np.ndarray
    capacity: np.ndarray
    fallback_time_s: np.ndarray
    site_lonlat: np.ndarray
    has_times: bool = True
    demand_ids: np.ndarray | None = None
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    # -- sizes ---------------------------------------------------------------------------
    @property
    def n_demand(self) -> int:
        return int(self.time_s.shape[0])

    @property
    def n_existing(self) -> int:
        return int(self.time_s.shape[1]) - self.n_candidates

    @property
    def n_sites(self) -> int:
        return int(self.time_s.shape[1])

    @property
    def total_households(self) -> float:
        return float(self.weights.sum())

    # -- derived matrices (cached) -------------------------------------------------------
    @property
    def cover(self) -> sp.csr_matrix:
        """Boolean CSR (n, m + e): the pairs within the budget."""
        c = self._cache.get("cover")
        if c is None:
            t = self.time_s
            keep = t.data <= self.budget_s + EPS_S
            rows = np.repeat(np.arange(t.shape[0], dtype=np.int64), np.diff(t.indptr))
            c = csr_from(rows[keep], t.indices[keep], np.ones(int(keep.sum()), dtype=bool), t.shape)
            self._cache["cover"] = c
        return c

    @property
    def cover_csc(self) -> sp.csc_matrix:
        """:attr:`cover` as CSC (column ``j`` lists the demand rows site ``j`` covers)."""
        c = self._cache.get("cover_csc")
        if c is None:
            c = self._cache["cover_csc"] = self.cover.tocsc()
            c.sort_indices()
        return c

    def covered_by(self, sites: np.ndarray) -> np.ndarray:
        """Demand rows (bool, shape (n,)) covered by at least one of ``sites`` (column positions)."""
        sites = np.asarray(sites, dtype=np.int64)
        if sites.size == self.n_existing and sites.size and sites[0] == self.n_candidates and \
                (np.diff(sites) == 1).all():  # every existing station: asked for by every run, cached
            hit = self._cache.get("covered_existing")
            if hit is None:
                hit = self._cache["covered_existing"] = self._covered_by(sites)
            return hit.copy()
        return self._covered_by(sites)

    def _covered_by(self, sites: np.ndarray) -> np.ndarray:
        out = np.zeros(self.n_demand, dtype=bool)
        if sites.size:
            c = self.cover_csc
            out[c.indices[concat_ranges(c.indptr, sites)]] = True
        return out

    def open_cover(self) -> tuple[np.ndarray, sp.csr_matrix, sp.csc_matrix]:
        """``(rows, csr, csc)``: the demand rows (weight > 0) no existing station covers and the
        candidates' coverage of them (boolean, ``rows.size`` x ``n_candidates``, CSR and CSC), cached.
        A maximal-covering or set-covering question with the stations kept works only on these
        rows (every other row is covered whatever opens), so the preview and the reduction start
        here rather than from the whole matrix."""
        hit = self._cache.get("open_cover")
        if hit is None:
            ex = np.arange(self.n_candidates, self.n_sites)
            rows = np.flatnonzero(~self.covered_by(ex) & (self.weights > 0))
            csr = take_cols(take_rows(self.cover, rows), np.arange(self.n_candidates))
            csc = csr.tocsc()
            csc.sort_indices()
            hit = self._cache["open_cover"] = (rows, csr, csc)
        return hit

    def best_time(self, sites: np.ndarray) -> np.ndarray:
        """Each demand row's time (s) to the nearest of ``sites``, ``fallback_time_s`` when none within
        the limit (and never more than the fallback)."""
        sites = np.asarray(sites, dtype=np.int64)
        out = self.fallback_time_s.astype(float).copy()
        if sites.size:
            c = self.time_csc
            k = concat_ranges(c.indptr, sites)
            np.minimum.at(out, c.indices[k], c.data[k])
        return out

    @property
    def time_csc(self) -> sp.csc_matrix:
        """:attr:`time_s` as CSC, explicit zeros kept."""
        c = self._cache.get("time_csc")
        if c is None:
            c = self._cache["time_csc"] = self.time_s.tocsc()
            c.sort_indices()
        return c

    def with_weights(self, weights: np.ndarray) -> "SitingMatrix":
        """The same matrix with other demand weights."""
        return replace(self, weights=_weights(weights, self.n_demand), _cache={})

    def candidates_only(self) -> "SitingMatrix":
        """The same demand and candidates without the existing stations."""
        m = self.n_candidates
        return replace(self, time_s=take_cols(self.time_s, np.arange(m)), existing_ids=self.existing_ids[:0],
                       capacity=self.capacity[:m], site_lonlat=self.site_lonlat[:m], _cache={})


def csr_from(rows, cols, data, shape) -> sp.csr_matrix:
    """CSR with sorted indices from (row, col, value) triplets without duplicates; explicit zeros kept."""
    rows = np.asarray(rows, dtype=np.int64)
    cols = np.asarray(cols, dtype=np.int64)
    order = np.argsort(rows * max(int(shape[1]), 1) + cols, kind="stable")  # = lexsort((cols, rows)), quicker
    return _csr_ordered(rows[order], cols[order], np.asarray(data)[order], shape)


def _csr_ordered(rows: np.ndarray, cols: np.ndarray, data: np.ndarray, shape) -> sp.csr_matrix:
    """CSR from triplets already in row-major order (rows, then columns, ascending)."""
    indptr = np.zeros(shape[0] + 1, dtype=np.int64)
    indptr[1:] = np.cumsum(np.bincount(rows, minlength=shape[0]))
    return sp.csr_matrix((data, cols.astype(np.int32), indptr), shape=shape)


def _sorted(m: sp.csr_matrix) -> sp.csr_matrix:
    m.sort_indices()
    return m


def concat_ranges(ptr: np.ndarray, items: np.ndarray) -> np.ndarray:
    """Concatenated ``range(ptr[i], ptr[i + 1])`` for each ``i`` of ``items``, vectorised."""
    start, stop = ptr[items], ptr[items + 1]
    n = stop - start
    total = int(n.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    return np.repeat(start - np.cumsum(n) + n, n) + np.arange(total)


def _weights(weights, n: int) -> np.ndarray:
    w = np.asarray(weights, dtype=float).reshape(-1)
    if w.size != n:
        raise InvalidInput("demand weights do not match the matrix",
                           [Problem(f"{w.size} weights for {n} demand rows", field="weights")])
    if not np.isfinite(w).all() or (w < 0).any():
        bad = np.flatnonzero(~np.isfinite(w) | (w < 0))
        raise InvalidInput("invalid demand weights", [Problem("households must be finite and >= 0", row=int(i) + 1,
                                                              field="weights") for i in bad[:20]])
    return w


def _per_site(values, n: int, name: str, default: float) -> np.ndarray:
    if values is None:
        return np.full(n, default, dtype=float)
    v = np.asarray(values, dtype=float).reshape(-1)
    if v.size == 1:
        v = np.full(n, float(v[0]))
    if v.size != n:
        raise InvalidInput(f"{name} does not match the sites", [Problem(f"{v.size} values for {n} sites", field=name)])
    v = np.where(np.isnan(v), default, v)
    if (v < 0).any():
        raise InvalidInput(f"invalid {name}", [Problem("must be >= 0", row=int(i) + 1, field=name)
                                               for i in np.flatnonzero(v < 0)[:20]])
    return v


def _as_sparse(a, name: str) -> sp.csr_matrix | None:
    if a is None:
        return None
    if sp.issparse(a):
        return sp.csr_matrix(a)
    arr = np.asarray(a)
    if arr.ndim != 2:
        raise InvalidInput(f"{name} must be a 2-D matrix", [Problem("expected demand x sites", field=name)])
    return arr


def from_matrix(
    coverage=None,
    time_s=None,
    *,
    weights,
    budget_s: float | None = None,
    limit_s: float | None = None,
    existing_coverage=None,
    existing_time_s=None,
    candidate_ids=None,
    existing_ids=None,
    candidate_cost=None,
    candidate_capacity=None,
    existing_capacity=None,
    fallback_time_s=None,
    site_lonlat=None,
    demand_ids=None,
) -> SitingMatrix:
    """A :class:`SitingMatrix` from a coverage or a time matrix (dense numpy or scipy.sparse).

    Parameters
    ----------
    coverage : array-like or sparse, shape (n, m), bool, optional
        ``coverage[i, j]``: candidate ``j`` reaches demand ``i`` within the budget.  Give this *or*
        ``time_s``.
    time_s : array-like or sparse, shape (n, m), optional
        Travel times, seconds.  Dense input: entries ``> limit_s`` (and ``inf``/NaN) are dropped.
        Sparse input: every stored entry is a pair (an explicit 0 is a real zero time); missing
        entries are beyond the limit.
    weights : array-like, shape (n,)
        Households per demand row (>= 0).
    budget_s : float
        Coverage budget, seconds (required with ``time_s``).
    limit_s : float, optional
        Search limit, seconds (default ``budget_s``; p-median considers pairs up to it).
    existing_coverage, existing_time_s : optional, shape (n, e)
        The same for the existing stations (the same kind as the candidates' input).
    candidate_ids, existing_ids : sequence, optional
        Identifiers (default ``0..m-1`` and ``E0..``).
    candidate_cost : array-like (m,), optional
        Opening cost per candidate (LSCP), default 1.
    candidate_capacity, existing_capacity : float or array-like, optional
        Households each site can serve (NaN or missing: unlimited).
    fallback_time_s : float or array-like (n,), optional
        p-median: time kept by a row no open site reaches within the limit (default ``limit_s``).
    site_lonlat : array-like (m + e, 2), optional
        Site positions, lon/lat EPSG:4326, for the results.
    demand_ids : sequence (n,), optional

    Returns
    -------
    SitingMatrix

    Raises
    ------
    geo.errors.InvalidInput
        Both or neither of ``coverage`` / ``time_s``, mismatched shapes, negative weights, times or
        capacities, or a missing budget.
    """
    if (coverage is None) == (time_s is None):
        raise InvalidInput("give a coverage matrix or a time matrix",
                           [Problem("exactly one of coverage and time_s is required", field="coverage")])
    has_times = time_s is not None
    if has_times:
        if budget_s is None or not np.isfinite(budget_s) or budget_s < 0:
            raise InvalidInput("invalid time budget", [Problem("budget_s must be >= 0 seconds", field="budget_s")])
        budget = float(budget_s)
        limit = float(limit_s) if limit_s is not None else budget
        if limit < budget:
            raise InvalidInput("invalid search limit", [Problem("limit_s must be >= budget_s", field="limit_s")])
        if existing_coverage is not None:
            raise InvalidInput("existing stations need times too", [Problem("give existing_time_s", field="existing_coverage")])
        main, ex = time_s, existing_time_s
    else:
        budget = limit = 0.0
        if existing_time_s is not None:
            raise InvalidInput("existing stations need coverage too", [Problem("give existing_coverage", field="existing_time_s")])
        main, ex = coverage, existing_coverage
    parts = [_as_sparse(main, "time_s" if has_times else "coverage")]
    if ex is not None:
        parts.append(_as_sparse(ex, "existing"))
    n = parts[0].shape[0]
    if any(p.shape[0] != n for p in parts):
        raise InvalidInput("existing stations' matrix does not match the demand",
                           [Problem(f"{parts[1].shape[0]} rows for {n} demand rows", field="existing")])
    m = parts[0].shape[1]
    e = parts[1].shape[1] if len(parts) > 1 else 0
    rows, cols, vals = [], [], []
    off = 0
    for p in parts:
        if sp.issparse(p):
            c = p.tocoo()
            r, k, v = c.row, c.col, c.data.astype(float)
            if not has_times:  # coverage: stored False entries are not pairs
                keep = c.data.astype(bool)
                r, k, v = r[keep], k[keep], np.zeros(int(keep.sum()))
        else:
            if has_times:
                a = p.astype(float)
                r, k = np.nonzero(np.isfinite(a) & (a <= limit + EPS_S))
                v = a[r, k]
            else:
                r, k = np.nonzero(p.astype(bool))
                v = np.zeros(r.size)
        if has_times and v.size and (np.isnan(v).any() or (v < 0).any()):
            raise InvalidInput("invalid travel times", [Problem("times must be >= 0 seconds", field="time_s")])
        keep = v <= limit + EPS_S
        rows.append(r[keep])
        cols.append(k[keep] + off)
        vals.append(v[keep])
        off += p.shape[1]
    r, k, v = np.concatenate(rows).astype(np.int64), np.concatenate(cols).astype(np.int64), np.concatenate(vals)
    key = r * max(m + e, 1) + k
    order = np.argsort(key, kind="stable")
    ks = key[order]
    if ks.size and (ks[1:] == ks[:-1]).any():  # duplicates (a sparse input may carry them): keep the quickest
        order = np.lexsort((v, key))
        ks = key[order]
        order = order[np.r_[True, ks[1:] != ks[:-1]]]
    t = _csr_ordered(r[order], k[order], v[order], (n, m + e))
    w = _weights(weights, n)
    cid = np.arange(m).astype(object) if candidate_ids is None else np.asarray(candidate_ids, dtype=object)
    eid = np.array([f"E{i}" for i in range(e)], dtype=object) if existing_ids is None else np.asarray(existing_ids, dtype=object)
    if cid.size != m or eid.size != e:
        raise InvalidInput("site identifiers do not match the matrix",
                           [Problem(f"{cid.size} candidate ids for {m} candidates, {eid.size} existing ids for {e} stations",
                                    field="candidate_ids")])
    cost = _per_site(candidate_cost, m, "candidate_cost", 1.0)
    cap = np.concatenate([_per_site(candidate_capacity, m, "candidate_capacity", np.inf),
                          _per_site(existing_capacity, e, "existing_capacity", np.inf)])
    if fallback_time_s is None:
        fb = np.full(n, limit)
    else:
        fb = np.asarray(fallback_time_s, dtype=float).reshape(-1)
        fb = np.full(n, float(fb[0])) if fb.size == 1 else fb
        if fb.size != n or np.isnan(fb).any() or (fb < 0).any():
            raise InvalidInput("invalid fallback times", [Problem("one time >= 0 s per demand row", field="fallback_time_s")])
    ll = np.full((m + e, 2), np.nan) if site_lonlat is None else np.asarray(site_lonlat, dtype=float).reshape(m + e, 2)
    did = None if demand_ids is None else np.asarray(demand_ids, dtype=object)
    return SitingMatrix(time_s=t, weights=w, budget_s=budget, limit_s=limit, n_candidates=m, candidate_ids=cid,
                        existing_ids=eid, candidate_cost=cost, capacity=cap, fallback_time_s=fb, site_lonlat=ll,
                        has_times=has_times, demand_ids=did)


@dataclass(frozen=True)
class MergedRows:
    """Demand rows merged where nothing is lost.

    Attributes
    ----------
    matrix : scipy.sparse.csr_matrix, shape (g, s)
        One row per group (the group's common entries).
    weights : ndarray (g,)
        Summed weights.
    group : ndarray of int (n,)
        Group of each original row.
    first : ndarray of int (g,)
        An original row of each group.
    """

    matrix: sp.csr_matrix
    weights: np.ndarray
    group: np.ndarray
    first: np.ndarray


def merge_rows(m: sp.csr_matrix, weights: np.ndarray, extra: np.ndarray | None = None) -> MergedRows:
    """Merge the rows of ``m`` (CSR, sorted indices) whose stored entries (columns and values) are
    identical, and whose ``extra`` value (e.g. a fallback time) is equal; weights are summed.

    Rows are grouped by an exact key (row length, a 2 x 64-bit hash of the entries), then every row
    is compared entry by entry with its group's first row: a hash collision splits off, it never
    merges two different rows.
    """
    n = m.shape[0]
    m = _sorted(m)
    nnz = np.diff(m.indptr)
    rows = np.repeat(np.arange(n, dtype=np.int64), nnz)
    val = m.data.astype(np.float64).view(np.uint64) if m.dtype != bool else np.zeros(m.nnz, dtype=np.uint64)
    col = m.indices.astype(np.uint64)
    mix = []
    with np.errstate(over="ignore"):
        for a, b in ((0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9), (0x94D049BB133111EB, 0xD6E8FEB86659FD93)):
            x = (col + np.uint64(1)) * np.uint64(a) ^ (val * np.uint64(b) + np.uint64(0x632BE59BD9B4E019))
            x ^= x >> np.uint64(31)
            x *= np.uint64(0xBF58476D1CE4E5B9)
            x ^= x >> np.uint64(29)
            h = np.zeros(n, dtype=np.uint64)
            np.add.at(h, rows, x)
            mix.append(h)
    ex = np.zeros(n, dtype=np.uint64) if extra is None else np.asarray(extra, dtype=np.float64).view(np.uint64)
    key = np.stack([nnz.astype(np.uint64), mix[0], mix[1], ex], axis=1)
    _, first, group = np.unique(key, axis=0, return_index=True, return_inverse=True)
    group = group.ravel()
    # exact check against the group's first row (collisions become their own groups)
    rep = first[group]
    same = nnz == nnz[rep]
    idx_self = m.indptr[:-1]
    idx_rep = m.indptr[rep]
    pos = np.arange(m.nnz) - np.repeat(idx_self, nnz)
    other = np.repeat(idx_rep, nnz) + pos
    ok = np.ones(m.nnz, dtype=bool)
    ok_rows = np.ones(n, dtype=bool)
    if m.nnz:
        rr = np.repeat(same, nnz)
        oth = np.where(rr, other, 0)
        ok = rr & (m.indices == m.indices[oth]) & (m.data == m.data[oth])
        bad_entry = np.zeros(n, dtype=bool)
        np.logical_or.at(bad_entry, rows[~ok], True)
        ok_rows = same & ~bad_entry
    else:
        ok_rows = same
    if extra is not None:
        e = np.asarray(extra, dtype=np.float64)
        ok_rows &= e == e[rep]
    if not ok_rows.all():  # collisions: every mismatching row is its own group
        bad = np.flatnonzero(~ok_rows)
        group = group.copy()
        group[bad] = group.max() + 1 + np.arange(bad.size)
        _, first, group = np.unique(group, return_index=True, return_inverse=True)
    g = int(group.max()) + 1 if n else 0
    w = np.bincount(group, weights=weights, minlength=g)
    return MergedRows(matrix=take_rows(m, first), weights=w, group=group, first=first)


def take_rows(m: sp.csr_matrix, rows: np.ndarray) -> sp.csr_matrix:
    """Rows ``rows`` of CSR ``m`` (explicit zeros kept, unlike some scipy indexing paths)."""
    rows = np.asarray(rows, dtype=np.int64)
    sel = concat_ranges(m.indptr, rows)
    indptr = np.concatenate([[0], np.cumsum(np.diff(m.indptr)[rows])])
    return sp.csr_matrix((m.data[sel], m.indices[sel], indptr), shape=(rows.size, m.shape[1]))


def take_cols(m: sp.csr_matrix, cols: np.ndarray) -> sp.csr_matrix:
    """Columns ``cols`` (distinct positions, in that order) of CSR ``m`` as CSR, explicit zeros kept."""
    cols = np.asarray(cols, dtype=np.int64)
    new = np.full(m.shape[1], -1, dtype=np.int64)
    new[cols] = np.arange(cols.size)
    nc = new[m.indices]
    keep = nc >= 0
    if cols.size < 2 or (np.diff(cols) > 0).all():  # order kept within rows: no sort needed
        cs = np.concatenate([[0], np.cumsum(keep)])
        indptr = cs[m.indptr]
        return sp.csr_matrix((m.data[keep], nc[keep].astype(np.int32), indptr), shape=(m.shape[0], cols.size))
    rows = np.repeat(np.arange(m.shape[0], dtype=np.int64), np.diff(m.indptr))
    return csr_from(rows[keep], nc[keep], m.data[keep], (m.shape[0], cols.size))


def dominated_columns(cover: sp.csc_matrix, costs: np.ndarray | None = None, *, block: int = 1024) -> np.ndarray:
    """Columns (bool mask) that another column dominates: it covers every row this one covers, at no
    higher cost, and either more rows, a lower cost, or the same rows and cost from a lower position.
    Dropping them loses no optimum of a covering model whose columns all belong to one cardinality
    group (swap a dominated site for its dominator: nothing is lost).

    Method: columns are taken in an order where every dominator comes before what it dominates
    (more rows, lower cost, lower position first), in blocks.  Dominance is transitive, so a block
    need only be tried against the columns kept so far and its own earlier columns: one sparse
    product gives every pair's overlap, and a column is dominated when an overlap equals its size.
    """
    c = sp.csc_matrix(cover, dtype=np.float64)
    c.sort_indices()
    q = c.shape[1]
    out = np.zeros(q, dtype=bool)
    size = np.diff(c.indptr).astype(np.int64)
    cols = np.flatnonzero(size > 0)
    if cols.size < 2:
        return out
    cost = np.zeros(q) if costs is None else np.asarray(costs, dtype=float)
    seq = cols[np.lexsort((cols, cost[cols], -size[cols]))]  # dominators first
    rank = np.full(q, q, dtype=np.int64)
    rank[seq] = np.arange(seq.size)
    kept = np.zeros(q, dtype=bool)
    ct = c.T.tocsr()
    for lo in range(0, seq.size, block):
        cc = np.sort(seq[lo:lo + block])
        B = np.flatnonzero(kept | np.isin(np.arange(q), cc))
        ov = (ct[cc] @ c[:, B]).tocoo()
        a, b = cc[ov.row], B[ov.col]
        hit = (ov.data == size[a]) & (a != b) & (kept[b] | (rank[b] < rank[a])) & (cost[b] <= cost[a])
        out[a[hit]] = True
        kept[cc[~out[cc]]] = True
    return out
