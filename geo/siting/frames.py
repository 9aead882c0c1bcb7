"""The adaptor: a :class:`~geo.siting.matrix.SitingMatrix` from the network, dwellings and candidates.

Every candidate and every existing station gets one bounded network search, the coverage engine's
per-station search (the search of :func:`geo.reach.station_node_times`, limited to ``limit_s``
around the site, then the arithmetic of :func:`geo.reach.point_times` for the dwellings on the
edges it reached), batched by neighbourhood (:func:`site_searches`, every site of a tile timing
every dwelling of the tile's sub-network at once), so
the matrix is sparse from the start and its times are exactly the coverage engine's (same
snapping, access legs, same-edge travel, budget rule).

Candidates are any points (EPSG:4326): street nodes inside chosen areas
(:func:`street_node_candidates`), every street node within reach of a gap
(:func:`gap_node_candidates`), user points, or amenities from an OSM import.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp
import shapely
from scipy.sparse.csgraph import dijkstra
from scipy.spatial import cKDTree

from geo.crs import WGS84
from geo.errors import InvalidInput, Problem
from geo.network import Network
from geo.reach import edge_part_s, source_arcs
from geo.siting.matrix import EPS_S, SitingMatrix, concat_ranges, csr_from, from_matrix
from geo.snap import Snap, snap_frame


def _ids(frame: gpd.GeoDataFrame, column: str | None, default: str) -> np.ndarray:
    col = column or default
    if col in frame:
        ids = frame[col].to_numpy(dtype=object)
        if not pd.isna(ids).any():
            return ids
    return np.asarray(frame.index, dtype=object)


def _values(frame: gpd.GeoDataFrame | None, spec, n: int) -> np.ndarray | None:
    """A per-row number from a column name, a scalar or an array (NaN: none)."""
    if spec is None:
        return None
    if isinstance(spec, str):
        if frame is None or spec not in frame:
            return None
        return pd.to_numeric(frame[spec], errors="coerce").to_numpy(dtype=float)
    v = np.asarray(spec, dtype=float).reshape(-1)
    return np.full(n, float(v[0])) if v.size == 1 else v


def _local_network(net: Network, edges: np.ndarray) -> tuple[Network, np.ndarray, np.ndarray]:
    """The sub-network of ``edges`` (sorted global edge ids): ``(local, local node -> global node,
    global edge -> local edge or -1)``.  Built with the public :class:`geo.network.Network` fields."""
    nodes = np.unique(np.r_[net.edge_u[edges], net.edge_v[edges]])
    nmap = np.full(net.n_nodes, -1, dtype=np.int64)
    nmap[nodes] = np.arange(nodes.size)
    emap = np.full(net.n_edges, -1, dtype=np.int64)
    emap[edges] = np.arange(edges.size)
    counts = np.diff(net.coord_off)[edges]
    vid = np.repeat(net.coord_off[edges] - np.cumsum(counts) + counts, counts) + np.arange(int(counts.sum()))
    local = Network(
        mode=net.mode, crs=net.crs, node_xy=net.node_xy[nodes], edge_u=nmap[net.edge_u[edges]],
        edge_v=nmap[net.edge_v[edges]], edge_len=net.edge_len[edges], edge_fw=net.edge_fw[edges],
        edge_bw=net.edge_bw[edges], edge_speed=net.edge_speed[edges], edge_street=net.edge_street[edges],
        edge_source_id=net.edge_source_id[edges], coords=net.coords[vid],
        coord_off=np.r_[0, np.cumsum(counts)], vcum=net.vcum[vid], component=net.component[nodes],
        snappable_node=net.snappable_node[nodes], params=dict(net.params),
    )
    return local, nodes, emap


def _local_snap(snap: Snap, emap: np.ndarray) -> Snap:
    out = snap.take(slice(None))
    on = out.edge >= 0
    out.edge = np.where(on, emap[np.maximum(out.edge, 0)], -1)
    return out


def site_searches(net: Network, sites: Snap, dwellings: Snap, limit_s: float, *, tile_m: float = 1000.0
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One bounded search per snapped site: ``(dwelling, site, seconds)`` for every pair within ``limit_s``.

    The same search as :func:`geo.reach.station_node_times` (a site enters the graph by the arcs of
    :func:`geo.reach.source_arcs` to the ends of its edge; node times beyond the limit are ``inf``),
    then the times of the dwellings as :func:`geo.reach.point_times` gives them (:func:`_tile_pairs`).
    Done in batches: sites are grouped in ``tile_m`` squares;
    each group searches a sub-network holding every edge that touches a node within
    ``limit_s * max_speed`` metres of one of its sites (no path within the limit leaves it), with one
    ``scipy.sparse.csgraph.dijkstra`` call from all the end nodes of its sites' edges; a site's node
    times are the minimum over its two arcs.  The times are exactly the whole network's.

    Parameters
    ----------
    net : Network
    sites : Snap
        Snapped sites (unsnapped ones reach nothing).
    dwellings : Snap
        Snapped dwellings.
    limit_s : float
        Search limit, seconds.
    tile_m : float
        Side of the site groups, metres.
    """
    rows, cols, vals = [], [], []
    okj = np.flatnonzero(sites.ok)
    if okj.size == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros(0)
    lim = limit_s + EPS_S
    radius = lim * net.max_speed + 1.0
    tree = cKDTree(net.node_xy)
    ptr, node_edges = net.node_edges
    cell = np.floor(sites.xy[okj] / tile_m).astype(np.int64)
    _, tile = np.unique(cell, axis=0, return_inverse=True)
    tile = tile.ravel()
    by_edge = np.argsort(np.where(dwellings.ok, dwellings.edge, net.n_edges), kind="stable")
    dw_ptr = np.r_[0, np.cumsum(np.bincount(dwellings.edge[dwellings.ok], minlength=net.n_edges))]
    for tt in np.unique(tile):
        js = okj[tile == tt]
        lo, hi = sites.xy[js].min(axis=0), sites.xy[js].max(axis=0)
        near = np.asarray(tree.query_ball_point((lo + hi) / 2, radius + float(np.hypot(*(hi - lo))) / 2 + 1.0),
                          dtype=np.int64)
        edges = np.unique(np.r_[node_edges[concat_ranges(ptr, near)], sites.edge[js]])
        local, _, emap = _local_network(net, edges)
        ls = _local_snap(sites.take(js), emap)  # site k of the tile is js[k]
        dsel = by_edge[concat_ranges(dw_ptr, edges)]  # the dwellings on the sub-network's edges
        ld = _local_snap(dwellings.take(dsel), emap)
        sid, node, cost = source_arcs(local, ls)
        keep = cost <= lim
        sid, node, cost = sid[keep], node[keep], cost[keep]
        if sid.size == 0:
            continue
        src, pos = np.unique(node, return_inverse=True)
        dn = dijkstra(local.graph, directed=True, indices=src, limit=lim).reshape(src.size, -1)
        order = np.argsort(sid, kind="stable")
        sid, pos, cost = sid[order], pos.ravel()[order], cost[order]
        starts = np.r_[0, np.flatnonzero(np.diff(sid)) + 1, sid.size]
        r, c, v = _tile_pairs(local, ld, ls, dn, sid, pos, cost, starts, lim)
        rows.append(dsel[r])
        cols.append(js[c])
        vals.append(v)
    if not rows:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros(0)
    return np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)


#: Site x dwelling cells evaluated at once in a tile (bounds the memory of :func:`_tile_pairs`).
CHUNK_CELLS = 4_000_000


def _tile_pairs(local: Network, ld: Snap, ls: Snap, dn: np.ndarray, sid: np.ndarray, pos: np.ndarray,
                cost: np.ndarray, starts: np.ndarray, lim: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The pairs within ``lim`` of one tile's sites: ``(local dwelling, site, seconds)``.

    ``dn`` holds the search from each arc end node; the arcs (``sid, pos, cost``, sorted by site,
    site ``k``'s at ``starts[k]:starts[k+1]``) give each site's node times as the minimum over its
    arcs.  Every local dwelling is then timed from every site at once, with the arithmetic of
    :func:`geo.reach.point_times` (via either end of its edge, plus direct travel along an edge it
    shares with the site), so the times are identical to the per-site search; the dense site x
    dwelling block is taken :data:`CHUNK_CELLS` at a time.
    """
    nw = len(ld)
    if nw == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros(0)
    e, f = ld.edge, ld.frac
    wu, wv = local.edge_u[e], local.edge_v[e]
    pu, pv = edge_part_s(f, local.edge_fw[e]), edge_part_s(1.0 - f, local.edge_bw[e])
    acc = ld.access_s
    by_edge = np.argsort(e, kind="stable")
    e_sorted = e[by_edge]
    sites = sid[starts[:-1]]
    step = max(1, CHUNK_CELLS // nw)
    rows, cols, vals = [], [], []
    for k0 in range(0, sites.size, step):
        k1 = min(k0 + step, sites.size)
        a0, a1 = starts[k0], starts[k1]
        D = np.minimum.reduceat(dn[pos[a0:a1]] + cost[a0:a1, None], starts[k0:k1] - a0, axis=0)
        D[D > lim] = np.inf
        tu = D[:, wu] + pu
        tv = D[:, wv] + pv
        best = np.where(tv < tu, tv, tu) + acc
        # direct travel along the site's own edge (the dwellings snapped to it)
        js = sites[k0:k1]
        se = ls.edge[js]
        lo, hi = np.searchsorted(e_sorted, se, "left"), np.searchsorted(e_sorted, se, "right")
        cnt = hi - lo
        if cnt.any():
            ri = np.repeat(np.arange(js.size), cnt)
            wi = by_edge[np.repeat(lo - np.cumsum(cnt) + cnt, cnt) + np.arange(int(cnt.sum()))]
            fe = e[wi]
            df = f[wi] - ls.frac[js[ri]]
            along = np.where(df >= 0, edge_part_s(df, local.edge_fw[fe]), edge_part_s(-df, local.edge_bw[fe]))
            cc = along + ls.access_s[js[ri]] + acc[wi]
            better = cc < best[ri, wi]
            best[ri[better], wi[better]] = cc[better]
        rr, ww = np.nonzero(best <= lim)
        rows.append(ww)
        cols.append(js[rr])
        vals.append(best[rr, ww])
    return np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)


def _lonlat(frame: gpd.GeoDataFrame) -> np.ndarray:
    g = frame.geometry
    g = g.set_crs(WGS84) if g.crs is None else g.to_crs(WGS84)
    xy = np.full((len(g), 2), np.nan)
    ok = ~(shapely.is_missing(g.values) | shapely.is_empty(g.values))
    xy[ok] = shapely.get_coordinates(shapely.centroid(g.values[ok]))
    return xy


def from_frames(
    net: Network,
    dwellings: gpd.GeoDataFrame,
    candidates: gpd.GeoDataFrame,
    existing: gpd.GeoDataFrame | None = None,
    *,
    budget_s: float = 480.0,
    limit_s: float | None = None,
    max_snap_m: float = 300.0,
    candidate_id: str | None = "candidate_id",
    existing_id: str | None = "source_id",
    candidate_cost=None,
    candidate_capacity=None,
    existing_capacity="capacity",
    fallback_time_s=None,
    dwelling_snap: Snap | None = None,
) -> SitingMatrix:
    """The siting matrix of ``dwellings`` x (``candidates``, ``existing``) on ``net``.

    Parameters
    ----------
    net : Network
        The street network (:func:`geo.network.build_network`), metric CRS.
    dwellings : GeoDataFrame
        Points, EPSG:4326, with ``households`` (missing: 1 each).  One demand row per dwelling, in
        frame order; dwellings too far from a usable street are rows no site covers.
    candidates : GeoDataFrame
        Points, EPSG:4326: the places a new station may go.
    existing : GeoDataFrame, optional
        The existing stations (points, EPSG:4326; already filtered, see :func:`geo.reach.select_stations`).
    budget_s : float
        Coverage budget, seconds (8 minutes: 480).
    limit_s : float, optional
        Search limit, seconds (default ``budget_s``; larger for p-median beyond the budget).
    max_snap_m : float
        Points farther than this from a usable street are not attached (as in :func:`geo.reach.compute_reach`).
    candidate_id, existing_id : str, optional
        Identifier columns (default the frame index when missing).
    candidate_cost : str, float or array, optional
        Opening cost column or values (LSCP).
    candidate_capacity, existing_capacity : str, float or array, optional
        Households per site: a column name (default ``capacity`` for the existing stations), a value
        or an array; missing means unlimited.
    fallback_time_s : float or array, optional
        p-median time of a dwelling no site reaches within ``limit_s`` (default ``limit_s``).
    dwelling_snap : Snap, optional
        A snap of ``dwellings`` on ``net`` to reuse.

    Returns
    -------
    SitingMatrix
        ``demand_ids`` are the dwellings' ``source_id`` (or index).
    """
    if not budget_s > 0:
        raise InvalidInput("invalid time budget", [Problem("budget_s must be positive seconds", field="budget_s")])
    limit = float(budget_s) if limit_s is None else float(limit_s)
    if limit < budget_s:
        raise InvalidInput("invalid search limit", [Problem("limit_s must be >= budget_s", field="limit_s")])
    if len(candidates) == 0:
        raise InvalidInput("no candidate sites", [Problem("give at least one candidate point", field="candidates")])
    ds = dwelling_snap if dwelling_snap is not None else snap_frame(net, dwellings, max_dist_m=max_snap_m)
    if len(ds) != len(dwellings):
        raise InvalidInput("dwelling snap does not match the dwellings", [Problem("stale dwelling_snap")])
    hh = (pd.to_numeric(dwellings["households"], errors="coerce").fillna(0).to_numpy(dtype=float)
          if "households" in dwellings else np.ones(len(dwellings)))
    cs = snap_frame(net, candidates, max_dist_m=max_snap_m)
    n, m = len(dwellings), len(candidates)
    r, c, t = site_searches(net, cs, ds, limit)
    cand_t = sp.coo_matrix((t, (r, c)), shape=(n, m))  # sorted once, by from_matrix
    ex_t, e = None, 0
    if existing is not None and len(existing):
        es = snap_frame(net, existing, max_dist_m=max_snap_m)
        e = len(existing)
        r, c, t = site_searches(net, es, ds, limit)
        ex_t = sp.coo_matrix((t, (r, c)), shape=(n, e))
    lonlat = np.vstack([_lonlat(candidates)] + ([_lonlat(existing)] if e else []))
    return from_matrix(
        time_s=cand_t, existing_time_s=ex_t, weights=hh, budget_s=float(budget_s), limit_s=limit,
        candidate_ids=_ids(candidates, candidate_id, "candidate_id"),
        existing_ids=_ids(existing, existing_id, "source_id") if e else None,
        candidate_cost=_values(candidates, candidate_cost, m),
        candidate_capacity=_values(candidates, candidate_capacity, m),
        existing_capacity=_values(existing, existing_capacity, e) if e else None,
        fallback_time_s=fallback_time_s, site_lonlat=lonlat,
        demand_ids=_ids(dwellings, "source_id", "source_id"),
    )


def _node_frame(net: Network, nodes: np.ndarray) -> gpd.GeoDataFrame:
    lon, lat = net.to_lonlat(net.node_xy[nodes])
    return gpd.GeoDataFrame({"candidate_id": np.array([f"node-{i}" for i in nodes], dtype=object),
                             "node": nodes.astype(np.int64)},
                            geometry=gpd.points_from_xy(lon, lat), crs=WGS84)


def street_node_candidates(net: Network, areas: gpd.GeoDataFrame | gpd.GeoSeries | None = None) -> gpd.GeoDataFrame:
    """Street nodes (of snappable components) as candidate points, inside ``areas`` when given.

    Parameters
    ----------
    net : Network
    areas : GeoDataFrame or GeoSeries, optional
        Polygons, EPSG:4326 (e.g. the chosen communities); a node on a boundary counts as inside.

    Returns
    -------
    GeoDataFrame
        ``candidate_id`` (``node-<i>``), ``node``; points EPSG:4326.
    """
    nodes = np.flatnonzero(net.snappable_node)
    if areas is not None:
        g = areas.geometry if isinstance(areas, gpd.GeoDataFrame) else areas
        g = g.set_crs(WGS84) if g.crs is None else g
        polys = g.to_crs(net.crs).values
        hit = shapely.STRtree(shapely.points(net.node_xy[nodes])).query(polys, predicate="intersects")
        nodes = nodes[np.unique(hit[1])]
    return _node_frame(net, nodes)


def gap_node_candidates(net: Network, dwellings: gpd.GeoDataFrame, covered: np.ndarray, *, budget_s: float = 480.0,
                        max_snap_m: float = 300.0, dwelling_snap: Snap | None = None) -> gpd.GeoDataFrame:
    """Every street node from which some uncovered dwelling is within ``budget_s`` (seconds).

    One multi-source search from the uncovered dwellings on the reversed graph (a node's time *to*
    a dwelling, access leg included), so a station at any returned node would cover at least one
    uncovered dwelling and no other node would.

    Parameters
    ----------
    net : Network
    dwellings : GeoDataFrame
        Points, EPSG:4326.
    covered : ndarray of bool
        Per dwelling, whether it is covered now (e.g. ``Reach.covered()``).
    budget_s : float
    max_snap_m : float
    dwelling_snap : Snap, optional

    Returns
    -------
    GeoDataFrame as :func:`street_node_candidates`, plus ``time_to_gap_s``.
    """
    ds = dwelling_snap if dwelling_snap is not None else snap_frame(net, dwellings, max_dist_m=max_snap_m)
    gap = np.flatnonzero(~np.asarray(covered, dtype=bool) & ds.ok)
    n = net.n_nodes
    if gap.size == 0:
        out = _node_frame(net, np.zeros(0, dtype=np.int64))
        out["time_to_gap_s"] = np.zeros(0)
        return out
    e, f, acc = ds.edge[gap], ds.frac[gap], ds.access_s[gap]
    with np.errstate(invalid="ignore"):
        cu = acc + np.where(f > 0, f * net.edge_fw[e], 0.0)  # node u -> dwelling, along the edge
        cv = acc + np.where(f < 1, (1.0 - f) * net.edge_bw[e], 0.0)  # node v -> dwelling
    q = gap.size
    vid = np.r_[np.arange(q), np.arange(q)]
    node = np.r_[net.edge_u[e], net.edge_v[e]]
    cost = np.r_[cu, cv]
    ok = np.isfinite(cost)
    vid, node, cost = vid[ok], node[ok], cost[ok]
    order = np.lexsort((cost, node, vid))  # a loop edge gives two arcs to one node: keep the quicker
    vid, node, cost = vid[order], node[order], cost[order]
    first = np.r_[True, (vid[1:] != vid[:-1]) | (node[1:] != node[:-1])]
    virt = csr_from(vid[first], node[first], cost[first], (q, n + q))
    gt = net.graph_t
    top = sp.csr_matrix((gt.data, gt.indices, gt.indptr), shape=(n, n + q))
    aug = sp.vstack([top, virt], format="csr")
    dist = dijkstra(aug, directed=True, indices=n + np.arange(q), min_only=True, limit=budget_s + EPS_S)[:n]
    nodes = np.flatnonzero((dist <= budget_s + EPS_S) & net.snappable_node)
    out = _node_frame(net, nodes)
    out["time_to_gap_s"] = dist[nodes]
    return out
