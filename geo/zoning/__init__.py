"""Grid redraw (zoning): balanced, contiguous grids of ~300 households that follow streets.

Pure computation (numpy, scipy, shapely, geopandas, pymetis): no database, no web.  Inputs are
EPSG:4326 frames; metric work runs in the CRS :mod:`geo.crs` picks for the data.

Modules, by meaning:

* :mod:`~geo.zoning.params` - :class:`ZoningParams` (target, band, grid count, locks, weights,
  ``stay_close``, seed method, random seed) and :data:`MICRO_PARAMS`;
* :mod:`~geo.zoning.units` - street blocks and dwelling cells (:class:`Units`);
* :mod:`~geo.zoning.graph` - their CSR adjacency with shared and on-street lengths (:class:`UnitGraph`);
* :mod:`~geo.zoning.bisect` - recursive household bisection (:func:`bisect_households`);
* :mod:`~geo.zoning.partition` - the live assignment with incremental totals and checked moves
  (:class:`Partition`, :class:`MoveRefused`);
* :mod:`~geo.zoning.search` - the contiguity-preserving local search;
* :mod:`~geo.zoning.solve` - per community and per county redraws (:func:`solve_community`,
  :func:`solve_county`), auto-balance of a draft (:func:`rebalance`), micro-grids (:func:`micro_grids`):
  a package (seed, repair, exact, current, community, rebalance, county, plan);
* :mod:`~geo.zoning.reasons` - why a band cannot be met (:class:`Reason`);
* :mod:`~geo.zoning.metrics` - per grid and per plan metrics;
* :mod:`~geo.zoning.check` - validation of existing grids (:func:`check_grids`).
"""

from geo.zoning.bisect import Bisection, bisect_households
from geo.zoning.check import CHECK_ISSUES, check_grids
from geo.zoning.graph import UnitGraph, build_graph
from geo.zoning.metrics import grid_metrics, plan_metrics, polsby_popper, reock
from geo.zoning.params import MICRO_PARAMS, SEED_METHODS, ZoningParams
from geo.zoning.partition import GridState, MoveRefused, MoveResult, Partition, band_status
from geo.zoning.reasons import REASON_CODES, Reason
from geo.zoning.search import balance, improve, total_violation
from geo.zoning.solve import (CommunityPlan, CountyPlan, grid_count, home_grids, micro_grids, rebalance,
                              solve_community, solve_county, solve_units)
from geo.zoning.units import Units, build_units, community_units, units_from_frame

__all__ = [
    "ZoningParams", "MICRO_PARAMS", "SEED_METHODS",
    "Units", "build_units", "community_units", "units_from_frame",
    "UnitGraph", "build_graph",
    "Bisection", "bisect_households",
    "Partition", "MoveRefused", "MoveResult", "GridState", "band_status",
    "balance", "improve", "total_violation",
    "CommunityPlan", "CountyPlan", "grid_count", "home_grids", "solve_units", "solve_community", "solve_county", "rebalance",
    "micro_grids",
    "Reason", "REASON_CODES",
    "grid_metrics", "plan_metrics", "polsby_popper", "reock",
    "check_grids", "CHECK_ISSUES",
]
