"""The siting models as mixed-integer programs in the matrix form ``scipy.optimize.milp`` takes.

Variables come first as one binary ``x_j`` per site column of the (reduced) problem, then the
model's continuous variables.  Every model is written ``minimise c @ v`` subject to
``lo <= A @ v <= hi`` and variable bounds; its value in natural units is ``offset + sign * c @ v``
(``sign = -1`` for the maximisation models).

* **cover** (MCLP): ``y_i <= sum_{j covers i} x_j``, ``0 <= y_i <= 1``; maximise ``sum w_i y_i``.
  With binary ``x`` an optimal ``y`` is binary, so ``y`` stays continuous.
* **set cover** (LSCP): every row ``sum_{j covers i} x_j >= 1`` (full form) or the cover rows with
  ``sum w_i y_i >= target`` (partial form); minimise ``sum cost_j x_j``.
* **assignment** (capacitated MCLP, p-median): one continuous ``a_p in [0, 1]`` per pair
  ``p = (i, j)``: ``sum_{p of i} a_p <= 1``, ``a_p <= x_j`` and, for a site with a finite capacity,
  ``sum_{p of j} w_i a_p <= cap_j x_j``; maximise ``sum value_p a_p`` (households served, or
  household-seconds saved against each row's fallback time).  A row's households may be split
  between sites (fractional assignment).
* **cardinality**: groups of site columns with ``lo <= sum x_j <= hi`` (K new sites; exactly
  ``e - N`` existing stations kept when ``N`` may close); a site fixed open has bounds ``[1, 1]``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp


@dataclass(frozen=True)
class Cardinality:
    """``lo <= sum of x over sites <= hi`` (site positions in the reduced problem)."""

    sites: np.ndarray
    lo: float
    hi: float


@dataclass(frozen=True)
class MilpModel:
    """A MILP ``min c @ v, lo <= A v <= hi, lb <= v <= ub``, the first ``n_sites`` variables binary sites.

    ``value(v) = offset + sign * (c @ v)`` is the objective in natural units.
    """

    c: np.ndarray
    A: sp.csr_matrix
    lo: np.ndarray
    hi: np.ndarray
    lb: np.ndarray
    ub: np.ndarray
    integrality: np.ndarray
    n_sites: int
    sign: float
    offset: float

    def value(self, v: np.ndarray) -> float:
        return float(self.offset + self.sign * (self.c @ v))

    @property
    def size(self) -> dict:
        return {"variables": int(self.c.size), "binaries": int(self.integrality.sum()), "constraints": int(self.A.shape[0]),
                "nonzeros": int(self.A.nnz)}


def _card_rows(cards: list[Cardinality], nvar: int) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
    if not cards:
        return sp.csr_matrix((0, nvar)), np.zeros(0), np.zeros(0)
    rows = np.concatenate([np.full(c.sites.size, i) for i, c in enumerate(cards)])
    cols = np.concatenate([c.sites for c in cards])
    A = sp.csr_matrix((np.ones(cols.size), (rows, cols)), shape=(len(cards), nvar))
    return A, np.array([c.lo for c in cards], dtype=float), np.array([c.hi for c in cards], dtype=float)


def _site_bounds(n_sites: int, fixed_open: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    lb, ub = np.zeros(n_sites), np.ones(n_sites)
    if fixed_open is not None and len(fixed_open):
        lb[np.asarray(fixed_open, dtype=np.int64)] = 1.0
    return lb, ub


def _assemble(c, blocks, lb, ub, integ, n_sites, sign, offset) -> MilpModel:
    A = sp.vstack([b[0] for b in blocks], format="csr")
    lo = np.concatenate([b[1] for b in blocks])
    hi = np.concatenate([b[2] for b in blocks])
    return MilpModel(c=np.asarray(c, dtype=float), A=A, lo=lo, hi=hi, lb=lb, ub=ub, integrality=integ,
                     n_sites=n_sites, sign=sign, offset=float(offset))


def cover_model(cover: sp.csr_matrix, weights: np.ndarray, cards: list[Cardinality], *,
                fixed_open: np.ndarray | None = None, offset: float = 0.0) -> MilpModel:
    """MCLP: maximise the weight of rows covered by the open sites.

    Parameters
    ----------
    cover : csr_matrix (g, s), bool
        Rows (merged demand) x sites of the reduced problem.
    weights : ndarray (g,)
        Households per row.
    cards : list of Cardinality
    fixed_open : ndarray of int, optional
        Sites forced open.
    offset : float
        Households counted regardless (added to the value).
    """
    g, s = cover.shape
    nvar = s + g
    link = sp.hstack([-sp.csr_matrix(cover, dtype=float), sp.identity(g, format="csr")], format="csr")
    card, clo, chi = _card_rows(cards, nvar)
    lb, ub = _site_bounds(s, fixed_open)
    c = np.concatenate([np.zeros(s), -np.asarray(weights, dtype=float)])
    integ = np.concatenate([np.ones(s, dtype=np.uint8), np.zeros(g, dtype=np.uint8)])
    return _assemble(c, [(link, np.full(g, -np.inf), np.zeros(g)), (card, clo, chi)],
                     np.concatenate([lb, np.zeros(g)]), np.concatenate([ub, np.ones(g)]), integ, s, -1.0, offset)


def set_cover_model(cover: sp.csr_matrix, costs: np.ndarray, *, weights: np.ndarray | None = None,
                    target: float | None = None, cards: list[Cardinality] | None = None) -> MilpModel:
    """LSCP: minimise the opening cost so that every row is covered (``target`` None) or the covered
    weight reaches ``target`` (partial form, with ``weights``)."""
    g, s = cover.shape
    cards = cards or []
    cost = np.asarray(costs, dtype=float)
    if target is None:
        A = sp.csr_matrix(cover, dtype=float)
        card, clo, chi = _card_rows(cards, s)
        return _assemble(cost, [(A, np.ones(g), np.full(g, np.inf)), (card, clo, chi)], np.zeros(s), np.ones(s),
                         np.ones(s, dtype=np.uint8), s, 1.0, 0.0)
    nvar = s + g
    link = sp.hstack([-sp.csr_matrix(cover, dtype=float), sp.identity(g, format="csr")], format="csr")
    reach = sp.csr_matrix(np.concatenate([np.zeros(s), np.asarray(weights, dtype=float)])[None, :])
    card, clo, chi = _card_rows(cards, nvar)
    c = np.concatenate([cost, np.zeros(g)])
    integ = np.concatenate([np.ones(s, dtype=np.uint8), np.zeros(g, dtype=np.uint8)])
    return _assemble(c, [(link, np.full(g, -np.inf), np.zeros(g)), (reach, np.array([float(target)]), np.array([np.inf])),
                         (card, clo, chi)], np.zeros(nvar), np.ones(nvar), integ, s, 1.0, 0.0)


def assignment_model(pair_row: np.ndarray, pair_site: np.ndarray, pair_value: np.ndarray, weights: np.ndarray,
                     capacity: np.ndarray, n_rows: int, cards: list[Cardinality], *,
                     fixed_open: np.ndarray | None = None, offset: float = 0.0, sign: float = -1.0) -> MilpModel:
    """Assignment form: maximise ``sum value_p a_p`` over pairs (capacitated MCLP, p-median).

    Parameters
    ----------
    pair_row, pair_site : ndarray of int (p,)
        Row (merged demand) and site of each pair.
    pair_value : ndarray (p,)
        Value of assigning the whole row through the pair (households, or household-seconds saved).
    weights : ndarray (g,)
        Households per row (capacity use).
    capacity : ndarray (s,)
        Households per site; ``inf``: no capacity row.
    n_rows : int
    cards : list of Cardinality
    fixed_open : ndarray of int, optional
    offset, sign : float
        Natural value = ``offset + sign * c @ v``; ``c = -value`` so the default ``sign = -1`` reads
        the total value assigned.
    """
    s = capacity.size
    p = pair_row.size
    nvar = s + p
    pid = np.arange(p)
    one = sp.csr_matrix((np.ones(p), (pair_row, s + pid)), shape=(n_rows, nvar))
    link = sp.csr_matrix((np.r_[np.ones(p), -np.ones(p)], (np.r_[pid, pid], np.r_[s + pid, pair_site])), shape=(p, nvar))
    blocks = [(one, np.full(n_rows, -np.inf), np.ones(n_rows)), (link, np.full(p, -np.inf), np.zeros(p))]
    capped = np.flatnonzero(np.isfinite(capacity))
    if capped.size:
        rowof = np.full(s, -1)
        rowof[capped] = np.arange(capped.size)
        use = rowof[pair_site] >= 0
        r = np.r_[rowof[pair_site][use], np.arange(capped.size)]
        cidx = np.r_[s + pid[use], capped]
        val = np.r_[np.asarray(weights, dtype=float)[pair_row][use], -capacity[capped]]
        blocks.append((sp.csr_matrix((val, (r, cidx)), shape=(capped.size, nvar)), np.full(capped.size, -np.inf),
                       np.zeros(capped.size)))
    blocks.append(_card_rows(cards, nvar))
    lb, ub = _site_bounds(s, fixed_open)
    c = np.concatenate([np.zeros(s), -np.asarray(pair_value, dtype=float)])
    integ = np.concatenate([np.ones(s, dtype=np.uint8), np.zeros(p, dtype=np.uint8)])
    return _assemble(c, blocks, np.concatenate([lb, np.zeros(p)]), np.concatenate([ub, np.ones(p)]), integ, s,
                     sign, offset)
