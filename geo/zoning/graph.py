"""The unit adjacency graph: units sharing a boundary of positive length, as a CSR graph.

Shared lengths are measured on the noded union of all unit boundaries, so they are exact for a
tiling whatever vertices each unit carries: every noded piece is probed a hair (``probe_m``) to
either side and belongs to the two units found there (or to one unit and the outside: that unit's
outline length).  A shared piece between units of different blocks runs along a street (blocks are
the faces of the street lines); between cells of one block it cuts through the block.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import shapely
from scipy import sparse
from scipy.sparse import csgraph

__all__ = ["UnitGraph", "build_graph"]

PROBE_M = 0.02  # metres either side of a boundary piece where its units are looked up
MIN_SHARED_M = 1e-3  # shorter shared boundaries are no adjacency
GRID_M = 1e-3  # snap-rounding grid of the noding (m)


@dataclass(frozen=True, eq=False)
class UnitGraph:
    """Symmetric CSR adjacency of ``n`` units (metric CRS, metres).

    Attributes
    ----------
    indptr, indices : numpy.ndarray of int
        CSR structure: the neighbours of unit ``i`` are ``indices[indptr[i]:indptr[i + 1]]``, sorted.
    shared_m : numpy.ndarray of float
        Length of boundary shared with each neighbour (m), aligned with ``indices``.
    street_m : numpy.ndarray of float
        Part of ``shared_m`` that runs along a street (units of different blocks), m.
    outline_m : numpy.ndarray of float
        Boundary of each unit shared with no unit: the community outline (and holes), m.
    """

    indptr: np.ndarray
    indices: np.ndarray
    shared_m: np.ndarray
    street_m: np.ndarray
    outline_m: np.ndarray
    _lists: dict = field(default_factory=dict, repr=False)

    def __reduce__(self):  # without the cached lists (rebuilt on demand): keeps a worker's answer small
        return (UnitGraph, (self.indptr, self.indices, self.shared_m, self.street_m, self.outline_m))

    @property
    def n(self) -> int:
        """Number of units."""
        return len(self.indptr) - 1

    @property
    def perimeter_m(self) -> np.ndarray:
        """Perimeter of each unit (m): shared boundaries plus outline."""
        rows = np.repeat(np.arange(self.n), np.diff(self.indptr))
        return np.bincount(rows, weights=self.shared_m, minlength=self.n) + self.outline_m

    def edge_weights(self, street_cost: float = 1.0, block_cost: float = 10.0) -> np.ndarray:
        """Cost of cutting each edge: street metres x ``street_cost`` + through-block metres x ``block_cost``."""
        return self.street_m * street_cost + (self.shared_m - self.street_m) * block_cost

    def matrix(self, values: np.ndarray | None = None) -> sparse.csr_matrix:
        """The graph as a scipy CSR matrix (``values`` default: shared metres)."""
        v = self.shared_m if values is None else values
        return sparse.csr_matrix((v, self.indices, self.indptr), shape=(self.n, self.n))

    def components(self, mask: np.ndarray | None = None) -> np.ndarray:
        """Connected component of each unit (-1 outside ``mask``), over the units in ``mask``."""
        m = self.matrix()
        if mask is None:
            return csgraph.connected_components(m, directed=False)[1]
        idx = np.flatnonzero(mask)
        out = np.full(self.n, -1, dtype=np.int64)
        if len(idx):
            out[idx] = csgraph.connected_components(m[idx][:, idx], directed=False)[1]
        return out

    def lists(self) -> tuple[list, list, list]:
        """Per-unit Python lists ``(neighbours, shared_m, street_m)`` for tight loops (cached)."""
        if not self._lists:
            ptr = self.indptr.tolist()
            ind, sh, st = self.indices.tolist(), self.shared_m.tolist(), self.street_m.tolist()
            self._lists["v"] = ([ind[ptr[i]:ptr[i + 1]] for i in range(self.n)],
                                [sh[ptr[i]:ptr[i + 1]] for i in range(self.n)],
                                [st[ptr[i]:ptr[i + 1]] for i in range(self.n)])
        return self._lists["v"]


def build_graph(geometry: np.ndarray, block: np.ndarray, *, probe_m: float = PROBE_M) -> UnitGraph:
    """Adjacency of polygons that tile an area.

    Parameters
    ----------
    geometry : numpy.ndarray of shapely.Polygon
        The units, in a metric CRS (metres).
    block : numpy.ndarray of int
        Street block of each unit: boundaries between units of different blocks count as street.
    probe_m : float
        Offset (m) of the side probes; far below any unit's width.

    Returns
    -------
    UnitGraph
    """
    geometry = np.asarray(geometry, dtype=object)
    n = len(geometry)
    if n == 0:
        z = np.zeros(0)
        return UnitGraph(np.zeros(1, np.int64), np.zeros(0, np.int64), z, z, z)
    # snap-rounded noding (1 mm): near-coincident edges of neighbours (a cell clipped to its block
    # beside the next block) become one piece
    lines = shapely.get_parts(shapely.union_all(shapely.boundary(geometry), grid_size=GRID_M))
    coords, part = shapely.get_coordinates(lines, return_index=True)
    same = part[1:] == part[:-1]
    a, b = coords[:-1][same], coords[1:][same]
    d = b - a
    length = np.hypot(d[:, 0], d[:, 1])
    keep = length > 1e-9
    a, d, length = a[keep], d[keep], length[keep]
    mid = a + d / 2
    normal = np.column_stack([-d[:, 1], d[:, 0]]) / length[:, None] * probe_m
    tree = shapely.STRtree(geometry)
    sides = []
    for p in (mid + normal, mid - normal):
        hit_pt, hit_unit = tree.query(shapely.points(p), predicate="within")
        side = np.full(len(p), -1, dtype=np.int64)
        side[hit_pt[::-1]] = hit_unit[::-1]  # first hit wins
        sides.append(side)
    left, right = sides
    one = (left < 0) ^ (right < 0)
    outline = np.bincount(np.where(left >= 0, left, right)[one], weights=length[one], minlength=n)
    two = (left >= 0) & (right >= 0) & (left != right)
    u, v, ln = left[two], right[two], length[two]
    street = (block[u] != block[v]).astype(float) * ln
    key = np.concatenate([u * n + v, v * n + u])
    keys, inv = np.unique(key, return_inverse=True)
    shared = np.bincount(inv, weights=np.concatenate([ln, ln]), minlength=len(keys))
    on_street = np.bincount(inv, weights=np.concatenate([street, street]), minlength=len(keys))
    keep = shared >= MIN_SHARED_M  # a touch at a point (or noding noise) is no adjacency
    keys, shared, on_street = keys[keep], shared[keep], on_street[keep]
    touch = shapely.dwithin(geometry[keys // n], geometry[keys % n], MIN_SHARED_M)  # no probe across a crack
    keys, shared, on_street = keys[touch], shared[touch], on_street[touch]
    rows, cols = keys // n, keys % n
    indptr = np.searchsorted(rows, np.arange(n + 1)).astype(np.int64)
    return UnitGraph(indptr, cols.astype(np.int64), shared, np.minimum(on_street, shared), outline)
