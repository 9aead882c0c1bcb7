"""Street graphs per travel mode: the network the 8-minute engine routes on.

A :class:`Network` is built once from a ``streets`` frame (EPSG:4326, the columns of
``geo.layers.LAYERS["streets"]``) for one mode and kept: it pickles, and its
:attr:`Network.fingerprint` changes whenever the streets, the mode or the speeds change, so callers
can cache it (and anything computed from it) under that key.

Conventions
-----------
* Every street row is one edge between its two end points: streets must be split at junctions
  (``geo.sample`` and ``geo.osm`` produce them so).  End points closer than ``precision_m`` are one
  node.  Interior vertices only shape the edge.
* Coordinates are held in the metric CRS :func:`geo.crs.metric_crs_for` picks for the streets
  (metres); costs are travel times in **seconds**.
* Speeds: walk 5 km/h and bike 15 km/h on every street that allows the mode; drive at the
  street's ``speed_kmh`` or else the road class default of ``geo.layers.ROAD_CLASSES``.  Only
  drive respects ``oneway`` (1: along the line, -1: against it).
* Disconnected pieces are kept in the graph but only components with at least
  ``min(min_component_nodes, largest component)`` nodes are *snappable*; the others are reported by
  :meth:`Network.islands` (like Valhalla's ``minimum_reachability``): real OpenStreetMap walking
  networks hold many indoor or courtyard fragments that would otherwise capture nearby points.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import cached_property

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp
import shapely
from pyproj import CRS
from scipy.sparse.csgraph import connected_components

from geo.crs import WGS84, metric_crs_for, transformer
from geo.errors import InvalidInput, Problem
from geo.layers import ROAD_CLASSES

MODES: tuple[str, ...] = ("walk", "bike", "drive")

#: Default speeds, km/h.
WALK_KMH = 5.0
BIKE_KMH = 15.0
DRIVE_FALLBACK_KMH = 30.0

#: Road class access for classes not in ``ROAD_CLASSES``: walk and bike yes, drive no.
_UNKNOWN_CLASS = (True, True, False, 0.0)


@dataclass
class Network:
    """A directed street graph for one travel mode, in a metric CRS.

    Attributes
    ----------
    mode : str
        ``"walk"``, ``"bike"`` or ``"drive"``.
    crs : pyproj.CRS
        Metric CRS of every coordinate held here (metres).
    node_xy : ndarray, shape (n, 2)
        Node coordinates, metres.
    edge_u, edge_v : ndarray of int, shape (m,)
        End nodes of each edge, in the direction the street's line is drawn.
    edge_len : ndarray of float, shape (m,)
        Length along the line, metres.
    edge_fw, edge_bw : ndarray of float, shape (m,)
        Travel time u->v and v->u, seconds; ``inf`` where the mode may not go that way.
    edge_speed : ndarray of float, shape (m,)
        Mode speed on the edge, m/s (used for the access leg of points snapped to it).
    edge_street : ndarray, shape (m,)
        Row position of the edge in the streets frame the network was built from.
    edge_source_id : ndarray of object, shape (m,)
        The street's ``source_id`` (or ``None``).
    coords : ndarray, shape (k, 2)
        All edge vertices, metres; edge ``e`` owns ``coords[coord_off[e]:coord_off[e+1]]``.
    coord_off : ndarray of int, shape (m + 1,)
    vcum : ndarray, shape (k,)
        Distance of each vertex along its edge, metres.
    component : ndarray of int, shape (n,)
        Weakly connected component of each node.
    snappable_node : ndarray of bool, shape (n,)
        Whether the node's component is large enough to snap points to.
    params : dict
        The parameters the network was built with.
    """

    mode: str
    crs: CRS
    node_xy: np.ndarray
    edge_u: np.ndarray
    edge_v: np.ndarray
    edge_len: np.ndarray
    edge_fw: np.ndarray
    edge_bw: np.ndarray
    edge_speed: np.ndarray
    edge_street: np.ndarray
    edge_source_id: np.ndarray
    coords: np.ndarray
    coord_off: np.ndarray
    vcum: np.ndarray
    component: np.ndarray
    snappable_node: np.ndarray
    params: dict = field(default_factory=dict)

    # -- sizes ---------------------------------------------------------------------------
    @property
    def n_nodes(self) -> int:
        return int(self.node_xy.shape[0])

    @property
    def n_edges(self) -> int:
        return int(self.edge_u.shape[0])

    @property
    def snappable_edge(self) -> np.ndarray:
        """Edges (bool, shape (m,)) whose nodes lie in a snappable component and that the mode may use."""
        usable = np.isfinite(self.edge_fw) | np.isfinite(self.edge_bw)
        return self.snappable_node[self.edge_u] & usable

    @property
    def max_speed(self) -> float:
        """Fastest edge speed, m/s (bounds straight-line reach: no one gets farther in a given time)."""
        usable = np.isfinite(self.edge_fw) | np.isfinite(self.edge_bw)
        return float(self.edge_speed[usable].max()) if usable.any() else 0.0

    # -- the sparse graph ----------------------------------------------------------------
    @cached_property
    def graph(self) -> sp.csr_matrix:
        """Travel-time graph, CSR (n x n), seconds; parallel edges keep their quickest; no self-loops."""
        return arc_matrix(self.n_nodes, *self.arcs())

    @cached_property
    def graph_t(self) -> sp.csr_matrix:
        """Transpose of :attr:`graph` (row ``x`` lists the arcs arriving at ``x``)."""
        return self.graph.T.tocsr()

    def arcs(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """All usable directed arcs ``(tail, head, seconds)``, both directions of each edge, loops dropped."""
        u, v = self.edge_u, self.edge_v
        tail = np.concatenate([u, v])
        head = np.concatenate([v, u])
        cost = np.concatenate([self.edge_fw, self.edge_bw])
        keep = np.isfinite(cost) & (tail != head)
        return tail[keep], head[keep], cost[keep]

    @cached_property
    def node_edges(self) -> tuple[np.ndarray, np.ndarray]:
        """CSR adjacency node -> incident edges: ``(ptr, edges)``; node ``i`` touches ``edges[ptr[i]:ptr[i+1]]``."""
        ends = np.concatenate([self.edge_u, self.edge_v])
        eid = np.concatenate([np.arange(self.n_edges), np.arange(self.n_edges)])
        order = np.argsort(ends, kind="stable")
        ptr = np.zeros(self.n_nodes + 1, dtype=np.int64)
        np.add.at(ptr, ends + 1, 1)
        return np.cumsum(ptr), eid[order]

    @cached_property
    def edge_axis(self) -> tuple[np.ndarray, np.ndarray]:
        """Every edge laid on one increasing axis, edges 1 m apart: ``(base (m,), vertex (c,))``, metres.

        Edge ``e`` starts at ``base[e]``; vertex ``k`` of :attr:`coords` sits at ``vertex[k]``
        (``base`` of its edge + :attr:`vcum`), so a ``searchsorted`` finds the segment holding a point
        ``s`` metres along an edge for many edges at once.
        """
        base = np.concatenate([[0.0], np.cumsum(self.edge_len + 1.0)[:-1]])
        vertex = base[np.repeat(np.arange(self.n_edges), np.diff(self.coord_off))] + self.vcum
        return base, vertex

    def points_along(self, edges: np.ndarray, s_m: np.ndarray) -> np.ndarray:
        """Coordinates (k, 2), metres in :attr:`crs`, of the points ``s_m`` metres along ``edges`` from ``u``.

        Parameters
        ----------
        edges : ndarray of int (k,)
            Edge indices.
        s_m : ndarray of float (k,)
            Distances from each edge's ``u`` end, metres (clipped to the edge).
        """
        lo, hi = self.coord_off[edges], self.coord_off[edges + 1] - 1
        base, vertex = self.edge_axis
        k = np.clip(np.searchsorted(vertex, base[edges] + s_m, "right") - 1, lo, hi - 1)
        seg = self.vcum[k + 1] - self.vcum[k]
        f = np.clip(np.where(seg > 0, (s_m - self.vcum[k]) / np.where(seg > 0, seg, 1), 0.0), 0, 1)
        return self.coords[k] + (self.coords[k + 1] - self.coords[k]) * f[:, None]

    # -- reporting -----------------------------------------------------------------------
    def islands(self) -> pd.DataFrame:
        """Components too small to snap to (the fragments skipped), largest first.

        Which components are skipped is :attr:`snappable_node` (decided when the network was built,
        relative to its own largest component; for a :func:`union_networks`, relative to each
        part's own), never re-decided against the whole graph.

        Returns
        -------
        pandas.DataFrame
            ``component, nodes, edges, length_m, lon, lat`` (a node of the fragment, EPSG:4326) and
            ``part`` (the position of the part in a :func:`union_networks`, 0 otherwise).
        """
        comp = self.component
        sizes = np.bincount(comp)
        skipped = np.flatnonzero(~self._component_snappable(sizes.size))
        if skipped.size == 0:
            return pd.DataFrame(columns=["component", "nodes", "edges", "length_m", "lon", "lat", "part"])
        ecomp = comp[self.edge_u]
        n_edges = np.bincount(ecomp, minlength=sizes.size)
        length = np.bincount(ecomp, weights=self.edge_len, minlength=sizes.size)
        first = np.full(sizes.size, -1)
        first[comp[::-1]] = np.arange(self.n_nodes)[::-1]
        lon, lat = self.to_lonlat(self.node_xy[first[skipped]])
        df = pd.DataFrame({
            "component": skipped, "nodes": sizes[skipped], "edges": n_edges[skipped],
            "length_m": length[skipped], "lon": lon, "lat": lat, "part": self.node_part[first[skipped]],
        })
        return df.sort_values(["nodes", "length_m"], ascending=False, ignore_index=True)

    @property
    def node_part(self) -> np.ndarray:
        """Part (int, shape (n,)) of each node: its network's position in :func:`union_networks`, else 0."""
        counts = self.params.get("part_nodes")
        if not counts or sum(counts) != self.n_nodes:  # a sub-network copied its parent's params
            counts = [self.n_nodes]
        return np.repeat(np.arange(len(counts)), counts)

    @property
    def part_edges(self) -> np.ndarray:
        """Edge offsets (shape (parts + 1,)): part ``i`` owns edges ``part_edges[i]:part_edges[i+1]``."""
        counts = self.params.get("part_edges")
        if not counts or sum(counts) != self.n_edges:
            counts = [self.n_edges]
        return np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)

    def _component_snappable(self, n_components: int) -> np.ndarray:
        out = np.zeros(n_components, dtype=bool)
        out[self.component[self.snappable_node]] = True
        return out

    def _snappable_components(self, sizes: np.ndarray) -> np.ndarray:
        threshold = min(int(self.params.get("min_component_nodes", 50)), int(sizes.max()))
        return sizes >= threshold

    def summary(self) -> dict:
        """Counts for logs and API responses."""
        sizes = np.bincount(self.component)
        return {
            "mode": self.mode, "nodes": self.n_nodes, "edges": self.n_edges,
            "components": int(sizes.size), "snappable_components": int(self._component_snappable(sizes.size).sum()),
            "skipped_nodes": int((~self.snappable_node).sum()), "crs": self.crs.to_string(),
            "fingerprint": self.fingerprint,
        }

    # -- coordinates ---------------------------------------------------------------------
    def to_lonlat(self, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Metric ``xy`` (k, 2) -> ``(lon, lat)`` arrays, degrees EPSG:4326."""
        tr = transformer(self.crs, WGS84)
        xy = np.asarray(xy, dtype=float).reshape(-1, 2)
        return tr.transform(xy[:, 0], xy[:, 1])

    def project(self, frame: gpd.GeoDataFrame | gpd.GeoSeries) -> np.ndarray:
        """Point frame/series (any CRS; EPSG:4326 expected) -> metric ``xy`` (k, 2); empty points give NaN."""
        geo = frame.geometry if isinstance(frame, gpd.GeoDataFrame) else frame
        if geo.crs is None:
            geo = geo.set_crs(WGS84)
        g = geo.to_crs(self.crs).values
        xy = np.full((len(g), 2), np.nan)
        ok = ~(shapely.is_missing(g) | shapely.is_empty(g))
        xy[ok] = shapely.get_coordinates(shapely.centroid(g[ok]))
        return xy

    @cached_property
    def fingerprint(self) -> str:
        """Content hash (hex) of nodes, edges, costs, mode and parameters: equal hash, same results."""
        h = hashlib.sha256()
        h.update(self.mode.encode())
        h.update(self.crs.to_wkt().encode())
        h.update(repr(sorted(self.params.items())).encode())
        for a in (self.node_xy, self.edge_u, self.edge_v, self.edge_fw, self.edge_bw, self.coords, self.coord_off):
            h.update(np.ascontiguousarray(a).tobytes())
        return h.hexdigest()

    def __getstate__(self):
        state = self.__dict__.copy()
        for k in ("graph", "graph_t", "node_edges", "segment_index", "edge_axis", "_node_dirs", "_node_tree"):
            state.pop(k, None)  # rebuilt on demand; keeps pickles small
        return state


def arc_matrix(n: int, tail: np.ndarray, head: np.ndarray, cost: np.ndarray) -> sp.csr_matrix:
    """CSR matrix (``n`` x ``n``) of directed arcs, keeping the least cost of parallel arcs.

    Parameters
    ----------
    n : int
        Number of nodes (rows and columns).
    tail, head : ndarray of int
        Arc ends, node indices ``0 .. n-1``.
    cost : ndarray of float
        Arc costs, seconds.

    Returns
    -------
    scipy.sparse.csr_matrix
        ``m[tail, head] = min(cost)`` over parallel arcs (scipy would sum them).
    """
    order = np.lexsort((cost, head, tail))
    tail, head, cost = tail[order], head[order], cost[order]
    first = np.ones(tail.size, dtype=bool)
    first[1:] = (tail[1:] != tail[:-1]) | (head[1:] != head[:-1])
    tail, head, cost = tail[first], head[first], cost[first]
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.add.at(indptr, tail + 1, 1)
    return sp.csr_matrix((cost.astype(float), head.astype(np.int32), np.cumsum(indptr)), shape=(n, n))


def csr_ranges(ptr: np.ndarray, items: np.ndarray) -> np.ndarray:
    """Concatenate ``range(ptr[i], ptr[i + 1])`` for every ``i`` in ``items`` (vectorised).

    The positions, in a CSR layout (``ptr`` of length rows + 1), of the entries of rows ``items``:
    e.g. the incident edges of nodes with :attr:`Network.node_edges`.

    Parameters
    ----------
    ptr : ndarray of int
        Row pointers (non-decreasing).
    items : ndarray of int
        Rows, in the order wanted.

    Returns
    -------
    ndarray of int64
        The entry positions, row by row.
    """
    start, stop = ptr[items], ptr[items + 1]
    n = stop - start
    total = int(n.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    offs = np.repeat(start - np.cumsum(n) + n, n)
    return offs + np.arange(total)


def _flag(frame: pd.DataFrame, col: str, default: np.ndarray) -> np.ndarray:
    if col not in frame.columns:
        return default
    vals = frame[col].to_numpy(dtype=object)
    missing = pd.isna(vals)
    out = default.copy()
    out[~missing] = vals[~missing].astype(bool)
    return out


def build_network(
    streets: gpd.GeoDataFrame,
    mode: str = "walk",
    *,
    speed_kmh: float | None = None,
    crs: CRS | None = None,
    min_component_nodes: int = 50,
    precision_m: float = 0.01,
) -> Network:
    """Build the graph of ``streets`` for ``mode``.

    Parameters
    ----------
    streets : GeoDataFrame
        LineStrings in EPSG:4326 with ``road_class`` and optionally ``walk``, ``bike``, ``drive``,
        ``oneway``, ``speed_kmh`` (``geo.layers``), one row per edge between junctions.
    mode : {"walk", "bike", "drive"}
    speed_kmh : float, optional
        Walk or bike speed, km/h (defaults 5 and 15); for drive, a speed that replaces every
        street's own.
    crs : pyproj.CRS, optional
        Metric CRS to work in; default :func:`geo.crs.metric_crs_for` the streets.
    min_component_nodes : int
        Components smaller than this (or than the largest, if all are smaller) are not snapped to.
    precision_m : float
        End points within this grid (metres) are the same node.

    Returns
    -------
    Network

    Raises
    ------
    geo.errors.InvalidInput
        Unknown mode, empty or non-LineString geometries, or no street usable by the mode.
    """
    if mode not in MODES:
        raise InvalidInput("unknown travel mode", [Problem(f"mode must be one of {', '.join(MODES)}", field="mode")])
    if speed_kmh is not None and not speed_kmh > 0:
        raise InvalidInput("invalid speed", [Problem("speed_kmh must be positive", field="speed_kmh")])
    geoms = streets.geometry
    if geoms.crs is None:
        geoms = geoms.set_crs(WGS84)
    if len(streets) == 0:
        raise InvalidInput("no streets", [Problem("no streets are loaded here: import them (gridmap import "
                                                  "streets FILE, or osm FILE.osm.pbf) first", field="streets")])
    problems = []
    if len(streets):
        gtype = shapely.get_type_id(geoms.values)
        bad = np.flatnonzero((gtype != 1) | shapely.is_empty(geoms.values))
        sid = streets["source_id"].to_numpy(dtype=object) if "source_id" in streets else np.full(len(streets), None)
        problems = [Problem("street geometry must be a non-empty LineString", row=int(i) + 1, field="geometry",
                            feature_id=None if pd.isna(sid[i]) else str(sid[i])) for i in bad[:100]]
    if problems:
        raise InvalidInput("streets cannot form a network", problems)
    crs = CRS(crs) if crs is not None else metric_crs_for(geoms)
    g = geoms.to_crs(crs).values

    # access and speed per street
    classes = streets["road_class"].to_numpy(dtype=object) if "road_class" in streets else np.full(len(streets), None)
    table = np.array([ROAD_CLASSES.get(c, _UNKNOWN_CLASS) if isinstance(c, str) else _UNKNOWN_CLASS for c in classes],
                     dtype=object).reshape(-1, 4)
    allowed = _flag(streets, mode, table[:, MODES.index(mode)].astype(bool))
    oneway = np.zeros(len(streets), dtype=int)
    if mode == "walk":
        speed = np.full(len(streets), (speed_kmh or WALK_KMH) / 3.6)
    elif mode == "bike":
        speed = np.full(len(streets), (speed_kmh or BIKE_KMH) / 3.6)
    else:
        if speed_kmh is not None:
            kmh = np.full(len(streets), float(speed_kmh))
        else:
            kmh = table[:, 3].astype(float)
            if "speed_kmh" in streets:
                data = pd.to_numeric(streets["speed_kmh"], errors="coerce").to_numpy(dtype=float)
                kmh = np.where(np.isfinite(data) & (data > 0), data, kmh)
            kmh = np.where(kmh > 0, kmh, DRIVE_FALLBACK_KMH)
        speed = kmh / 3.6
        if "oneway" in streets:
            oneway = pd.to_numeric(streets["oneway"], errors="coerce").fillna(0).to_numpy(dtype=float).astype(int)
    rows = np.flatnonzero(allowed)
    if rows.size == 0:
        raise InvalidInput("no street is usable", [Problem(f"no street allows mode {mode!r}", field=mode)])

    g = g[rows]
    coords, idx = shapely.get_coordinates(g, return_index=True)
    counts = np.bincount(idx, minlength=rows.size)
    coord_off = np.concatenate([[0], np.cumsum(counts)])
    seg = np.hypot(*np.diff(coords, axis=0).T)
    seg[coord_off[1:-1] - 1] = 0.0  # no segment between one edge's last vertex and the next edge's first
    cum = np.concatenate([[0.0], np.cumsum(seg)])
    vcum = cum - np.repeat(cum[coord_off[:-1]], counts)
    length = vcum[coord_off[1:] - 1]

    # nodes: end points on a precision grid
    ends = np.concatenate([coords[coord_off[:-1]], coords[coord_off[1:] - 1]])
    key = np.round(ends / precision_m).astype(np.int64)
    _, first, inv = np.unique(key, axis=0, return_index=True, return_inverse=True)
    inv = inv.ravel()
    node_xy = ends[first]
    u, v = inv[: rows.size], inv[rows.size:]
    keep = length > 0
    if not keep.all():  # zero-length lines carry no travel; drop them
        keep_rows = np.flatnonzero(keep)
        vid = np.concatenate([np.arange(coord_off[i], coord_off[i + 1]) for i in keep_rows]) if keep_rows.size else []
        coords, vcum = coords[vid], vcum[vid]
        coord_off = np.concatenate([[0], np.cumsum(counts[keep_rows])])
        rows, u, v, length, = rows[keep_rows], u[keep_rows], v[keep_rows], length[keep_rows]
    spd = speed[rows]
    fw = length / spd
    bw = fw.copy()
    ow = oneway[rows]
    fw[ow == -1] = np.inf
    bw[ow == 1] = np.inf

    n = node_xy.shape[0]
    sym = sp.coo_matrix((np.ones(u.size), (u, v)), shape=(n, n))
    _, comp = connected_components(sym, directed=True, connection="weak")
    sizes = np.bincount(comp)
    net = Network(
        mode=mode, crs=crs, node_xy=node_xy, edge_u=u.astype(np.int64), edge_v=v.astype(np.int64),
        edge_len=length, edge_fw=fw, edge_bw=bw, edge_speed=spd, edge_street=rows,
        edge_source_id=(streets["source_id"].to_numpy(dtype=object)[rows] if "source_id" in streets
                        else np.full(rows.size, None, dtype=object)),
        coords=coords, coord_off=coord_off, vcum=vcum, component=comp,
        snappable_node=np.zeros(n, dtype=bool),
        params={"speed_kmh": speed_kmh, "min_component_nodes": int(min_component_nodes),
                "precision_m": float(precision_m)},
    )
    net.snappable_node = net._snappable_components(sizes)[comp]
    return net


def edges_frame(net: Network) -> gpd.GeoDataFrame:
    """The network's edges as a GeoDataFrame in its metric CRS (for inspection and cross-checks).

    Columns: ``edge, u, v, length_m, fw_s, bw_s, speed_mps, source_id, snappable`` (+ geometry).
    """
    lines = shapely.linestrings(net.coords, indices=np.repeat(np.arange(net.n_edges), np.diff(net.coord_off)))
    return gpd.GeoDataFrame({
        "edge": np.arange(net.n_edges), "u": net.edge_u, "v": net.edge_v, "length_m": net.edge_len,
        "fw_s": net.edge_fw, "bw_s": net.edge_bw, "speed_mps": net.edge_speed,
        "source_id": net.edge_source_id, "snappable": net.snappable_edge,
    }, geometry=lines, crs=net.crs)


def union_networks(nets: list[Network], street_rows: list[int] | None = None) -> Network:
    """The disjoint union of ``nets`` (one per region): no edge joins two of them.

    Each part keeps its own nodes, edges, costs and its own island rule (``snappable_node`` as
    each was built, relative to its own largest component), so a search on the union from the
    stations of one part gives exactly the times of that part's network alone.

    Parameters
    ----------
    nets : list of Network
        Built for the same mode in the same metric CRS (``build_network(..., crs=...)``).
    street_rows : list of int, optional
        Rows of each part's streets frame, so that ``edge_street`` indexes the concatenation of
        the frames in this order (default: each part's largest ``edge_street`` + 1).

    Returns
    -------
    Network
        Nodes, edges and components numbered part after part; ``params["part_nodes"]`` and
        ``params["part_edges"]`` hold the counts (:attr:`Network.node_part`, :attr:`Network.part_edges`).
    """
    if not nets:
        raise InvalidInput("no networks to join", [Problem("at least one network is needed", field="streets")])
    first = nets[0]
    for n in nets[1:]:
        if n.mode != first.mode or not CRS(n.crs).equals(first.crs):
            raise InvalidInput("networks differ", [Problem("parts must share the mode and the metric CRS", field="crs")])
    if len(nets) == 1:
        return first
    n_off = np.concatenate([[0], np.cumsum([n.n_nodes for n in nets])])
    c_off = np.concatenate([[0], np.cumsum([n.coords.shape[0] for n in nets])])
    comp_off = np.concatenate([[0], np.cumsum([int(n.component.max()) + 1 if n.n_nodes else 0 for n in nets])])
    rows = street_rows or [int(n.edge_street.max()) + 1 if n.n_edges else 0 for n in nets]
    s_off = np.concatenate([[0], np.cumsum(rows)])
    cat = np.concatenate
    params = {k: v for k, v in first.params.items() if k not in ("part_nodes", "part_edges")}
    params.update(part_nodes=[n.n_nodes for n in nets], part_edges=[n.n_edges for n in nets])
    return Network(
        mode=first.mode, crs=first.crs, node_xy=np.vstack([n.node_xy for n in nets]),
        edge_u=cat([n.edge_u + o for n, o in zip(nets, n_off)]), edge_v=cat([n.edge_v + o for n, o in zip(nets, n_off)]),
        edge_len=cat([n.edge_len for n in nets]), edge_fw=cat([n.edge_fw for n in nets]),
        edge_bw=cat([n.edge_bw for n in nets]), edge_speed=cat([n.edge_speed for n in nets]),
        edge_street=cat([n.edge_street + o for n, o in zip(nets, s_off)]),
        edge_source_id=cat([n.edge_source_id for n in nets]), coords=np.vstack([n.coords for n in nets]),
        coord_off=cat([[0]] + [n.coord_off[1:] + o for n, o in zip(nets, c_off)]).astype(np.int64),
        vcum=cat([n.vcum for n in nets]), component=cat([n.component + o for n, o in zip(nets, comp_off)]),
        snappable_node=cat([n.snappable_node for n in nets]), params=params,
    )
