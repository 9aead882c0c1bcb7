"""The siting service: :mod:`geo.siting` fed from the coverage service's stored layers and caches.

A question (:class:`api.siting.params.SitingParams`) starts from the coverage run of its coverage
question in the caller's scope (:meth:`api.coverage.CoverageService.run`: the same layers, street
network, dwelling snap and reach, cached there), picks the candidates
(:func:`api.siting.candidates.candidates_for`), builds the siting matrix with
:func:`geo.siting.from_frames` (one bounded search per candidate and per counted station, reusing the
run's dwelling snap) and solves the model.  Matrices are cached per (run, candidates), so a second
question on the same data (another k, the other model) only solves.

Scope: the run reads only the caller's dwellings and stations, so households outside the
jurisdiction are no demand and its stations no supply (streets are the county's, as for coverage).
"""

from __future__ import annotations

import hashlib
import time
from typing import Callable

import geopandas as gpd
import numpy as np

from api.coverage import CoverageService, Run
from api.coverage.cache import Keyed
from api.jurisdiction import Jurisdiction
from api.siting.candidates import candidates_for
from api.siting.params import SitingParams
from api.siting.proposal import Proposal
from geo.siting import SitingMatrix, from_frames, gain_curve, lscp, mclp, p_median

#: Matrices kept in memory (per run and candidates).
MAX_MATRICES = 4
#: Answered proposals kept in memory (per matrix and question): a repeat answers from memory.
MAX_PROPOSALS = 16


def _points_key(points: gpd.GeoDataFrame | None) -> str | None:
    if points is None:
        return None
    h = hashlib.sha256()
    h.update(np.asarray(points.geometry.to_crs(4326).get_coordinates().to_numpy(), dtype=float).tobytes())
    for c in ("candidate_id", "source_id", "id", "code", "name"):
        if c in points:
            h.update("\x1f".join(map(str, points[c].tolist())).encode())
    return h.hexdigest()


class SitingService:
    """Siting proposals for the API, the CLI and the notebooks.

    Parameters
    ----------
    coverage : CoverageService
        The coverage service whose runs (network, snap, reach) the proposals start from.
    sync_candidates : int
        ``POST /siting`` answers at once when the matrix is cached or has at most this many
        candidates; a larger question runs as a job (``GRIDMAP_SITING_SYNC_CANDIDATES``).
    """

    def __init__(self, coverage: CoverageService, *, sync_candidates: int = 2000):
        self.coverage = coverage
        self.sync_candidates = sync_candidates
        self._matrices = Keyed(MAX_MATRICES)
        self._candidates = Keyed(2 * MAX_MATRICES)
        self._proposals = Keyed(MAX_PROPOSALS)
        self.stats = {"matrices_built": 0, "proposals": 0}

    @classmethod
    def from_settings(cls, coverage: CoverageService, settings) -> "SitingService":
        return cls(coverage, sync_candidates=settings.siting_sync_candidates)

    # -- the pieces ---------------------------------------------------------------------
    def coverage_run(self, scope: Jurisdiction, params: SitingParams,
                     progress: Callable[[str], None] | None = None) -> Run:
        """The coverage run the question starts from (the coverage service's cache)."""
        if params.area is not None:
            from api.db.areas import resolve_area

            with self.coverage.engine.connect() as conn:
                resolve_area(conn, params.area, scope)  # 404 outside the jurisdiction
        return self.coverage.run(scope, params.coverage, progress=progress)

    def _run_key(self, run: Run) -> tuple:
        return (run.params_hash, tuple(sorted(run.versions.items())))

    def candidates(self, run: Run, params: SitingParams, points: gpd.GeoDataFrame | None = None) -> gpd.GeoDataFrame:
        """The candidate points of ``params`` for ``run`` (cached per run)."""
        kind = "file" if points is not None else params.candidates
        if params.k == 0:  # closing only: no site is added, the stations stand in as the (unused) candidates
            kind = "stations"
        key = (self._run_key(run), kind, params.area, _points_key(points))

        def make():
            if kind == "stations":
                s = run.counted
                return gpd.GeoDataFrame({"candidate_id": ("station-" + s["id"].astype(str)).to_numpy(dtype=object),
                                         "name": s["name"].to_numpy(dtype=object)}, geometry=s.geometry.values,
                                        crs=4326)
            return candidates_for(run, kind, area=params.area, points=points, max_snap_m=self.coverage.max_snap_m)

        return self._candidates.get(key, make)

    def is_quick(self, scope: Jurisdiction, params: SitingParams, points: gpd.GeoDataFrame | None = None) -> bool:
        """Whether the question answers at once: its matrix is cached, or it has at most
        ``sync_candidates`` candidates (the coverage run is computed if needed)."""
        run = self.coverage_run(scope, params)
        cands = self.candidates(run, params, points)
        key = self._matrix_key(run, params, points)
        return key in self._matrices or len(cands) <= self.sync_candidates

    def _matrix_key(self, run: Run, params: SitingParams, points) -> tuple:
        kind = "stations" if params.k == 0 else ("file" if points is not None else params.candidates)
        return (self._run_key(run), kind, params.area, _points_key(points), params.limit_s)

    def matrix(self, run: Run, params: SitingParams, points: gpd.GeoDataFrame | None = None
               ) -> tuple[gpd.GeoDataFrame, SitingMatrix, np.ndarray, float]:
        """``(candidates, matrix, fixed, seconds)``: the siting matrix of the run's dwellings x
        (candidates, counted stations), cached.  ``fixed`` marks the dwellings the coverage run
        reaches by the straight-line fallback: weight 0 in the matrix (they stay as they are)."""
        cands = self.candidates(run, params, points)

        def make():
            t0 = time.perf_counter()
            self.stats["matrices_built"] += 1
            ex = run.counted.copy()
            ex["source_id"] = ex["id"].astype(str).to_numpy()
            m = from_frames(run.net, run.inputs.dwellings, cands, ex if len(ex) else None,
                            budget_s=run.params.budget_s, limit_s=params.limit_s, max_snap_m=self.coverage.max_snap_m,
                            candidate_id="candidate_id", existing_id="source_id", existing_capacity=None,
                            dwelling_snap=run.reach.dwelling_snap)
            fixed = (run.reach.method == "straight_line") & run.reach.covered(run.params.budget_s)
            if fixed.any():
                m = m.with_weights(np.where(fixed, 0.0, m.weights))
            return m, fixed, time.perf_counter() - t0

        m, fixed, secs = self._matrices.get(self._matrix_key(run, params, points), make)
        return cands, m, fixed, secs

    # -- the answer ---------------------------------------------------------------------
    def propose(self, scope: Jurisdiction, params: SitingParams, points: gpd.GeoDataFrame | None = None, *,
                progress: Callable[[str], None] | None = None) -> Proposal:
        """Answer ``params`` in ``scope`` (``points``: the caller's candidates, ``params.candidates``
        then reads ``file``).

        Raises
        ------
        api.errors.ValidationFailed, geo.errors.InvalidInput
            A question the data cannot answer (no candidate, k above the candidates, an LSCP target
            out of reach), naming the field.
        api.errors.NotFound
            ``area`` outside the jurisdiction.
        """
        say = progress or (lambda msg: None)
        run = self.coverage_run(scope, params, progress=lambda msg: say(f"coverage: {msg}"))
        key = (*self._matrix_key(run, params, points), tuple(sorted(params.as_dict().items())))
        return self._proposals.get(key, lambda: self._propose(run, params, points, say))

    def _propose(self, run: Run, params: SitingParams, points, say) -> Proposal:
        t0 = time.perf_counter()
        say("siting: candidates")
        cands = self.candidates(run, params, points)
        say(f"siting: travel times from {len(cands):,} candidates")
        cands, m, fixed, secs = self.matrix(run, params, points)
        say(f"siting: solving {params.model}")
        opts = {"method": params.method, "time_limit_s": float(params.time_limit_s)}
        if params.model == "mclp":
            if params.close:
                res = mclp(m, params.k, existing="closable", close=params.close, **opts)
            else:
                res = mclp(m, params.k, existing="kept", **opts)
        elif params.model == "lscp":
            res = lscp(m, params.target, existing="kept", **opts)
        else:
            res = p_median(m, params.k, existing="kept", **opts)
        curve = None
        if params.model == "mclp" and params.curve and not params.close and params.k >= 1:
            say("siting: gain curve")
            curve = gain_curve(m, params.k)
            off = float(m.weights @ m.covered_by(np.arange(m.n_candidates, m.n_sites)))
            i = params.k - 1
            curve.loc[i, ["exact_covered", "exact_bound", "exact_gap"]] = [res.objective + off, res.bound + off,
                                                                          res.gap]
        self.stats["proposals"] += 1
        return Proposal(params=params, run=run, candidates=cands, matrix=m, result=res, fixed=fixed, curve=curve,
                        matrix_s=secs, seconds=time.perf_counter() - t0)
