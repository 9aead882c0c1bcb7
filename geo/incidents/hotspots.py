"""Getis-Ord Gi* hotspots with a false-discovery-rate correction, as ArcGIS's Optimized Hot Spot
Analysis does it: binary weights including each unit itself, z-scores from esda's ``G_Local``,
two-sided normal p-values, and Benjamini-Hochberg per confidence level (90, 95, 99%).

Units are grids (Queen contiguity on their polygons) or H3 cells (their ring-1 neighbours).
Counts are incidents per unit; the weights are purely topological, so no CRS is involved.
"""

from __future__ import annotations

import warnings

import esda
import geopandas as gpd
import h3
import libpysal
import numpy as np
import pandas as pd
from scipy.stats import norm

from geo.errors import InvalidInput, Problem

LEVELS = ((3, 0.01, "99%"), (2, 0.05, "95%"), (1, 0.10, "90%"))
MIN_INCIDENTS = 30
MIN_UNITS = 5


def benjamini_hochberg(p: np.ndarray, alpha: float) -> np.ndarray:
    """Mask of the p-values significant at false discovery rate ``alpha`` (Benjamini-Hochberg)."""
    p = np.asarray(p, dtype=float)
    ok = np.isfinite(p)
    out = np.zeros(len(p), dtype=bool)
    q = p[ok]
    if len(q) == 0:
        return out
    order = np.argsort(q)
    m = len(q)
    passed = q[order] <= alpha * np.arange(1, m + 1) / m
    if passed.any():
        k = np.flatnonzero(passed).max()
        sig = np.zeros(m, dtype=bool)
        sig[order[: k + 1]] = True
        out[np.flatnonzero(ok)] = sig
    return out


def queen_neighbours(units: gpd.GeoDataFrame, id_col: str) -> dict:
    """Unit id -> ids of the units sharing an edge or a corner with it (libpysal Queen)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # islands are reported by gi_star, not warned about
        w = libpysal.weights.Queen.from_dataframe(units, ids=units[id_col].tolist(), use_index=False)
    return {k: list(v) for k, v in w.neighbors.items()}


def h3_neighbours(cells) -> dict:
    """H3 cell -> its ring-1 neighbours among ``cells``."""
    s = set(cells)
    return {c: [n for n in h3.grid_disk(c, 1) if n != c and n in s] for c in cells}


def h3_study_area(counts: pd.Series) -> pd.Series:
    """Counts per H3 cell extended by the empty ring-1 neighbours of every occupied cell (zeros),
    so that a cluster is compared with its quiet surroundings."""
    cells = set(counts.index)
    for c in list(cells):
        cells.update(h3.grid_disk(c, 1))
    return counts.reindex(sorted(cells), fill_value=0)


def gi_star(counts: pd.Series, neighbours: dict, *, min_incidents: int = MIN_INCIDENTS,
            fdr: bool = True) -> pd.DataFrame:
    """Getis-Ord Gi* of ``counts`` (index: unit ids) over the ``neighbours`` graph.

    Parameters
    ----------
    counts : pandas.Series
        Incidents per unit (zeros included: units without incidents matter).
    neighbours : dict
        Unit id -> neighbouring unit ids (the unit itself is added: Gi*).
    min_incidents : int
        Fewer incidents in all raise :class:`InvalidInput` (the minimum-count guard; ArcGIS asks 30).
    fdr : bool
        Correct for multiple testing with Benjamini-Hochberg at each confidence level.

    Returns
    -------
    DataFrame indexed by unit: ``count``, ``z``, ``p`` (two-sided), ``bin`` (-3..3: cold/hot at
    99/95/90%), ``classification`` ("hot 99%", "cold 95%", "not significant").  Units without
    neighbours get NaN z and p and bin 0.
    """
    y = counts.astype(float)
    total = y.sum()
    if total < min_incidents:
        raise InvalidInput("too few incidents for a hotspot analysis", [Problem(
            f"{int(total)} incidents; at least {min_incidents} are needed (widen the time window or area)")])
    if len(y) < MIN_UNITS:
        raise InvalidInput("too few units for a hotspot analysis",
                           [Problem(f"{len(y)} units; at least {MIN_UNITS} are needed")])
    ids = list(y.index)
    nb = {i: [j for j in neighbours.get(i, []) if j in counts.index and j != i] for i in ids}
    connected = np.array([len(nb[i]) > 0 for i in ids])
    z = np.full(len(ids), np.nan)
    if connected.sum() >= MIN_UNITS and y[connected].var() > 0:
        sub = [i for i, c in zip(ids, connected) if c]
        w = libpysal.weights.W({i: nb[i] for i in sub}, silence_warnings=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            g = esda.G_Local(y[sub].to_numpy(), w, transform="B", star=True, permutations=0)
        z[connected] = g.Zs
    p = 2 * norm.sf(np.abs(z))
    bins = np.zeros(len(ids), dtype=int)
    for level, alpha, _ in reversed(LEVELS):  # 90% first, overwritten by stronger levels
        sig = benjamini_hochberg(p, alpha) if fdr else (np.nan_to_num(p, nan=1.0) <= alpha)
        bins[sig] = level * np.sign(z[sig]).astype(int)
    names = {0: "not significant"}
    for level, _, label in LEVELS:
        names[level] = f"hot {label}"
        names[-level] = f"cold {label}"
    return pd.DataFrame({"count": y.to_numpy(), "z": z, "p": p, "bin": bins,
                         "classification": [names[b] for b in bins]}, index=pd.Index(ids, name=counts.index.name))
