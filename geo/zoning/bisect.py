"""Recursive household bisection: ``k`` groups of near-equal weight from points, by straight cuts."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import shapely

__all__ = ["Bisection", "bisect_households"]


class Bisection(NamedTuple):
    """Result of :func:`bisect_households`.

    Attributes
    ----------
    labels : numpy.ndarray of int
        Group of each point, ``0 .. len(boxes) - 1``, in the order the leaves were made.
    boxes : list of tuple
        Each group's box ``(minx, miny, maxx, maxy)`` in the points' CRS; the boxes tile the
        starting box.
    """

    labels: np.ndarray
    boxes: list


def bisect_households(x, y, weights, k: int, *, polygon=None, box=None) -> Bisection:
    """Split points into ``k`` groups of near-equal total weight by recursive straight cuts.

    Each step splits a box's points in the weight ratio ``floor(k/2) : k - floor(k/2)`` by a cut
    across the longer side of the box (clipped to ``polygon`` when given, which keeps groups
    compact), unless the weight split there misses its target by over a tenth of a group and the
    other axis halves that miss.  The cut lies midway between the two points it separates.

    Parameters
    ----------
    x, y : array_like of float
        Point coordinates in a metric CRS (metres).
    weights : array_like of float
        Weight of each point (households).
    k : int
        Number of groups wanted; fewer come back when a box holds fewer than two points.
    polygon : shapely.Geometry, optional
        Area the points lie in (same CRS); the sides compared are those of the box clipped to it.
    box : tuple, optional
        Starting box ``(minx, miny, maxx, maxy)``; default the bounds of ``polygon`` (or of the
        points) grown by 1 m.

    Returns
    -------
    Bisection
        Labels per point and the box of each group.
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    w = np.asarray(weights, dtype=float)
    if box is None:
        if polygon is not None:
            minx, miny, maxx, maxy = polygon.bounds
        elif len(x):
            minx, miny, maxx, maxy = x.min(), y.min(), x.max(), y.max()
        else:
            minx = miny = maxx = maxy = 0.0
        box = (minx - 1, miny - 1, maxx + 1, maxy + 1)
    leaves: list = []
    stack = [(np.arange(len(x)), tuple(box), max(1, int(k)))]
    while stack:  # depth first, left before right: the leaves come in the recursive order
        idx, bx, kk = stack.pop()
        if kk <= 1 or len(idx) < 2:
            leaves.append((bx, idx))
            continue
        k1 = kk // 2
        clipped = shapely.box(*bx) if polygon is None else shapely.intersection(shapely.box(*bx), polygon)
        bx0, by0, bx1, by1 = clipped.bounds if not clipped.is_empty else bx
        long_axis = 0 if bx1 - bx0 >= by1 - by0 else 1
        cuts = {}
        for axis, v in ((0, x[idx]), (1, y[idx])):
            order = np.argsort(v, kind="stable")
            cum = np.cumsum(w[idx][order])
            target = cum[-1] * k1 / kk
            i = int(np.clip(np.argmin(np.abs(cum[:-1] - target)), 0, len(idx) - 2))
            per_group = cum[-1] / kk if cum[-1] > 0 else 1.0
            cuts[axis] = (abs(cum[i] - target) / per_group, order, i, v)
        axis = long_axis
        if cuts[axis][0] > 0.1 and cuts[1 - axis][0] < cuts[axis][0] / 2:
            axis = 1 - axis
        _, order, i, v = cuts[axis]
        cut = (v[order[i]] + v[order[i + 1]]) / 2
        left, right = idx[order[: i + 1]], idx[order[i + 1:]]
        x0, y0, x1, y1 = bx
        b1, b2 = ((x0, y0, cut, y1), (cut, y0, x1, y1)) if axis == 0 else ((x0, y0, x1, cut), (x0, cut, x1, y1))
        stack.append((right, b2, kk - k1))
        stack.append((left, b1, k1))
    labels = np.full(len(x), -1, dtype=np.int64)
    for g, (_, members) in enumerate(leaves):
        labels[members] = g
    return Bisection(labels, [b for b, _ in leaves])
