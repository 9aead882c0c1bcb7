"""Incident density: binning points into square metric cells or H3 cells, and a kernel density
raster, all in numpy.

A heatmap page with raw points grows ~25 bytes a point; binned, it grows with the number of
non-empty cells, which :func:`choose_cell_size` keeps under a budget whatever the number of points.

Inputs are longitude/latitude degrees (EPSG:4326); cell sizes and bandwidths are metres in the
projected CRS of :func:`geo.crs.metric_crs` (CGCS2000 Gauss-Kruger in China, UTM elsewhere).
"""

from __future__ import annotations

from dataclasses import dataclass

import h3
import numpy as np
import pandas as pd
from pyproj import CRS
from scipy import ndimage

from geo.crs import WGS84, metric_crs, transformer
from geo.errors import InvalidInput, Problem


def _crs_for(lon: np.ndarray, lat: np.ndarray, crs: CRS | None) -> CRS:
    if crs is not None:
        return crs
    return metric_crs((np.nanmin(lon) + np.nanmax(lon)) / 2, (np.nanmin(lat) + np.nanmax(lat)) / 2)


def project(lon, lat, crs: CRS | None = None) -> tuple[np.ndarray, np.ndarray, CRS]:
    """Longitude/latitude degrees (EPSG:4326) -> ``(x, y, crs)``: metres in ``crs`` (default
    :func:`geo.crs.metric_crs` at the centre of the points)."""
    lon, lat, _ = _check(lon, lat, None)
    crs = _crs_for(lon, lat, crs)
    x, y = transformer(WGS84, crs).transform(lon, lat)
    return np.asarray(x), np.asarray(y), crs


def _xy(lon, lat, crs, xy):
    if xy is None:
        return project(lon, lat, crs)
    if crs is None:
        raise InvalidInput("missing CRS", [Problem("projected xy needs the crs it is in")])
    x, y = np.asarray(xy[0], dtype=float), np.asarray(xy[1], dtype=float)
    if x.shape != lon.shape or y.shape != lon.shape:
        raise InvalidInput("bad coordinates", [Problem("xy must have one x and one y per point")])
    return x, y, crs


def _check(lon, lat, weight):
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    if lon.shape != lat.shape or lon.ndim != 1:
        raise InvalidInput("bad coordinates", [Problem("lon and lat must be 1-D arrays of one length")])
    w = np.ones_like(lon) if weight is None else np.asarray(weight, dtype=float)
    if w.shape != lon.shape:
        raise InvalidInput("bad weights", [Problem("weight must have one value per point")])
    return lon, lat, w


@dataclass(frozen=True)
class Bins:
    """Weighted cell centres.

    Attributes
    ----------
    lon, lat : ndarray
        Centre of each non-empty (frame, cell), degrees EPSG:4326.
    weight : ndarray
        Summed weight (a count when the input weights are 1).
    frame : ndarray of int
        Frame (time step) of each entry; all zero without frames.
    cell_m : float
        Cell side in metres.
    """

    lon: np.ndarray
    lat: np.ndarray
    weight: np.ndarray
    frame: np.ndarray
    cell_m: float

    def __len__(self) -> int:
        return len(self.weight)


def bin_points(lon, lat, weight=None, *, cell_m: float, frame=None, crs: CRS | None = None,
               xy: tuple[np.ndarray, np.ndarray] | None = None) -> Bins:
    """Sum point weights into square cells of ``cell_m`` metres (per frame when ``frame`` is given).

    Parameters
    ----------
    lon, lat : array-like
        Degrees, EPSG:4326.
    weight : array-like, optional
        Weight of each point (default 1).
    cell_m : float
        Cell side, metres, in ``crs``.
    frame : array-like of int, optional
        Time-step index of each point; bins are kept apart per frame.
    crs : pyproj.CRS, optional
        Metric CRS (default: :func:`geo.crs.metric_crs` at the centre of the points).
    xy : (ndarray, ndarray), optional
        The points already projected to ``crs`` (metres; see :func:`project`), to skip projecting
        them again; ``crs`` is then required.
    """
    lon, lat, w = _check(lon, lat, weight)
    fr = np.zeros(len(lon), dtype=np.int64) if frame is None else np.asarray(frame, dtype=np.int64)
    if len(lon) == 0:
        e = np.array([])
        return Bins(e, e, e, e.astype(np.int64), float(cell_m))
    if cell_m <= 0:
        raise InvalidInput("bad cell size", [Problem(f"cell_m must be positive, not {cell_m}")])
    x, y, crs = _xy(lon, lat, crs, xy)
    ix = np.floor(np.asarray(x) / cell_m).astype(np.int64)
    iy = np.floor(np.asarray(y) / cell_m).astype(np.int64)
    # one int64 key per (frame, column, row): a 1-D unique is ~10x faster than np.unique(axis=0)
    x0, y0, f0 = ix.min(), iy.min(), fr.min()
    nx, ny = int(ix.max() - x0) + 1, int(iy.max() - y0) + 1
    key = ((fr - f0) * nx + (ix - x0)) * ny + (iy - y0)
    uniq, inv = np.unique(key, return_inverse=True)
    sums = np.bincount(inv.ravel(), weights=w, minlength=len(uniq))
    cx, rest = uniq // ny % nx + x0, uniq % ny + y0
    clon, clat = transformer(crs, WGS84).transform((cx + 0.5) * cell_m, (rest + 0.5) * cell_m)
    return Bins(np.asarray(clon), np.asarray(clat), sums, uniq // (ny * nx) + f0, float(cell_m))


def _n_bins(fr: np.ndarray, x: np.ndarray, y: np.ndarray, cell: float) -> int:
    ix = np.floor(x / cell).astype(np.int64)
    iy = np.floor(y / cell).astype(np.int64)
    ix -= ix.min()
    iy -= iy.min()
    key = np.sort((fr * (int(ix.max()) + 1) + ix) * (int(iy.max()) + 1) + iy)
    return int(np.count_nonzero(key[1:] != key[:-1])) + 1  # sorting beats np.unique's hash ~4x here


def choose_cell_size(lon, lat, *, budget: int, frame=None, start_m: float = 100.0, factor: float = 2.0,
                     crs: CRS | None = None, xy: tuple[np.ndarray, np.ndarray] | None = None) -> float:
    """Smallest cell side ``start_m * factor**k`` (metres) whose non-empty (frame, cell) count is
    at most ``budget``.  Always ends: at a side larger than the data's extent each frame holds one
    cell, so any ``budget`` >= the number of frames is met.  ``crs`` and ``xy`` as in
    :func:`bin_points`."""
    lon, lat, _ = _check(lon, lat, None)
    if len(lon) == 0:
        return start_m
    fr = np.zeros(len(lon), dtype=np.int64) if frame is None else np.asarray(frame, dtype=np.int64)
    n_frames = len(np.unique(fr))
    if budget < n_frames:
        raise InvalidInput("budget too small", [Problem(f"{n_frames} frames need a budget of at least {n_frames}")])
    x, y, crs = _xy(lon, lat, crs, xy)
    if factor <= 1:
        raise InvalidInput("bad factor", [Problem(f"factor must be > 1, not {factor}")])
    fr = fr - fr.min()
    x, y = np.asarray(x), np.asarray(y)
    cell = float(start_m)
    while _n_bins(fr, x, y, cell) > budget:
        cell *= factor
    return cell


def kde_raster(lon, lat, weight=None, *, cell_m: float, bandwidth_m: float, crs: CRS | None = None,
               pad: float = 3.0) -> tuple[np.ndarray, tuple[float, float, float, float], CRS]:
    """Gaussian kernel density on a raster: points binned into ``cell_m`` cells, then smoothed with a
    Gaussian of standard deviation ``bandwidth_m`` (scipy.ndimage, truncated at 4 sigma).

    Returns
    -------
    (density, (xmin, ymin, xmax, ymax), crs)
        ``density[row, col]`` in weight per square metre, row 0 at ``ymin``; the bounds are
        metres in ``crs``.  The density integrates to the total weight (up to the truncation).
    """
    lon, lat, w = _check(lon, lat, weight)
    if len(lon) == 0:
        raise InvalidInput("no points", [Problem("a density needs at least one point")])
    crs = _crs_for(lon, lat, crs)
    x, y = transformer(WGS84, crs).transform(lon, lat)
    margin = pad * bandwidth_m + cell_m
    xmin = np.floor((x.min() - margin) / cell_m) * cell_m
    ymin = np.floor((y.min() - margin) / cell_m) * cell_m
    nx = int(np.ceil((x.max() + margin - xmin) / cell_m))
    ny = int(np.ceil((y.max() + margin - ymin) / cell_m))
    if nx * ny > 25_000_000:
        raise InvalidInput("raster too large", [Problem(f"{nx} x {ny} cells; use a larger cell_m")])
    counts = np.zeros((ny, nx))
    np.add.at(counts, (((y - ymin) // cell_m).astype(int), ((x - xmin) // cell_m).astype(int)), w)
    dens = ndimage.gaussian_filter(counts, sigma=bandwidth_m / cell_m, mode="constant", truncate=4.0)
    return dens / (cell_m * cell_m), (xmin, ymin, xmin + nx * cell_m, ymin + ny * cell_m), crs


def h3_counts(lon, lat, weight=None, *, resolution: int) -> pd.DataFrame:
    """Summed weight per H3 cell (h3 4.x) at ``resolution``: columns ``cell``, ``count``,
    ``lon``, ``lat`` (cell centre, degrees)."""
    lon, lat, w = _check(lon, lat, weight)
    cells = [h3.latlng_to_cell(float(b), float(a), resolution) for a, b in zip(lon, lat)]
    df = pd.DataFrame({"cell": cells, "count": w}).groupby("cell", as_index=False)["count"].sum()
    centres = [h3.cell_to_latlng(c) for c in df["cell"]]
    df["lat"] = [c[0] for c in centres]
    df["lon"] = [c[1] for c in centres]
    return df
