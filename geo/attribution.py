"""Which grid a point belongs to: gridmap's one point-in-grid rule.

The rule
--------
A point belongs to the grid whose polygon **covers** it: the point lies in the polygon's
interior or on its boundary (for a point, shapely's / PostGIS's ``intersects``).  A point that
several polygons cover -- on an edge shared by two grids, on a vertex shared by two, three or
four grids, on the ring of a hole that an enclave grid fills, or inside an overlap -- belongs to
the one with the **smallest code**, codes compared in byte order (plain ``str`` order in Python,
``COLLATE "C"`` in SQL; the same order for UTF-8 text), then the **smallest id**.  A point that
no polygon covers belongs to no grid.  A point inside a hole of a grid is not covered by it (the
hole is not part of the polygon); it belongs to the enclave grid that fills the hole, if any.

The same rule decides a point's community among the community polygons.

This module is the rule in Python (pure: points and polygons in, indices out).  The database
renders the same rule once in SQL (``api.db.load.attribution``: import attribution,
re-attribution after a grid change, incident intake, pages); :func:`geo.coverage.assign_to_grids`
calls :func:`grid_index`.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import shapely

__all__ = ["grid_index"]


def grid_index(points: Sequence, polygons: Sequence, codes: Sequence, ids: Sequence | None = None) -> np.ndarray:
    """The polygon each point belongs to, by the rule of this module.

    Parameters
    ----------
    points : array-like of shapely Point
        The points (any CRS, the same as ``polygons``; gridmap stores EPSG:4326 lon/lat).
        Missing or empty geometries belong to no polygon.
    polygons : array-like of shapely (Multi)Polygon
        The candidate polygons (grids, or communities), same CRS as ``points``.
    codes : array-like of str
        The code of each polygon (compared as ``str``, i.e. by code point = UTF-8 byte order).
    ids : array-like of int, optional
        The id of each polygon, the second key of the tie-break; default the position in
        ``polygons``.

    Returns
    -------
    numpy.ndarray of int64
        For each point, the position in ``polygons`` of the polygon it belongs to, ``-1`` where
        no polygon covers it.
    """
    pts = np.asarray(points, dtype=object)
    polys = np.asarray(polygons, dtype=object)
    out = np.full(len(pts), -1, dtype=np.int64)
    if not len(pts) or not len(polys):
        return out
    code_rank = np.unique(np.asarray(codes, dtype=object).astype(str), return_inverse=True)[1].reshape(-1)
    id_key = np.arange(len(polys)) if ids is None else np.asarray(ids)
    pt, poly = shapely.STRtree(polys).query(pts, predicate="intersects")
    if not len(pt):
        return out
    order = np.lexsort((id_key[poly], code_rank[poly], pt))  # by point, then code, then id
    pt, poly = pt[order], poly[order]
    first = np.r_[True, pt[1:] != pt[:-1]]
    out[pt[first]] = poly[first]
    return out
