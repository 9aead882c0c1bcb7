"""Incident analysis on points: density binning and kernel rasters, and Getis-Ord Gi* hotspots.

The public surface: import every name from here (``from geo.incidents import ...``).

- :mod:`geo.incidents.density`: :func:`project`, :func:`bin_points` (:class:`Bins`),
  :func:`choose_cell_size`, :func:`kde_raster` and :func:`h3_counts`; inputs are lon/lat degrees
  (EPSG:4326), cell sizes and bandwidths metres in the CRS of :func:`geo.crs.metric_crs`;
- :mod:`geo.incidents.hotspots`: :func:`gi_star` with :func:`benjamini_hochberg`, the neighbour
  builders :func:`queen_neighbours`, :func:`h3_neighbours`, :func:`h3_study_area` and the
  thresholds :data:`LEVELS`, :data:`MIN_INCIDENTS`, :data:`MIN_UNITS` (no CRS: topological weights).
"""

from geo.incidents.density import Bins, bin_points, choose_cell_size, h3_counts, kde_raster, project
from geo.incidents.hotspots import (LEVELS, MIN_INCIDENTS, MIN_UNITS, benjamini_hochberg, gi_star, h3_neighbours,
                                    h3_study_area, queen_neighbours)

__all__ = [
    "project", "Bins", "bin_points", "choose_cell_size", "kde_raster", "h3_counts",
    "gi_star", "benjamini_hochberg", "queen_neighbours", "h3_neighbours", "h3_study_area",
    "LEVELS", "MIN_INCIDENTS", "MIN_UNITS",
]
