"""Service-area polygons drawn as vector geometry: buffers of the reached street stretches, unioned.

The exact shape of the access model of :mod:`geo.service_area` (``method="vector"``): where the time
left covers ``side_m`` the reached streets are buffered by ``side_m``; along the last stretch the
width tapers linearly (trapezoids per segment, disk sectors at bends and reached nodes).  Exact but
slow on big reaches (one GEOS union of hundreds of buffers, ~50-100 ms a station at 8 minutes);
:mod:`geo.service_area.grid` draws the same rule from a time grid much faster.

All geometry is metric (the network CRS).
"""

from __future__ import annotations

import numpy as np
import shapely

from geo.network import Network, csr_ranges
from geo.reach import EPS_S


def substrings(net: Network, e: np.ndarray, lo: np.ndarray, hi: np.ndarray):
    """Vertices of the parts ``[lo, hi]`` (metres, ``lo <= hi``) of edges ``e``.

    Returns ``(xy (k, 2), s (k,), owner (k,))``: the part's start, its interior vertices, its end.
    """
    base, gv = net.edge_axis
    i0 = np.searchsorted(gv, base[e] + lo, "right")
    i1 = np.searchsorted(gv, base[e] + hi, "left")
    inner = np.maximum(i1 - i0, 0)
    n = inner + 2
    owner = np.repeat(np.arange(e.size), n)
    pos = np.arange(owner.size) - np.repeat(np.cumsum(n) - n, n)
    s = np.empty(owner.size)
    xy = np.empty((owner.size, 2))
    first, last = pos == 0, pos == n[owner] - 1
    mid = ~(first | last)
    s[first], s[last] = lo, hi
    xy[first], xy[last] = net.points_along(e, lo), net.points_along(e, hi)
    vid = i0[owner[mid]] + pos[mid] - 1
    s[mid], xy[mid] = net.vcum[vid], net.coords[vid]
    return xy, s, owner


def intervals_polygon(net: Network, iv, budget_s: float, side_m: float, quad_segs: int = 4):
    """Polygon (metric) of reached stretches ``iv`` (from :func:`reach_intervals`) for ``budget_s``.

    The shape follows the access model: a point counts through its perpendicular foot on a street
    (half-width ``r(s) = min(side_m, (T - t(s)) * v)``), or through a vertex in the wedge beyond it
    (a disk of radius ``r`` at the vertex).  Full-width stretches are one flat-capped buffer;
    tapering stretches are trapezoids per segment.
    """
    e, sa, sb, ta, rate = iv
    if e.size == 0:
        return shapely.Polygon()
    T = budget_s + EPS_S
    v = net.edge_speed[e]
    L = net.edge_len[e]
    # distance from the start after which the remaining time no longer covers side_m
    full = np.clip((T - side_m / v - ta) / rate, 0.0, np.abs(sb - sa))
    sign = np.sign(sb - sa)
    split = sa + sign * full
    parts = []
    m = full > 0
    if m.any():  # constant width: flat caps, round joins, plus disks at the edge ends it reaches
        lo, hi = np.minimum(sa[m], split[m]), np.maximum(sa[m], split[m])
        xy, _, owner = substrings(net, e[m], lo, hi)
        lines = shapely.linestrings(xy, indices=owner)
        # one buffer per line, then one union: several times faster than buffering a MultiLineString.
        # Round caps where both ends are nodes; flat caps (plus a disk at a node end) otherwise.
        lo_node, hi_node = lo <= 0, hi >= L[m]
        both = lo_node & hi_node
        parts += list(shapely.buffer(lines[both], side_m, quad_segs=quad_segs))
        parts += list(shapely.buffer(lines[~both], side_m, quad_segs=quad_segs, cap_style="flat"))
        em = e[m][~both]
        pts = np.r_[net.points_along(em[lo_node[~both]], lo[~both][lo_node[~both]]),
                    net.points_along(em[hi_node[~both]], hi[~both][hi_node[~both]])]
        if pts.size:
            parts += list(shapely.buffer(shapely.points(pts), side_m, quad_segs=quad_segs))
    m = np.abs(sb - split) > 1e-9
    if m.any():  # tapering stretches: trapezoids, disks at interior vertices and at a node start
        k = np.flatnonzero(m)
        lo, hi = np.minimum(split[k], sb[k]), np.maximum(split[k], sb[k])
        xy, s, owner = substrings(net, e[k], lo, hi)
        t = ta[k][owner] + np.abs(s - sa[k][owner]) * rate[k][owner]
        r = np.clip((T - t) * v[k][owner], 0.0, side_m)
        pair = np.flatnonzero(owner[:-1] == owner[1:])
        a, b = xy[pair], xy[pair + 1]
        dxy = b - a
        ln = np.hypot(*dxy.T)
        pair, a, b, dxy, ln = pair[ln > 0], a[ln > 0], b[ln > 0], dxy[ln > 0], ln[ln > 0]
        nrm = np.c_[-dxy[:, 1], dxy[:, 0]] / ln[:, None]
        ra, rb = r[pair][:, None], r[pair + 1][:, None]
        quad = np.stack([a + nrm * ra, b + nrm * rb, b - nrm * rb, a - nrm * ra, a + nrm * ra], axis=1)
        keep = (ra[:, 0] > 1e-6) | (rb[:, 0] > 1e-6)
        polys = parts
        polys += list(shapely.polygons(quad[keep]))
        n_per = np.bincount(owner, minlength=k.size)
        first = np.cumsum(n_per) - n_per
        interior = np.ones(owner.size, dtype=bool)
        interior[first] = False
        interior[first + n_per - 1] = False
        interior &= r > 1e-6
        # bends inside a stretch: the wedge between the two segments' normals
        iv_ = np.flatnonzero(interior)
        if iv_.size:
            cen = xy[iv_]
            dirs = np.stack([xy[iv_ - 1] - cen, xy[iv_ + 1] - cen], axis=1)
            polys += _sectors(cen, r[iv_], np.repeat(np.arange(iv_.size), 2), dirs.reshape(-1, 2), quad_segs)
        # a stretch starting at a reached node: the wedge left free by every street at the node
        start_at_node = (full[k] <= 0) & ((sa[k] <= 0) | (sa[k] >= L[k])) & (r[first] > 1e-6)
        if start_at_node.any():
            j = np.flatnonzero(start_at_node)
            node = np.where(sa[k][j] <= 0, net.edge_u[e[k][j]], net.edge_v[e[k][j]])
            node, uq = np.unique(node, return_index=True)
            rr = r[first[j[uq]]]
            ptr, ndirs = _node_dirs(net)
            cnt = ptr[node + 1] - ptr[node]
            polys += _sectors(net.node_xy[node], rr, np.repeat(np.arange(node.size), cnt),
                              ndirs[csr_ranges(ptr, node)], quad_segs)
    if not parts:
        return shapely.Polygon()
    return shapely.union_all(parts)


def _node_dirs(net: Network) -> tuple[np.ndarray, np.ndarray]:
    """Per node, the directions (unit-free vectors) of the first segment of each incident edge (cached)."""
    cached = net.__dict__.get("_node_dirs")
    if cached is None:
        off = net.coord_off
        du = net.coords[off[:-1] + 1] - net.coords[off[:-1]]
        dv = net.coords[off[1:] - 2] - net.coords[off[1:] - 1]
        ends = np.r_[net.edge_u, net.edge_v]
        order = np.argsort(ends, kind="stable")
        ptr = np.concatenate([[0], np.cumsum(np.bincount(ends, minlength=net.n_nodes))])
        cached = net.__dict__["_node_dirs"] = (ptr, np.r_[du, dv][order])
    return cached


def _sectors(center: np.ndarray, radius: np.ndarray, group: np.ndarray, dirs: np.ndarray, quad_segs: int) -> list:
    """Disk sectors where a vertex is the nearest street point: between the normals bounding the
    largest angular gap (> 180 degrees) among the vertex's street directions ``dirs`` (grouped by
    ``group``, sorted ascending).  Vertices with no such gap get nothing."""
    ang = np.arctan2(dirs[:, 1], dirs[:, 0])
    order = np.lexsort((ang, group))
    g, a = group[order], ang[order]
    n = np.bincount(g, minlength=center.shape[0])
    first = np.cumsum(n) - n
    nxt = np.arange(g.size) + 1
    last = first + n - 1
    nxt[last[n > 0]] = first[n > 0]
    gap = np.mod(a[nxt] - a, 2 * np.pi)
    gap[nxt == np.arange(g.size)] = 2 * np.pi  # a single direction: a dead end, half a disk free
    best = np.full(center.shape[0], -1.0)
    np.maximum.at(best, g, gap)
    pick = np.flatnonzero(gap == best[g])
    pick = pick[np.r_[True, g[pick][1:] != g[pick][:-1]]]
    gi = g[pick]
    span = best[gi] - np.pi
    ok = span > 1e-9
    pick, gi, span = pick[ok], gi[ok], span[ok]
    if gi.size == 0:
        return []
    steps = max(2, 2 * quad_segs)
    start = a[pick] + np.pi / 2
    th = start[:, None] + span[:, None] * np.linspace(0, 1, steps + 1)[None]
    arc = center[gi][:, None, :] + radius[gi][:, None, None] * np.stack([np.cos(th), np.sin(th)], axis=-1)
    ring = np.concatenate([center[gi][:, None, :], arc, center[gi][:, None, :]], axis=1)
    return list(shapely.polygons(ring))
