"""What a siting run answers: the chosen sites, the figures and coverage before and after per demand row.

Households are the matrix's weights; times are seconds; site positions lon/lat degrees EPSG:4326.
Per-demand-row arrays are in the matrix's row order, so a caller aggregates them per grid or
community with its own codes (e.g. ``numpy.bincount``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from geo.siting.matrix import SitingMatrix

#: Statuses of a result.
STATUSES = ("optimal", "gap_limit", "time_limit", "greedy", "infeasible")


@dataclass
class SitingResult:
    """The answer of one model run.

    Attributes
    ----------
    model : str
        ``"mclp"``, ``"lscp"`` or ``"p_median"``.
    method : str
        ``"exact"`` (HiGHS through ``scipy.optimize.milp``) or ``"greedy"``.
    status : str
        ``"optimal"`` (proven: gap 0 to rounding), ``"gap_limit"`` (stopped within the gap tolerance),
        ``"time_limit"`` (stopped by the time limit with a solution), ``"greedy"`` (greedy answer with its
        certified bound) or ``"infeasible"``.
    objective : float
        The model's value of the answer: MCLP households covered (with kept existing stations:
        households covered beyond those they already cover; with closable ones: all households
        covered), LSCP total opening cost (number of sites with unit costs), p-median
        household-weighted mean time over all demand, seconds.
    bound : float
        Proven bound on the optimum in the same units (MCLP: upper; LSCP, p-median: lower).
    gap : float
        Certified relative gap ``|bound - objective| / |objective|`` (0 when both are 0), >= 0.
    lp_bound : float or None
        The LP relaxation's optimum, when asked for.
    greedy_objective : float or None
        The greedy answer's value (the incumbent the exact solve must match or beat).
    sites : ndarray of int
        Candidate positions opened (columns ``< m``), in greedy order of marginal gain.
    site_gains : ndarray of float
        Marginal gain of each site in that order (households; p-median household-seconds saved).
    closed : ndarray of int
        Existing stations closed (positions among the existing, ``0 .. e-1``).
    covered_before, covered_after : ndarray of float (n,)
        Share of each demand row's households covered before (existing stations kept as they are) and
        after the change: 0 or 1, or a fraction with capacities.
    time_before_s, time_after_s : ndarray (n,) or None
        p-median: each row's time to its nearest open site (fallback when none within the limit).
    served : ndarray of float or None
        With capacities: households served by each open site, aligned with ``open_sites``.
    open_sites : ndarray of int
        Every open site column after the change (candidates opened and existing stations kept).
    k : int or None
        Sites asked for.
    solve_s : float
        Wall time of the run, seconds.
    size : dict
        Size of the MILP solved (variables, binaries, constraints, nonzeros, merged demand rows).
    notes : list of str
    """

    model: str
    method: str
    status: str
    objective: float
    bound: float
    gap: float
    matrix: SitingMatrix = field(repr=False)
    sites: np.ndarray
    site_gains: np.ndarray
    closed: np.ndarray
    covered_before: np.ndarray = field(repr=False)
    covered_after: np.ndarray = field(repr=False)
    open_sites: np.ndarray = field(repr=False)
    lp_bound: float | None = None
    greedy_objective: float | None = None
    time_before_s: np.ndarray | None = field(default=None, repr=False)
    time_after_s: np.ndarray | None = field(default=None, repr=False)
    served: np.ndarray | None = field(default=None, repr=False)
    k: int | None = None
    solve_s: float = 0.0
    size: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)

    # -- figures -------------------------------------------------------------------------
    @property
    def households(self) -> float:
        return self.matrix.total_households

    @property
    def households_before(self) -> float:
        """Households covered before, over all demand rows."""
        return float(self.matrix.weights @ self.covered_before)

    @property
    def households_after(self) -> float:
        return float(self.matrix.weights @ self.covered_after)

    @property
    def newly_covered(self) -> float:
        """Households covered after that were not before (net of any closures: after - before)."""
        return self.households_after - self.households_before

    @property
    def site_ids(self) -> np.ndarray:
        return self.matrix.candidate_ids[self.sites]

    @property
    def closed_ids(self) -> np.ndarray:
        return self.matrix.existing_ids[self.closed]

    def summary(self) -> dict:
        """The headline figures (JSON-ready)."""
        out = {
            "model": self.model, "method": self.method, "status": self.status, "k": self.k,
            "objective": self.objective, "bound": self.bound, "gap": self.gap, "lp_bound": self.lp_bound,
            "greedy_objective": self.greedy_objective, "households": self.households,
            "covered_before": self.households_before, "covered_after": self.households_after,
            "newly_covered": self.newly_covered, "sites": [_py(x) for x in self.site_ids],
            "closed": [_py(x) for x in self.closed_ids], "solve_s": self.solve_s, "size": dict(self.size),
            "notes": list(self.notes),
        }
        if self.time_after_s is not None:
            w = self.matrix.weights
            tot = w.sum()
            out["mean_time_before_s"] = float(w @ self.time_before_s / tot) if tot else float("nan")
            out["mean_time_after_s"] = float(w @ self.time_after_s / tot) if tot else float("nan")
        return out

    def sites_frame(self) -> pd.DataFrame:
        """One row per opened candidate, in gain order: ``order, candidate, lon, lat, gain, reach_households``
        (households within the budget of the site alone) and ``served_households`` with capacities."""
        m = self.matrix
        ll = m.site_lonlat[self.sites] if self.sites.size else np.zeros((0, 2))
        alone = np.array([float(m.weights @ m.covered_by(np.array([j]))) for j in self.sites])
        df = pd.DataFrame({"order": np.arange(1, self.sites.size + 1), "candidate": m.candidate_ids[self.sites],
                           "lon": ll[:, 0], "lat": ll[:, 1], "gain": self.site_gains, "reach_households": alone})
        if self.served is not None:
            pos = {int(j): i for i, j in enumerate(self.open_sites)}
            df["served_households"] = [float(self.served[pos[int(j)]]) for j in self.sites]
        return df

    def demand_frame(self) -> pd.DataFrame:
        """Per demand row: ``demand, households, covered_before, covered_after`` (+ times for p-median)."""
        m = self.matrix
        ids = m.demand_ids if m.demand_ids is not None else np.arange(m.n_demand)
        df = pd.DataFrame({"demand": ids, "households": m.weights, "covered_before": self.covered_before,
                           "covered_after": self.covered_after})
        if self.time_after_s is not None:
            df["time_before_s"] = self.time_before_s
            df["time_after_s"] = self.time_after_s
        return df


def _py(x):
    return x.item() if isinstance(x, np.generic) else x
