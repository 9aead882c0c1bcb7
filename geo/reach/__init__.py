"""Network reach: travel times from stations to dwellings along the streets, seconds.

The public surface of the reach engine; import every name from here (``from geo.reach import ...``):

- :mod:`geo.reach.nearest`: :func:`compute_reach` (every dwelling's time to its nearest station,
  one multi-source pass, with the straight-line fallback), :func:`select_stations` (the stations
  that count on a date) and :func:`no_street_regions`;
- :mod:`geo.reach.result`: :class:`Reach` and the constants :data:`EPS_S` (tolerance of every
  budget comparison, seconds), :data:`DETOUR_FACTOR` and :data:`METHODS`, and
  :func:`concat_reaches` (per-region reaches as one, on a :func:`geo.network.union_networks`);
- :mod:`geo.reach.search`: the shortest-path core, :func:`source_arcs`, :func:`node_times`,
  :func:`station_node_times` (one station alone, bounded), :func:`point_times` and
  :func:`edge_part_s` (the time along part of an edge, shared with the siting matrix);
- :mod:`geo.reach.per_station`: bounded searches around one station, :class:`DwellingIndex`,
  :func:`station_dwellings` and :func:`station_catchments`.

Times are seconds; positions are metres in the network's metric CRS (``Reach.crs``); frames in and
out are EPSG:4326.
"""

from geo.reach.nearest import compute_reach, no_street_regions, select_stations
from geo.reach.per_station import DwellingIndex, station_catchments, station_dwellings
from geo.reach.result import DETOUR_FACTOR, EPS_S, METHODS, Reach, concat_reaches
from geo.reach.search import edge_part_s, node_times, point_times, source_arcs, station_node_times

__all__ = [
    "compute_reach", "select_stations", "no_street_regions",
    "Reach", "concat_reaches", "EPS_S", "DETOUR_FACTOR", "METHODS",
    "source_arcs", "node_times", "station_node_times", "point_times", "edge_part_s",
    "DwellingIndex", "station_dwellings", "station_catchments",
]
