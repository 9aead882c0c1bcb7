"""Service stations of the sample district (local metres; see :mod:`geo.sample.layout`).

Per community, as the domain prescribes: 1 party-mass service centre + 3 grid pioneer stations +
10 neighbourhood points.  They stand 8 m off a street beside populated places: the centre nearest
the community's household-weighted middle, a grid station in the middle of each of three grids,
neighbourhood points spread (best candidate) over dwellings drawn by household weight.  The
community's fringe (the outer ~30% of village dwellings, ~15% of urban ones, by distance from the
middle) gets no station, so the sample has real gaps in the 8-minute circle.
"""

from __future__ import annotations

import numpy as np
import shapely

KINDS = ("service_centre",) + ("grid_station",) * 3 + ("neighbourhood_point",) * 10


def _spread(rng, x, y, w, pool, fixed, n):
    """``n`` dwellings of ``pool`` far from each other and from ``fixed`` (best candidate)."""
    chosen = list(fixed)
    for _ in range(n):
        free = np.setdiff1d(pool, chosen) if len(pool) > len(chosen) else pool
        cand = rng.choice(free, min(len(free), 12), replace=False, p=w[free] / w[free].sum())
        d = np.hypot(x[cand, None] - x[None, chosen], y[cand, None] - y[None, chosen]).min(axis=1)
        chosen.append(int(cand[np.argmax(d)]))
    return chosen[len(fixed):]


def pick_stations(rng, dw: dict, grid_of: np.ndarray, grid_comm: np.ndarray, n_comm: int) -> np.ndarray:
    """Dwelling index beside each station, 14 per community in :data:`KINDS` order."""
    x, y, w = dw["x"], dw["y"], dw["households"].astype(float)
    order = np.argsort(dw["community"], kind="stable")
    starts = np.searchsorted(dw["community"][order], np.arange(n_comm + 1))
    picks = []
    for c in range(n_comm):
        m = order[starts[c]:starts[c + 1]]
        cx, cy = np.average(x[m], weights=w[m]), np.average(y[m], weights=w[m])
        d = np.hypot(x[m] - cx, y[m] - cy)
        urban = dw["type"][m[0]] == "apartments"
        core = m[d <= np.quantile(d, 0.85 if urban else 0.7)]
        centre = int(m[np.argmin(d)])
        grid_st = []
        for g in np.flatnonzero(grid_comm == c)[:3]:
            gm = m[grid_of[m] == g]
            gx, gy = np.average(x[gm], weights=w[gm]), np.average(y[gm], weights=w[gm])
            gm = np.setdiff1d(gm, [centre] + grid_st)
            if len(gm):
                grid_st.append(int(gm[np.argmin(np.hypot(x[gm] - gx, y[gm] - gy))]))
        grid_st += _spread(rng, x, y, w, core, [centre] + grid_st, 3 - len(grid_st))
        points = _spread(rng, x, y, w, core, [centre] + grid_st, 10)
        picks.extend([centre] + grid_st + points)
    return np.array(picks)


def station_points(dw: dict, at: np.ndarray, coords: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Station positions (m): 8 m from the street edge the dwelling ``at`` stands on, towards it."""
    x, y, e = dw["x"][at], dw["y"][at], dw["edge"][at]
    has = e >= 0
    lines = shapely.linestrings(coords[np.where(has, e, 0)])
    pts = shapely.points(x, y)
    foot = shapely.get_coordinates(shapely.line_interpolate_point(lines, shapely.line_locate_point(lines, pts)))
    d = np.column_stack([x, y]) - foot
    ln = np.maximum(np.hypot(d[:, 0], d[:, 1]), 1e-9)
    sx, sy = foot[:, 0] + 8 * d[:, 0] / ln, foot[:, 1] + 8 * d[:, 1] / ln
    return np.where(has, sx, x), np.where(has, sy, y)
