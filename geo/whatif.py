"""What-if: add, move or close one station, answered by a bounded search around it.

A :class:`Planner` keeps one full :class:`geo.reach.Reach` (node times, each node's nearest station,
every dwelling's time) and answers hypothetical changes without a full recompute:

* **add** a station at a point: one Dijkstra from it limited to the search limit; a dwelling's new
  time is ``min(old, time from the new station)`` (adding a source never lengthens a path).
* **close** station ``s``: only nodes whose nearest station was ``s`` (its Voronoi region ``R``) can
  change.  They are re-solved on the subgraph of ``R`` seeded, per remaining station, by the best
  arcs entering ``R`` from outside (outside nodes keep their times, which no path through ``s``
  achieved) and by stations snapped next to ``R``.  Only dwellings whose nearest was ``s`` change.
* **move** = close, then add at the new place.
* **change**: several of these together (a siting proposal: its K new sites, and the stations it
  closes, as one question): the closed stations' Voronoi regions are re-solved at once, then every
  new station's search lowers the times it reaches.

Results are exact (identical to a full recompute; the tests check this) and leave the planner
unchanged.  Gap changes are re-clustered only around the dwellings that changed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse.csgraph import dijkstra
from scipy.spatial import cKDTree

from geo.crs import WGS84, transformer
from geo.errors import InvalidInput, Problem
from geo.gaps import Gaps, cluster, gap_rows, rank_gaps
from geo.network import Network, arc_matrix, csr_ranges
from geo.reach import EPS_S, DwellingIndex, Reach, point_times, source_arcs, station_node_times
from geo.snap import snap_points


@dataclass
class WhatIfResult:
    """Effect of one hypothetical change.

    Attributes
    ----------
    action : str
    budget_s : float
    covered_before, covered_after : int
        Households covered within the budget.
    changed : DataFrame
        Dwellings whose time changed: ``dwelling`` (row position), ``time_before_s``, ``time_after_s``,
        ``station_after``.
    per_grid : DataFrame
        Grids with a change: ``grid_code, covered_before, covered_after, delta``.
    gaps_removed : list of int
        Ids of the base gaps that changed (disappeared, shrank, grew or merged).
    gaps_added : GeoDataFrame
        The gaps replacing them (ids continue after the base ids), EPSG:4326.
    """

    action: str
    budget_s: float
    covered_before: int
    covered_after: int
    changed: pd.DataFrame
    per_grid: pd.DataFrame
    gaps_removed: list = field(default_factory=list)
    gaps_added: gpd.GeoDataFrame | None = None

    @property
    def delta(self) -> int:
        return self.covered_after - self.covered_before


@dataclass(frozen=True)
class Site:
    """A new station's place, projected and snapped once (:meth:`Planner.site`).

    Attributes
    ----------
    xy : ndarray, shape (2,)
        The place in the network's metric CRS, metres.
    snap : Snap
        Its snap to the network (one point) within the planner's ``max_snap_m``.
    """

    xy: np.ndarray
    snap: Snap

    @property
    def snapped(self) -> bool:
        return bool(self.snap.ok[0])


class Planner:
    """Answer what-if questions against one base reach.

    Parameters
    ----------
    net : Network
    reach : Reach
        The base result (from :func:`geo.reach.compute_reach` on ``net``).
    grid_codes : ndarray, optional
        Grid code of each dwelling, for the per-grid changes.
    gaps : Gaps, optional
        Base gaps (:func:`geo.gaps.find_gaps`), for the gap changes.
    budget_s : float, optional
        Budget judged (default the reach's first break).
    max_snap_m : float
        Snap distance for new station sites (as in the base reach).
    """

    def __init__(self, net: Network, reach: Reach, *, grid_codes=None, gaps: Gaps | None = None,
                 budget_s: float | None = None, max_snap_m: float = 300.0):
        if reach.net_fingerprint != net.fingerprint:
            raise InvalidInput("reach was computed on another network", [Problem("recompute the reach")])
        self.net, self.reach, self.gaps = net, reach, gaps
        self.max_snap_m = max_snap_m
        self.budget = reach.breaks_s[0] if budget_s is None else float(budget_s)
        self.grid_codes = None if grid_codes is None else np.asarray(grid_codes, dtype=object)
        self.index = DwellingIndex(net, reach.dwelling_snap)
        self._ids = {sid: i for i, sid in enumerate(reach.station_ids)}
        self._unc_tree = None
        self._to_metric = transformer(WGS84, net.crs)
        _ = net.graph_t  # warm caches outside the timed calls
        # the base answer's whole-scope parts, once: each question then costs only what it changes
        self._fallback = np.flatnonzero(reach.method == "straight_line")
        self._covered = reach.covered(self.budget)
        self._covered_hh = int(reach.households[self._covered].sum())
        if self.grid_codes is not None:  # grid of each dwelling as a position in _grid_u (-1: none)
            self._grid_inv, uniq = pd.factorize(pd.Series(self.grid_codes, dtype=object))
            self._grid_u = np.asarray(uniq, dtype=object)
            ok = self._grid_inv >= 0
            self._grid_cov = np.bincount(self._grid_inv[ok], weights=(reach.households * self._covered)[ok],
                                         minlength=len(self._grid_u)).astype(np.int64)

    # -- the searches -------------------------------------------------------------------
    def _station(self, station_id) -> int:
        if station_id not in self._ids:
            raise InvalidInput("unknown station", [Problem(f"no counted station {station_id!r}", field="station",
                                                           feature_id=str(station_id))])
        return self._ids[station_id]

    def site(self, lon: float, lat: float) -> Site:
        """The place ``(lon, lat)`` (degrees, EPSG:4326) in the metric CRS and snapped to the network
        within ``max_snap_m``: pass it to :meth:`add` or :meth:`move` so that they do not do it again."""
        xy = np.array(self._to_metric.transform(lon, lat), dtype=float)
        return Site(xy, snap_points(self.net, xy[None, :], max_dist_m=self.max_snap_m))

    def _added(self, lon: float, lat: float, site: Site | None = None):
        """(dwellings, times) reached from a new station at (lon, lat), within the search limit."""
        net, r = self.net, self.reach
        site = self.site(lon, lat) if site is None else site
        (x, y), snap = site.xy, site.snap
        cand = np.zeros(0, dtype=np.int64)
        t = np.zeros(0)
        if snap.ok[0]:
            d = station_node_times(net, snap, 0, r.limit_s)
            cand = self.index.near_nodes(np.flatnonzero(np.isfinite(d)), snap.edge[:1])
            cand = cand[r.method[cand] == "network"]
            t, _ = point_times(net, r.dwelling_snap, d, None, snap, np.array([0]), which=cand, fixed=0)
        fb = self._fallback
        if fb.size:
            tf = np.hypot(*(r.dwelling_xy[fb] - [x, y]).T) * r.detour_factor / r.fallback_speed_mps
            cand, t = np.r_[cand, fb], np.r_[t, tf]
        keep = t <= r.limit_s + EPS_S
        return cand[keep], t[keep], snap

    def _closed(self, s):
        """(dwellings, new times, new nearest) for the dwellings whose nearest was station ``s`` (a
        station position, or an array of them closed together)."""
        net, r = self.net, self.reach
        S = np.atleast_1d(np.asarray(s, dtype=np.int64))
        shut = np.zeros(len(r.station_ids), dtype=bool)
        shut[S] = True
        aff = np.flatnonzero(np.isin(r.nearest, S))
        R = np.flatnonzero(np.isin(r.node_nearest, S))
        d_new = r.node_time.copy()
        near_new = r.node_nearest.copy()
        if R.size:
            inR = np.zeros(net.n_nodes, dtype=bool)
            inR[R] = True
            loc = np.full(net.n_nodes, -1, dtype=np.int64)
            loc[R] = np.arange(R.size)
            gt = net.graph_t
            rows = csr_ranges(gt.indptr, R)
            head = np.repeat(np.arange(R.size), np.diff(gt.indptr)[R])
            tail, w = gt.indices[rows], gt.data[rows]
            ok = ~inR[tail] & np.isfinite(r.node_time[tail])
            seed_st = r.node_nearest[tail[ok]]
            seed_x, seed_c = head[ok], r.node_time[tail[ok]] + w[ok]
            others = np.flatnonzero(r.station_snap.ok & ~shut)
            sid, node, cost = source_arcs(net, r.station_snap, others)
            m = inR[node]
            seed_st, seed_x, seed_c = np.r_[seed_st, sid[m]], np.r_[seed_x, loc[node[m]]], np.r_[seed_c, cost[m]]
            keep = seed_c <= r.limit_s + EPS_S
            seed_st, seed_x, seed_c = seed_st[keep], seed_x[keep], seed_c[keep]
            d_new[R], near_new[R] = np.inf, -1
            if seed_st.size:
                sts, vid = np.unique(seed_st, return_inverse=True)
                k = R.size
                sub = net.graph[R][:, R]
                n2 = k + sts.size
                virt = arc_matrix(n2, vid, seed_x, seed_c)
                virt = sp.csr_matrix((virt.data, virt.indices, virt.indptr[: sts.size + 1]), shape=(sts.size, n2))
                top = sp.csr_matrix((sub.data, sub.indices, sub.indptr), shape=(k, n2))
                aug = sp.vstack([top, virt], format="csr")
                dist, _, src = dijkstra(aug, indices=k + np.arange(sts.size), min_only=True,
                                        limit=r.limit_s + EPS_S, return_predecessors=True)
                d_new[R] = dist[:k]
                near_new[R] = np.where(src[:k] >= 0, sts[np.maximum(src[:k] - k, 0)], -1)
        others_all = np.flatnonzero(~shut)
        netw = aff[r.method[aff] == "network"]
        t, who = point_times(net, r.dwelling_snap, d_new, near_new, r.station_snap, others_all, which=netw)
        t[t > r.limit_s + EPS_S] = np.inf
        who[~np.isfinite(t)] = -1
        fb = aff[r.method[aff] == "straight_line"]
        if fb.size:
            fin = np.flatnonzero(np.isfinite(r.station_xy).all(axis=1) & ~shut)
            tf, wf = np.full(fb.size, np.inf), np.full(fb.size, -1)
            if fin.size:
                dist, kk = cKDTree(r.station_xy[fin]).query(r.dwelling_xy[fb])
                tf = dist * r.detour_factor / r.fallback_speed_mps
                wf = np.where(tf <= r.limit_s + EPS_S, fin[kk], -1)
                tf[tf > r.limit_s + EPS_S] = np.inf
            netw, t, who = np.r_[netw, fb], np.r_[t, tf], np.r_[who, wf]
        return netw, t, who

    # -- public questions ---------------------------------------------------------------
    def add(self, lon: float, lat: float, *, station_id: str = "new", site: Site | None = None) -> WhatIfResult:
        """Effect of a new station at ``(lon, lat)`` (degrees, EPSG:4326); ``site``: that place
        from :meth:`site`, when the caller has it already."""
        return self.change(add=[(station_id, lon, lat)], sites=[site], action=f"add {station_id}")

    def close(self, station_id) -> WhatIfResult:
        """Effect of closing the counted station ``station_id``."""
        return self.change(close=[station_id], action=f"close {station_id}")

    def move(self, station_id, lon: float, lat: float, *, site: Site | None = None) -> WhatIfResult:
        """Effect of moving station ``station_id`` to ``(lon, lat)`` (``site``: as for :meth:`add`)."""
        return self.change(add=[(station_id, lon, lat)], close=[station_id], sites=[site],
                           action=f"move {station_id}")

    def change(self, *, add=(), close=(), sites=None, action: str = "change") -> WhatIfResult:
        """Effect of several changes made together: the counted stations ``close`` closed and new
        stations at ``add``, a sequence of ``(station_id, lon, lat)`` (degrees, EPSG:4326; a closed
        station's id here is that station moved).  ``sites``: the places from :meth:`site`, one per
        ``add`` (None: placed here).  Exact: the same as a full recompute with the changed stations.
        """
        r = self.reach
        add = list(add)
        sites = [None] * len(add) if sites is None else list(sites)
        if len(sites) != len(add):
            raise InvalidInput("one site per added station", [Problem(f"{len(sites)} sites for {len(add)} stations",
                                                                      field="sites")])
        shut = np.unique(np.array([self._station(s) for s in close], dtype=np.int64))
        n_st = len(r.station_ids)
        names = np.r_[np.asarray(r.station_ids, dtype=object), np.array([a[0] for a in add], dtype=object)]
        time, near = r.time_s, r.nearest
        touched = []
        if shut.size:
            time, near = time.copy(), near.copy()
            idx, t, who = self._closed(shut)
            time[idx], near[idx] = t, who
            touched.append(idx)
        for j, ((_, lon, lat), there) in enumerate(zip(add, sites)):
            a, ta, _ = self._added(lon, lat, there)
            better = ta < time[a]
            if not better.any():
                continue
            if time is r.time_s:
                time, near = time.copy(), near.copy()
            time[a[better]], near[a[better]] = ta[better], n_st + j
            touched.append(a[better])
        ch = np.unique(np.concatenate(touched)) if touched else np.zeros(0, dtype=np.int64)
        st_after = np.where(near[ch] >= 0, names[np.maximum(near[ch], 0)], None)
        return self._result(action, ch, time[ch], st_after)

    # -- assembling the answer -----------------------------------------------------------
    def _result(self, action, idx, t_after, st_after) -> WhatIfResult:
        r, b = self.reach, self.budget
        idx = np.asarray(idx, dtype=np.int64)
        before = r.time_s[idx]
        diff = ~((before == t_after) | (np.abs(before - t_after) <= EPS_S))
        idx, before, t_after, st_after = idx[diff], before[diff], t_after[diff], np.asarray(st_after, dtype=object)[diff]
        hh = r.households
        cb = self._covered_hh
        was, now = before <= b + EPS_S, t_after <= b + EPS_S
        ca = cb + int(hh[idx][now & ~was].sum()) - int(hh[idx][was & ~now].sum())
        changed = pd.DataFrame({"dwelling": idx, "time_before_s": before, "time_after_s": t_after,
                                "station_after": st_after})
        per_grid = pd.DataFrame(columns=["grid_code", "covered_before", "covered_after", "delta"])
        flip = was != now
        if self.grid_codes is not None and flip.any():
            gi = self._grid_inv[idx[flip]]
            w = (np.where(now[flip], 1, -1) * hh[idx[flip]])[gi >= 0]
            u, inv = np.unique(gi[gi >= 0], return_inverse=True)  # only the grids that changed
            delta = np.bincount(inv, weights=w, minlength=u.size).astype(np.int64)
            cbg = self._grid_cov[u]
            order = np.argsort(self._grid_u[u].astype(str), kind="stable")  # by code, as a groupby gives
            per_grid = pd.DataFrame({"grid_code": self._grid_u[u][order],
                                     "covered_before": cbg[order], "covered_after": (cbg + delta)[order],
                                     "delta": delta[order]})
        res = WhatIfResult(action=action, budget_s=b, covered_before=cb, covered_after=ca, changed=changed,
                           per_grid=per_grid)
        if self.gaps is not None and flip.any():
            res.gaps_removed, res.gaps_added = self._regap(idx[flip], now[flip], t_after[flip], st_after[flip])
        return res

    def _regap(self, dw, now_cov, t_after, st_after):
        """Re-cluster only the gaps touched by the dwellings that flipped."""
        r, gp = self.reach, self.gaps
        lab = gp.label
        if self._unc_tree is None:
            self._unc = np.flatnonzero(lab >= 0)
            self._unc_tree = cKDTree(r.dwelling_xy[self._unc]) if self._unc.size else None
        touched = set(lab[dw[now_cov]][lab[dw[now_cov]] >= 0].tolist())
        new_unc = dw[~now_cov]
        if new_unc.size and self._unc_tree is not None:
            near = self._unc_tree.query_ball_point(r.dwelling_xy[new_unc], gp.link_m)
            touched |= {int(lab[self._unc[j]]) for lst in near for j in lst}
        touched_ids = np.array(sorted(touched), dtype=np.int64)
        members = np.flatnonzero(np.isin(lab, touched_ids)) if touched_ids.size else np.zeros(0, dtype=np.int64)
        members = np.union1d(np.setdiff1d(members, dw[now_cov]), new_unc)
        time = r.time_s.copy()
        nearest = r.nearest.copy()
        ids = list(r.station_ids)
        pos = {sid: i for i, sid in enumerate(ids)}
        for sid in st_after:  # the new stations (a moved one keeps its place)
            if sid is not None and sid not in pos:
                pos[sid] = len(ids)
                ids.append(sid)
        time[dw] = t_after
        nearest[dw] = [pos.get(s, -1) if s is not None else -1 for s in st_after]
        labels = cluster(r.dwelling_xy[members], gp.link_m)
        start = int(gp.frame["gap_id"].max()) + 1 if len(gp.frame) else 0
        df = gap_rows(r.crs, r.dwelling_xy, r.households, time, nearest, np.array(ids, dtype=object),
                      self.grid_codes, members, labels, gp.pad_m, start_id=start)
        return touched_ids.tolist(), rank_gaps(df, r.crs)
