"""Hamlets, dwellings and grids of the sample district (local metres; see :mod:`geo.sample.layout`).

* Urban communities hold apartment blocks of 12-120 households (walk-ups, mid-rises, towers),
  densest towards the town centre; villages hold houses of 1-3 households gathered in hamlets (natural villages, 自然村).
* Every dwelling stands 12-32 m off a street edge that lies wholly inside its community's interior
  (the community shrunk by :data:`INNER_M`), so dwellings are near a street and inside the right
  community, and household totals per community are exact.
* Grids: each community's dwellings are bisected recursively by household weight along the
  longer axis into ``round(households / 300)`` cells; a grid is its rectangle clipped to the
  community, so grids tile the community and, the community being convex, each is one piece.
"""

from __future__ import annotations

import numpy as np
import shapely
from scipy.spatial import cKDTree


from geo.sample.layout import Layout, river_y, spread_points
from geo.sample.streets import FIELD, HAMLET, URBAN
from geo.zoning import bisect_households

GRID_HOUSEHOLDS = 300
INNER_M = 40.0  # dwellings stand on streets at least this far inside their community boundary
RIVER_CLEAR_M = 60.0
URBAN_FALLOFF_M = 700.0  # apartment density falls by e every this many metres from the town centre
MARGIN_M = 18.0  # dwellings stand at least this far along their street from its junctions


def make_hamlets(rng, layout: Layout, targets: np.ndarray) -> dict:
    """Hamlet centres (m), radii (m), community and household share, for the village communities."""
    cx, cy, rad, comm, share = [], [], [], [], []
    for c in np.flatnonzero(~layout.urban):
        n = max(2, int(round(targets[c] / 220)))
        inner = shapely.buffer(layout.communities[c], -2.5 * INNER_M)
        if inner.is_empty:
            inner = layout.communities[c]
        dry = lambda x, y: np.abs(y - river_y(layout.river, x)) > 2 * RIVER_CLEAR_M  # noqa: E731
        try:
            pts = spread_points(rng, inner, n, ok=dry)
        except ValueError:
            pts = spread_points(rng, inner, n)
        w = rng.gamma(2.0, 1.0, n)
        cx.append(pts[:, 0])
        cy.append(pts[:, 1])
        rad.append(120 + 110 * np.sqrt(w / w.max()))
        comm.append(np.full(n, c))
        share.append(w / w.sum())
    if not cx:
        return {"x": np.zeros(0), "y": np.zeros(0), "r": np.zeros(0), "community": np.zeros(0, int), "share": np.zeros(0)}
    return {"x": np.concatenate(cx), "y": np.concatenate(cy), "r": np.concatenate(rad),
            "community": np.concatenate(comm), "share": np.concatenate(share)}


def context_fn(layout: Layout, hamlets: dict):
    """``context(x, y)``: URBAN inside an urban community, HAMLET near a hamlet centre, else FIELD."""
    urban = shapely.union_all(layout.communities[layout.urban]) if layout.urban.any() else shapely.Polygon()
    shapely.prepare(urban)
    tree = cKDTree(np.column_stack([hamlets["x"], hamlets["y"]])) if len(hamlets["x"]) else None

    def context(x, y):
        out = np.full(len(x), FIELD)
        if tree is not None:
            k = min(3, len(hamlets["x"]))
            d, i = tree.query(np.column_stack([x, y]), k=k)
            d, i = d.reshape(len(x), k), i.reshape(len(x), k)
            out[(d < hamlets["r"][i]).any(axis=1)] = HAMLET
        out[shapely.contains_xy(urban, x, y)] = URBAN
        return out

    return context


def _sizes(rng, urban: bool, total: int) -> tuple[np.ndarray, np.ndarray, str]:
    """Households and levels of buildings summing exactly to ``total`` households."""
    mean = 50 if urban else 1.85
    hh = np.zeros(0, int)
    lv = np.zeros(0, int)
    while hh.sum() < total:
        n = int(total / mean * 1.3) + 20
        if urban:
            kind = rng.choice(3, n, p=[0.5, 0.25, 0.25])  # walk-up, mid-rise, tower
            levels = np.select([kind == 0, kind == 1], [rng.integers(5, 8, n), rng.integers(8, 13, n)],
                               rng.integers(15, 31, n))
            per_floor = np.select([kind == 0, kind == 1], [2 * rng.integers(1, 4, n), 4 * rng.integers(1, 3, n)], 4)
            h = np.clip(levels * per_floor, 12, 120)
        else:
            h = rng.choice([1, 2, 3], n, p=[0.35, 0.45, 0.2])
            levels = rng.choice([1, 2, 3], n, p=[0.1, 0.6, 0.3])
        hh, lv = np.concatenate([hh, h]), np.concatenate([lv, levels])
    cs = np.cumsum(hh)
    k = int(np.searchsorted(cs, total))
    hh, lv = hh[: k + 1].copy(), lv[: k + 1]
    hh[k] -= cs[k] - total
    if urban and hh[k] < 12 and k > 0:  # too small for a block: give the rest to the smallest one
        hh[np.argmin(hh[:k])] += hh[k]
        hh, lv = hh[:k], lv[:k]
    return hh, lv, "apartments" if urban else "house"


def _place(rng, coords, edges, weights, n, lo, hi):
    """``n`` points 12-32 m (``lo``-``hi``) off the given street edges (chosen by ``weights``)."""
    chord = np.hypot(*(coords[edges, 2] - coords[edges, 0]).T)
    w = weights * (chord >= 2 * MARGIN_M + 8)  # short edges: a house there would touch the cross street
    w = w if w.sum() > 0 else weights
    e = edges[rng.choice(len(edges), n, p=w / w.sum())]
    m = np.minimum(MARGIN_M / np.hypot(*(coords[e, 2] - coords[e, 0]).T), 0.45)
    t = rng.uniform(m, 1 - m)
    second = t >= 0.5
    a = np.where(second[:, None], coords[e, 1], coords[e, 0])
    b = np.where(second[:, None], coords[e, 2], coords[e, 1])
    s = np.where(second, 2 * t - 1, 2 * t)
    d = b - a
    ln = np.hypot(d[:, 0], d[:, 1])
    off = rng.uniform(lo, hi, n) * rng.choice([-1.0, 1.0], n)
    return a[:, 0] + s * d[:, 0] - d[:, 1] / ln * off, a[:, 1] + s * d[:, 1] + d[:, 0] / ln * off, e


def make_dwellings(rng, layout: Layout, targets: np.ndarray, hamlets: dict, streets: dict, lattice) -> dict:
    """Dwellings (arrays, metres) for every community, household totals exactly ``targets``."""
    coords, u, v = streets["coords"], streets["u"], streets["v"]
    inner = shapely.buffer(layout.communities, -INNER_M)
    tree = shapely.STRtree(inner)
    nodes = np.unique(np.concatenate([u, v]))
    pi, ci = tree.query(shapely.points(lattice.x[nodes], lattice.y[nodes]), predicate="within")
    node_comm = np.full(len(lattice.x), -1)
    node_comm[nodes[pi]] = ci
    mx, my = coords[:, 1, 0], coords[:, 1, 1]
    host = np.where((node_comm[u] == node_comm[v]) & streets["giant"]
                    & (np.abs(my - river_y(layout.river, mx)) > RIVER_CLEAR_M), node_comm[u], -1)
    order = np.argsort(host, kind="stable")
    starts = np.searchsorted(host[order], np.arange(len(targets) + 1))

    out = {k: [] for k in ("x", "y", "households", "levels", "type", "community", "group", "edge")}
    for c in range(len(targets)):
        edges = order[starts[c]:starts[c + 1]]
        urban = bool(layout.urban[c])
        hh, lv, kind = _sizes(rng, urban, int(targets[c]))
        n = len(hh)
        group = np.zeros(n, int)
        if len(edges) == 0:  # a sliver of a community with no interior street: stand at its centre
            p = shapely.get_coordinates(shapely.point_on_surface(layout.communities[c]))[0]
            x, y, e = np.full(n, p[0]), np.full(n, p[1]), np.full(n, -1)
        elif urban:
            tx, ty = layout.town_centre[layout.community_town[c]]
            w = np.exp(-np.hypot(mx[edges] - tx, my[edges] - ty) / URBAN_FALLOFF_M)  # denser towards the town centre
            x, y, e = _place(rng, coords, edges, w, n, 18, 32)
        else:
            hm = np.flatnonzero(hamlets["community"] == c)
            group = rng.choice(len(hm), n, p=hamlets["share"][hm])
            x, y, e = np.empty(n), np.empty(n), np.empty(n, int)
            for g, h in enumerate(hm):
                m = group == g
                d = np.hypot(mx[edges] - hamlets["x"][h], my[edges] - hamlets["y"][h])
                w = np.exp(-d / (0.5 * hamlets["r"][h])) * (d < hamlets["r"][h])
                if w.sum() == 0:
                    w = (d <= np.sort(d)[min(4, len(d) - 1)]).astype(float)
                x[m], y[m], e[m] = _place(rng, coords, edges, w, int(m.sum()), 12, 25)
        for k, a in (("x", x), ("y", y), ("households", hh), ("levels", lv), ("type", np.full(n, kind)),
                     ("community", np.full(n, c)), ("group", group + 1), ("edge", e)):
            out[k].append(a)
    return {k: np.concatenate(a) for k, a in out.items()}


def make_grids(layout: Layout, dw: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Grid polygons (m), their community index, and each dwelling's grid index."""
    polys, comm = [], []
    grid_of = np.full(len(dw["x"]), -1)
    order = np.argsort(dw["community"], kind="stable")
    starts = np.searchsorted(dw["community"][order], np.arange(len(layout.communities) + 1))
    for c, poly in enumerate(layout.communities):
        idx = order[starts[c]:starts[c + 1]]
        k = max(1, int(round(dw["households"][idx].sum() / GRID_HOUSEHOLDS)))
        cut = bisect_households(dw["x"][idx], dw["y"][idx], dw["households"][idx], k, polygon=poly)
        grid_of[idx] = len(polys) + cut.labels
        polys.extend(shapely.box(*box) for box in cut.boxes)
        comm.extend([c] * len(cut.boxes))
    comm = np.array(comm)
    return shapely.intersection(np.array(polys, dtype=object), layout.communities[comm]), comm, grid_of
