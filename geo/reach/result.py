"""The result of a reach computation: :class:`Reach`, and the budget and fallback constants.

Every time here is seconds along the street network of a :class:`geo.network.Network`; every
``xy`` is metres in that network's metric CRS (``Reach.crs``).  Built by
:func:`geo.reach.compute_reach`; part of :mod:`geo.reach` (import from there).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from geo.snap import STATUS_NAMES, Snap

#: Tolerance (seconds) of every budget comparison: covered means ``time <= budget + EPS_S``.
EPS_S = 1e-6
#: Straight-line fallback: network distance is taken as straight distance times this factor
#: (a common urban detour/circuity factor, 1.2-1.4 in the literature).
DETOUR_FACTOR = 1.3

METHODS = ("network", "straight_line", "unreachable")


@dataclass
class Reach:
    """Result of :func:`geo.reach.compute_reach` for one set of stations and dwellings.

    Attributes
    ----------
    breaks_s : tuple of float
        Time budgets evaluated, seconds, ascending.
    limit_s : float
        Search limit, seconds (times above it are ``inf``).
    station_ids : ndarray of object
        ``source_id`` (or row label) of each counted station; ``nearest`` indexes this.
    station_kind : ndarray of object
    station_xy : ndarray (s, 2)
        Station positions, metres in the network CRS.
    station_snap, dwelling_snap : Snap
    households : ndarray of int
    dwelling_xy : ndarray (k, 2)
    time_s : ndarray of float
        Each dwelling's time to its nearest station, seconds; ``inf`` if none within the limit.
    nearest : ndarray of int
        Index of that station into ``station_ids``; ``-1`` if none.
    method : ndarray of object
        ``"network"``, ``"straight_line"`` (fallback region) or ``"unreachable"`` (snap failed).
    node_time, node_nearest : ndarray
        The node-level multi-source result (kept for what-if and service areas).
    """

    net_fingerprint: str
    breaks_s: tuple[float, ...]
    limit_s: float
    station_ids: np.ndarray
    station_kind: np.ndarray
    station_xy: np.ndarray
    station_snap: Snap
    dwelling_snap: Snap
    households: np.ndarray
    dwelling_xy: np.ndarray
    time_s: np.ndarray
    nearest: np.ndarray
    method: np.ndarray
    node_time: np.ndarray
    node_nearest: np.ndarray
    fallback: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    detour_factor: float = DETOUR_FACTOR
    fallback_speed_mps: float = 0.0
    crs: object = None  # the network's metric CRS (pyproj.CRS) of every xy here
    fallback_geom: object = None  # union of the fallback regions, metric CRS (shapely geometry or None)

    def covered(self, budget_s: float | None = None) -> np.ndarray:
        """Dwellings covered within ``budget_s`` (default the first break): ``time <= budget + EPS_S``."""
        b = self.breaks_s[0] if budget_s is None else budget_s
        return self.time_s <= b + EPS_S

    def band(self) -> np.ndarray:
        """Index of the first break each dwelling falls within (``len(breaks)`` when none)."""
        return np.searchsorted(np.asarray(self.breaks_s) + EPS_S, self.time_s, side="left")

    def dwellings_frame(self) -> pd.DataFrame:
        """Per dwelling: ``time_s, nearest_station, method, snap_status, access_m`` (input row order)."""
        near = np.where(self.nearest >= 0, self.station_ids[np.maximum(self.nearest, 0)], None)
        return pd.DataFrame({
            "time_s": self.time_s, "nearest_station": near, "method": self.method,
            "snap_status": [STATUS_NAMES[s] for s in self.dwelling_snap.status],
            "access_m": self.dwelling_snap.dist_m,
        })

    def unsnapped_stations(self) -> pd.DataFrame:
        """Stations that could not be attached to the network (too far from a usable street)."""
        bad = np.flatnonzero(~self.station_snap.ok)
        return pd.DataFrame({"station": self.station_ids[bad],
                             "reason": [STATUS_NAMES[s] for s in self.station_snap.status[bad]]})



def concat_reaches(reaches: list[Reach], union) -> Reach:
    """Reaches computed part by part (one region each, on the parts of ``union``, a
    :func:`geo.network.union_networks`, in the same order) as one :class:`Reach` on ``union``.

    Stations and dwellings are numbered part after part; ``nearest`` and ``node_nearest`` index
    the concatenated stations, snaps the union's edges.  Every time is the part's own: no
    station of one part reaches a dwelling of another.
    """
    if len(reaches) == 1:
        return reaches[0]
    import shapely

    first = reaches[0]
    if any(r.breaks_s != first.breaks_s or r.limit_s != first.limit_s for r in reaches):
        raise ValueError("reaches to concatenate must share breaks and search limit")
    s_off = np.concatenate([[0], np.cumsum([len(r.station_ids) for r in reaches])])
    e_off = union.part_edges
    cat = np.concatenate

    def shift(a, o):
        return np.where(a >= 0, a + o, -1).astype(np.int64)

    geoms = [r.fallback_geom for r in reaches if r.fallback_geom is not None]
    speeds = {round(float(r.fallback_speed_mps), 9) for r in reaches if r.fallback.any()}
    return Reach(
        net_fingerprint=union.fingerprint, breaks_s=first.breaks_s, limit_s=first.limit_s,
        station_ids=cat([r.station_ids for r in reaches]).astype(object),
        station_kind=cat([r.station_kind for r in reaches]).astype(object),
        station_xy=np.vstack([r.station_xy.reshape(-1, 2) for r in reaches]),
        station_snap=Snap.concat([r.station_snap.shifted(e_off[i]) for i, r in enumerate(reaches)]),
        dwelling_snap=Snap.concat([r.dwelling_snap.shifted(e_off[i]) for i, r in enumerate(reaches)]),
        households=cat([r.households for r in reaches]),
        dwelling_xy=np.vstack([r.dwelling_xy.reshape(-1, 2) for r in reaches]),
        time_s=cat([r.time_s for r in reaches]),
        nearest=cat([shift(r.nearest, s_off[i]) for i, r in enumerate(reaches)]),
        method=cat([r.method for r in reaches]).astype(object),
        node_time=cat([r.node_time for r in reaches]),
        node_nearest=cat([shift(r.node_nearest, s_off[i]) for i, r in enumerate(reaches)]),
        fallback=cat([r.fallback if r.fallback.size == len(r.time_s) else np.zeros(len(r.time_s), dtype=bool)
                      for r in reaches]),
        detour_factor=first.detour_factor,
        # one speed is reported; parts only differ in it for drive networks of different road speeds
        fallback_speed_mps=max(speeds) if speeds else first.fallback_speed_mps,
        crs=first.crs, fallback_geom=shapely.union_all(geoms) if geoms else None,
    )
