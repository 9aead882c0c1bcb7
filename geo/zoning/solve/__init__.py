"""Redraw the grids of a community (and of a county, community by community in worker processes).

Per community (nesting by construction: a grid is a union of the community's units):

1. units and their graph (:mod:`geo.zoning.units`, :mod:`geo.zoning.graph`);
2. the number of grids: given, or ``round(free households / target)`` clamped into the counts whose
   mean grid is in band (locked grids keep theirs) (:mod:`~geo.zoning.solve.seed`);
3. a seed: METIS on the unit graph (vertex weights households, edge weights the cut costs), or the
   recursive household bisection; with ``stay_close`` the current grids instead
   (:mod:`~geo.zoning.solve.seed`, :mod:`~geo.zoning.solve.current`);
4. repair: every grid one piece (fragments join the adjacent grid that best keeps the balance)
   (:mod:`~geo.zoning.solve.repair`);
5. the local search (:mod:`geo.zoning.search`): into the band, then compact and along streets;
   restarts from other seeds while grids stay out of band; small areas searched exhaustively
   (:mod:`~geo.zoning.solve.exact`);
6. reasons for whatever stays out of band (:mod:`geo.zoning.reasons`).

:mod:`~geo.zoning.solve.community` runs these steps for one area, :mod:`~geo.zoning.solve.county`
for every community of a county in worker processes, :mod:`~geo.zoning.solve.rebalance` for the free
grids of a draft (auto-balance); :mod:`~geo.zoning.solve.plan` holds what they
return.  Micro-grids (second level) run the same engine inside each grid with every dwelling its own
cell.
"""

from geo.zoning.solve.community import micro_grids, solve_community, solve_units
from geo.zoning.solve.county import solve_county
from geo.zoning.solve.current import home_grids
from geo.zoning.solve.plan import CommunityPlan, CountyPlan
from geo.zoning.solve.rebalance import rebalance
from geo.zoning.solve.seed import grid_count

__all__ = ["CommunityPlan", "CountyPlan", "grid_count", "home_grids", "solve_units", "solve_community",
           "solve_county", "rebalance", "micro_grids"]
