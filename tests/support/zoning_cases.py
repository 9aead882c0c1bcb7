"""Shared inputs of the zoning tests: the small sample district solved once, hand-made lattices."""

from __future__ import annotations

import numpy as np
import shapely
from pyproj import CRS

from geo.zoning import build_units

LATTICE_CRS = CRS.from_epsg(4549)
X0, Y0 = 500_000.0, 3_530_000.0


def lattice_units(rows: int, cols: int, households, *, side_m: float = 100.0, split_above: int = 10_000):
    """A ``rows`` x ``cols`` lattice of square blocks (streets on every lattice line), one dwelling
    of ``households[i]`` at each block's centre; metric (EPSG:4549)."""
    area = shapely.box(X0, Y0, X0 + cols * side_m, Y0 + rows * side_m)
    lines = [shapely.LineString([(X0 + c * side_m, Y0), (X0 + c * side_m, Y0 + rows * side_m)]) for c in range(1, cols)]
    lines += [shapely.LineString([(X0, Y0 + r * side_m), (X0 + cols * side_m, Y0 + r * side_m)]) for r in range(1, rows)]
    cx = X0 + (np.arange(cols) + 0.5) * side_m
    cy = Y0 + (np.arange(rows) + 0.5) * side_m
    x, y = np.meshgrid(cx, cy)
    ids = np.array([f"D{i}" for i in range(rows * cols)], dtype=object)
    units = build_units(area, np.array(lines, dtype=object), x.ravel(), y.ravel(), np.asarray(households), ids,
                        crs=LATTICE_CRS, split_above=split_above, sliver_m2=1.0)
    return area, units
