"""The sample district's street network (local metres; see :mod:`geo.sample.layout`).

A jittered lattice (:data:`SPACING` metres) clipped to the district: every 10th line is a tertiary
road, every 20th a secondary and every 40th a primary road; the lines between are residential
streets, compound service roads and footways in urban communities, lanes and paths in hamlets and
field paths elsewhere, with some links removed (dead ends, missing links; most in the fields).  A
river crosses the district west to east and only primary and secondary roads bridge it.

Each edge is one row between two lattice nodes, so rows meet only at their end points, which are
exactly equal where rows share a node (a graph builds from end point coordinates).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from geo.layers import ROAD_CLASSES
from geo.sample.layout import RIVER_HALF_WIDTH, Layout, river_y
from geo.sample.names import STREET_SUFFIX, place_names

SPACING = 60.0  # metres between lattice lines
JITTER = 0.2  # node jitter, fraction of SPACING (< 0.25: edges never cross)
URBAN, HAMLET, FIELD = 0, 1, 2
#: minor street classes and their shares by context, and the share of links removed there
MINOR = {
    URBAN: (("residential", "service", "footway"), (0.55, 0.3, 0.15), 0.08),
    HAMLET: (("residential", "service", "path", "footway"), (0.35, 0.2, 0.25, 0.2), 0.15),
    FIELD: (("path", "footway"), (0.75, 0.25), 0.40),
}


@dataclass
class Lattice:
    """Lattice nodes: coordinates (m), usable mask, shape (rows ``ny``, columns ``nx``)."""

    x: np.ndarray
    y: np.ndarray
    ok: np.ndarray
    nx: int
    ny: int


def line_rank(k: np.ndarray) -> np.ndarray:
    """Rank of lattice line ``k``: 3 primary, 2 secondary, 1 tertiary, 0 minor."""
    k = np.asarray(k)
    return np.select([k % 40 == 5, k % 20 == 5, k % 10 == 5], [3, 2, 1], 0)


def make_lattice(rng: np.random.Generator, layout: Layout, spacing: float = SPACING) -> Lattice:
    """Jittered lattice nodes over the district; nodes outside it or in the river are unusable
    (except on the bridge columns, the primary and secondary north-south roads)."""
    minx, miny, maxx, maxy = layout.outline.bounds
    nx, ny = int((maxx - minx) // spacing) + 2, int((maxy - miny) // spacing) + 2
    i, j = np.meshgrid(np.arange(nx), np.arange(ny))
    x = (minx + i * spacing + rng.uniform(-JITTER, JITTER, i.shape) * spacing).ravel()
    y = (miny + j * spacing + rng.uniform(-JITTER, JITTER, i.shape) * spacing).ravel()
    ok = shapely.contains_xy(layout.outline, x, y)
    band = np.abs(y - river_y(layout.river, x)) < RIVER_HALF_WIDTH + 10
    ok &= ~band | (line_rank(i.ravel()) >= 2)
    return Lattice(x, y, ok, nx, ny)


def make_streets(rng: np.random.Generator, lat: Lattice, layout: Layout, context) -> dict:
    """Streets on the lattice.

    Parameters
    ----------
    context : callable
        ``context(x, y) -> int array`` (URBAN, HAMLET or FIELD) at edge midpoints (m).

    Returns
    -------
    dict
        ``coords`` (n, 3, 2) metres, ``u``/``v`` node ids, ``road_class``, ``name``, ``walk``,
        ``bike``, ``drive``, ``oneway``, ``speed_kmh``, ``giant`` (edge in the largest component),
        ``ctx``.
    """
    nx, ny = lat.nx, lat.ny
    idx = np.arange(nx * ny).reshape(ny, nx)
    u = np.concatenate([idx[:, :-1].ravel(), idx[:-1, :].ravel()])
    v = np.concatenate([idx[:, 1:].ravel(), idx[1:, :].ravel()])
    vertical = np.concatenate([np.zeros(ny * (nx - 1), bool), np.ones((ny - 1) * nx, bool)])
    line = np.concatenate([np.repeat(np.arange(ny), nx - 1), np.tile(np.arange(nx), ny - 1)])
    x, y = lat.x, lat.y
    dy_river = y - river_y(layout.river, x)
    band = np.abs(dy_river) < RIVER_HALF_WIDTH + 10
    rank = line_rank(line)
    bridge = vertical & (rank >= 2)
    dry = (np.sign(dy_river[u]) == np.sign(dy_river[v])) & ~band[u] & ~band[v]
    keep = lat.ok[u] & lat.ok[v] & (dry | bridge)
    u, v, vertical, line, rank = u[keep], v[keep], vertical[keep], line[keep], rank[keep]

    ctx = np.asarray(context((x[u] + x[v]) / 2, (y[u] + y[v]) / 2))
    cls = np.select([rank == 3, rank == 2, rank == 1], ["primary", "secondary", "tertiary"], "").astype(object)
    removed = np.zeros(len(u), bool)
    for c, (names, shares, drop) in MINOR.items():
        m = (rank == 0) & (ctx == c)
        cls[m] = rng.choice(np.array(names, dtype=object), m.sum(), p=shares)
        removed[m] = rng.random(m.sum()) < drop
    u, v, vertical, line, rank, ctx, cls = (a[~removed] for a in (u, v, vertical, line, rank, ctx, cls))
    n = len(u)

    # Minor streets bend a little at their middle; roads stay straight.
    mx, my = (x[u] + x[v]) / 2, (y[u] + y[v]) / 2
    ln = np.hypot(x[v] - x[u], y[v] - y[u])
    off = np.where(rank == 0, np.clip(rng.normal(0, 0.04, n), -0.08, 0.08) * ln, 0.0)
    mx, my = mx - (y[v] - y[u]) / ln * off, my + (x[v] - x[u]) / ln * off
    coords = np.stack([np.column_stack([x[u], y[u]]), np.column_stack([mx, my]), np.column_stack([x[v], y[v]])], axis=1)

    access = np.array([ROAD_CLASSES[c] for c in cls], dtype=object).reshape(-1, 4)
    walk, bike, drive = (access[:, k].astype(bool) for k in range(3))
    speed = np.where(drive, access[:, 3].astype(float), np.nan)
    oneway_cand = drive & (ctx == URBAN) & np.isin(cls, ["residential", "tertiary"])
    oneway = np.where(oneway_cand & (rng.random(n) < 0.05), rng.choice([1, -1], n), 0)

    h_names, v_names = place_names(rng, ny), place_names(rng, nx)
    base = np.where(vertical, v_names[np.minimum(line, nx - 1)], h_names[np.minimum(line, ny - 1)])
    suffix = np.array([STREET_SUFFIX.get(c, "") for c in cls], dtype=object)
    named = (rank > 0) | ((cls == "residential") & (ctx != FIELD))
    name = np.where(named, np.char.add(base.astype(str), suffix.astype(str)), None)

    nodes = np.unique(np.concatenate([u, v]))
    uu, vv = np.searchsorted(nodes, u), np.searchsorted(nodes, v)
    g = coo_matrix((np.ones(n), (uu, vv)), shape=(len(nodes), len(nodes)))
    _, comp = connected_components(g, directed=False)
    giant = comp[uu] == np.bincount(comp).argmax()
    return {"coords": coords, "u": u, "v": v, "road_class": cls.astype(str), "name": name,
            "walk": walk, "bike": bike, "drive": drive, "oneway": oneway.astype(int),
            "speed_kmh": speed, "giant": giant, "ctx": ctx, "n_nodes": len(nodes)}
