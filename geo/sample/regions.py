"""Several sample districts side by side, each its own county (``region_code``).

:func:`make_regions` generates ``n`` districts with :func:`geo.sample.make_district` (region codes
``first_code``, ``first_code + 1``, ...; seeds ``seed``, ``seed + 1``, ...) and places them one north
of the other with a gap between their outlines, so that no street, dwelling or grid of one lies in
another and all stay in the Gauss-Kruger zone of the first (a shift north keeps the longitude).
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.crs import WGS84, metric_crs, transformer
from geo.errors import InvalidInput, Problem
from geo.sample.district import LAT0, LON0, make_district

#: Gap between two districts' outlines, metres.
GAP_M = 3_000.0


def _shift_north(frame: gpd.GeoDataFrame, dy_m: float) -> gpd.GeoDataFrame:
    """``frame`` (EPSG:4326) moved ``dy_m`` metres north in the metric CRS of the sample's centre."""
    if dy_m == 0 or not len(frame):
        return frame
    crs = metric_crs(LON0, LAT0)
    fwd, back = transformer(WGS84, crs), transformer(crs, WGS84)

    def f(c):
        x, y = fwd.transform(c[:, 0], c[:, 1])
        lon, lat = back.transform(np.asarray(x), np.asarray(y) + dy_m)
        return np.column_stack([lon, lat])

    out = frame.copy()
    out = out.set_geometry(gpd.GeoSeries(shapely.transform(frame.geometry.values, f), crs=WGS84, index=frame.index))
    return out


def make_regions(n: int, households: int | list[int] = 12_000, seed: int = 0, incident_years: float = 1.0,
                 incidents: int | None = None, first_code: str = "320281") -> dict[str, gpd.GeoDataFrame]:
    """``n`` sample districts of ``households`` each, distinct county codes, as one set of layers.

    Parameters
    ----------
    n : int
        Number of districts (counties), at least 1.
    households : int or list of int
        Households of each district (one number for all, or one per district).
    incident_years, incidents
        As :func:`geo.sample.make_district`, for each district.
    seed : int
        Seed of the first district; district ``i`` uses ``seed + i``.
    first_code : str
        6-digit county code of the first district; district ``i`` has ``first_code + i``.

    Returns
    -------
    dict of str to geopandas.GeoDataFrame
        The six layers (EPSG:4326), the districts' rows one after the other.

    Raises
    ------
    geo.errors.InvalidInput
        ``n`` below 1, or codes that would leave 6 digits.
    """
    problems = []
    if not isinstance(n, (int, np.integer)) or n < 1:
        problems.append(Problem("must be a whole number of at least 1", field="regions"))
    elif not (isinstance(first_code, str) and first_code.isdigit() and len(first_code) == 6
              and int(first_code) + n - 1 <= 999_999):
        problems.append(Problem("must be a 6-digit code that leaves room for every region", field="region_code"))
    sizes = list(households) if isinstance(households, (list, tuple)) else [households] * max(int(n), 0)
    if len(sizes) != n:
        problems.append(Problem("give one number of households, or one per region", field="households"))
    if problems:
        raise InvalidInput("cannot generate the sample regions", problems)
    crs = metric_crs(LON0, LAT0)
    parts: dict[str, list[gpd.GeoDataFrame]] = {}
    north_m = None  # the northern edge reached so far, metres
    for i in range(int(n)):
        layers = make_district(sizes[i], seed + i, incident_years, incidents, f"{int(first_code) + i:06d}")
        dy = 0.0
        if north_m is not None:
            b = layers["areas"].to_crs(crs).total_bounds
            dy = north_m + GAP_M - b[1]
        shifted = {k: _shift_north(v, dy) for k, v in layers.items()}
        north_m = shifted["areas"].to_crs(crs).total_bounds[3]
        for k, v in shifted.items():
            parts.setdefault(k, []).append(v)
    return {k: gpd.GeoDataFrame(pd.concat(v, ignore_index=True), geometry="geometry", crs=WGS84)
            for k, v in parts.items()}
