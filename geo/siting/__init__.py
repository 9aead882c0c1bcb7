"""Station siting: where new service points cover the most households, and which could close.

Pure computation (numpy / scipy; HiGHS through ``scipy.optimize.milp``).  A sparse demand x sites
matrix (:class:`SitingMatrix`, built by :func:`from_matrix` or from the network by
:func:`from_frames`) feeds the models: maximal covering (:func:`mclp`), set covering
(:func:`lscp`), p-median (:func:`p_median`), optional capacities; each answer
(:class:`SitingResult`) reports its status, objective, proven bound and certified gap.  The greedy
answers (``method="greedy"``, :mod:`geo.siting.greedy`) are instant previews with a certified bound.
Times are seconds, households the demand weights, positions lon/lat EPSG:4326.

Modules: ``matrix`` (the input), ``models`` (the MILPs), ``greedy``, ``solve`` (the runs, curves,
closures), ``results``, ``frames`` (the adaptor from the network, dwellings and candidates).
"""

from geo.siting.frames import from_frames, gap_node_candidates, street_node_candidates
from geo.siting.greedy import GreedyRun, greedy_close, greedy_cover, greedy_median
from geo.siting.matrix import EPS_S, SitingMatrix, from_matrix, merge_rows
from geo.siting.results import STATUSES, SitingResult
from geo.siting.solve import closure_losses, gain_curve, lscp, mclp, p_median

__all__ = [
    "EPS_S", "STATUSES", "GreedyRun", "SitingMatrix", "SitingResult", "closure_losses", "from_frames", "from_matrix",
    "gain_curve", "gap_node_candidates", "greedy_close", "greedy_cover", "greedy_median", "lscp", "mclp",
    "merge_rows", "p_median", "street_node_candidates",
]
