"""Service-area polygons: the ground reachable within a budget, drawn from the reachable streets.

The drawn region is the set of points ``p`` whose nearest reachable street point ``q`` satisfies
``t(q) + |pq| / v <= T`` with ``|pq| <= side_m``: the street-side distance a resident walks from
the street (default 40 m, configurable) at the edge's mode speed ``v``.  It is drawn from the
reachable street segments, including the reachable part of partially reached edges, never from a
hull, and unreached blocks stay holes.  Two drawings of that rule:

- ``method="grid"`` (default, :mod:`geo.service_area.grid`): the filled contour of a travel-time
  grid (10 m cells by default; its edge is interpolated within a cell); ~7 ms a station at 8 minutes, used for every station at once.
- ``method="vector"`` (:mod:`geo.service_area.vector`): buffers of the reached stretches, tapering
  along the last stretch, unioned in GEOS; exact to the rule but 10-50 times slower.

The union over all stations (:func:`coverage_polygons`, :func:`union_by_area`) is drawn from the
multi-source times the same two ways (the grid one per area or 2 km tile).

Households are never decided by these polygons (see :mod:`geo.reach`); :func:`polygon_disagreement`
measures how far the drawing departs from the exact decision.

All geometry here is in the network's metric CRS until the frames returned (EPSG:4326).

The public surface: import every name from here (``from geo.service_area import ...``).
"""

from geo.service_area.grid import CELL_M, grid_polygon
from geo.service_area.polygons import (MAX_BREAKS, METHODS, coverage_polygons, polygon_disagreement, reach_intervals,
                                       service_areas, station_polygons, union_by_area)
from geo.service_area.vector import intervals_polygon

__all__ = ["MAX_BREAKS", "METHODS", "CELL_M", "reach_intervals", "intervals_polygon", "grid_polygon",
           "station_polygons", "service_areas", "coverage_polygons", "union_by_area", "polygon_disagreement"]
