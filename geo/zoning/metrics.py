"""Metrics of a plan, per grid and per community or county (metric CRS: metres, m²).

* households, band status; per plan min, max, standard deviation, share of grids in band;
* Polsby-Popper ``4 pi A / P²`` and Reock ``A / (pi r²)`` (``r``: radius of the minimum bounding
  circle, :func:`shapely.minimum_bounding_radius`);
* contiguity;
* share of the grid's boundary length on streets, the community outline excluded (a grid alone in
  its community has no such boundary: NaN);
* households moved versus the current grids.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import shapely

from geo.zoning.partition import Partition, band_status

__all__ = ["grid_metrics", "plan_metrics", "polsby_popper", "reock"]


def polsby_popper(geoms) -> np.ndarray:
    """4 pi area / perimeter² of each polygon (metric CRS), 0 for an empty one."""
    a, p = shapely.area(geoms), shapely.length(geoms)
    return np.where(p > 0, 4 * math.pi * a / np.where(p > 0, p, 1) ** 2, 0.0)


def reock(geoms) -> np.ndarray:
    """Area over the area of the minimum bounding circle of each polygon (metric CRS)."""
    a = shapely.area(geoms)
    r = shapely.minimum_bounding_radius(geoms)
    return np.where(r > 0, a / (math.pi * np.where(r > 0, r, 1) ** 2), 0.0)


def _parts(p: Partition) -> np.ndarray:
    """Connected pieces of every grid (0 for an empty one): the components of the graph of the
    edges inside grids, counted per grid (what :meth:`Partition.n_parts` finds grid by grid)."""
    from scipy import sparse
    from scipy.sparse import csgraph

    g = p.graph
    a = p.assignment
    rows = np.repeat(np.arange(g.n), np.diff(g.indptr))
    same = a[rows] == a[g.indices]
    m = sparse.csr_matrix((np.ones(int(same.sum())), (rows[same], g.indices[same])), shape=(g.n, g.n))
    comp = csgraph.connected_components(m, directed=False)[1] if g.n else np.zeros(0, np.int64)
    grid_of_piece = np.unique(np.column_stack([a, comp]), axis=0)[:, 0] if g.n else np.zeros(0, np.int64)
    return np.bincount(grid_of_piece, minlength=len(p.labels)).astype(np.int64)


def grid_metrics(p: Partition, grids=None) -> pd.DataFrame:
    """One row per grid of the partition (of ``grids``, indices into ``p.labels``, when given: an
    edit recomputes only the grids it changed).

    Returns
    -------
    pandas.DataFrame
        ``label``, ``households``, ``status``, ``in_band``, ``units``, ``contiguous``, ``parts``,
        ``area_m2``, ``perimeter_m``, ``polsby_popper``, ``reock``, ``boundary_m`` (with other grids),
        ``street_share`` (of that boundary), ``moved_households``.
    """
    n = len(p.labels)
    gs = np.arange(n) if grids is None else np.asarray(list(grids), dtype=np.int64)
    lo, hi = p.bounds
    a = p.assignment
    if grids is None:  # every grid: one pass over the units' vertices
        coords, which = shapely.get_coordinates(p.units.geometry, return_index=True)
        grid_of_coord = a[which]
        order = np.argsort(grid_of_coord, kind="stable")
        starts = np.searchsorted(grid_of_coord[order], np.arange(n + 1))
        radius = np.array([shapely.minimum_bounding_radius(shapely.multipoints(coords[order[starts[g]:starts[g + 1]]]))
                           if starts[g + 1] > starts[g] else 0.0 for g in gs])
    else:  # a few grids: their (cached) polygons, whose bounding circle is that of their units' vertices
        radius = np.array([shapely.minimum_bounding_radius(p.polygon(int(g))) for g in gs], dtype=float)
    hh = p.households[gs]
    area, perim = p.area_m2[gs], p.perimeter_m[gs]
    bnd, st = p.boundary_m[gs], p.boundary_street_m[gs]
    parts = _parts(p)[gs]
    return pd.DataFrame({
        "label": [p.labels[g] for g in gs], "households": hh, "status": [band_status(h, lo, hi) for h in hh],
        "in_band": (hh >= lo) & (hh <= hi), "units": p.unit_counts[gs], "contiguous": parts == 1, "parts": parts,
        "area_m2": area, "perimeter_m": perim,
        "polsby_popper": np.where(perim > 0, 4 * math.pi * area / np.where(perim > 0, perim, 1) ** 2, 0.0),
        "reock": np.where(radius > 0, area / (math.pi * np.where(radius > 0, radius, 1) ** 2), 0.0),
        "boundary_m": bnd, "street_share": np.where(bnd > 0, st / np.where(bnd > 0, bnd, 1), np.nan),
        "moved_households": p.moved_households()[gs],
    })


def plan_metrics(grids: pd.DataFrame) -> dict:
    """Summary of :func:`grid_metrics` rows (one community or many).

    ``street_share`` is length-weighted: street boundary over all grid boundary, outlines excluded.
    """
    hh = grids["households"].to_numpy()
    bnd = grids["boundary_m"].to_numpy()
    st = (grids["street_share"].fillna(0) * grids["boundary_m"]).to_numpy()
    return {
        "grids": int(len(grids)), "households": int(hh.sum()),
        "min_households": int(hh.min()) if len(hh) else 0, "max_households": int(hh.max()) if len(hh) else 0,
        "sd_households": float(hh.std()) if len(hh) else 0.0,
        "share_in_band": float(grids["in_band"].mean()) if len(hh) else 0.0,
        "share_contiguous": float(grids["contiguous"].mean()) if len(hh) else 0.0,
        "mean_polsby_popper": float(grids["polsby_popper"].mean()) if len(hh) else 0.0,
        "mean_reock": float(grids["reock"].mean()) if len(hh) else 0.0,
        "street_share": float(st.sum() / bnd.sum()) if bnd.sum() > 0 else float("nan"),
        "moved_households": int(grids["moved_households"].sum()),
    }
