"""Gi* against a brute-force numpy formula on a small lattice; FDR; the minimum-count guard."""

import geopandas as gpd
import h3
import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm
from shapely.geometry import box

from geo.errors import InvalidInput
from geo.incidents import benjamini_hochberg, gi_star, h3_neighbours, h3_study_area, queen_neighbours


def _lattice(n: int) -> gpd.GeoDataFrame:
    cells = [(f"r{r}c{c}", box(c, r, c + 1, r + 1)) for r in range(n) for c in range(n)]
    return gpd.GeoDataFrame({"code": [c for c, _ in cells]}, geometry=[g for _, g in cells], crs=3857)


def _brute_gi_star(y: np.ndarray, adj: np.ndarray) -> np.ndarray:
    """Getis & Ord (1992) / Ord & Getis (1995) Gi* with binary weights including i itself."""
    n = len(y)
    W = adj.astype(float).copy()
    np.fill_diagonal(W, 1.0)
    xbar = y.mean()
    s = np.sqrt((y ** 2).mean() - xbar ** 2)
    sw, sw2 = W.sum(1), (W ** 2).sum(1)
    return (W @ y - xbar * sw) / (s * np.sqrt((n * sw2 - sw ** 2) / (n - 1)))


def test_gi_star_matches_brute_force_on_a_lattice():
    n = 7
    units = _lattice(n)
    rng = np.random.default_rng(5)
    y = rng.poisson(4, n * n).astype(float)
    y[[24, 25, 31, 32]] += 25  # a cluster
    counts = pd.Series(y, index=units.code)
    res = gi_star(counts, queen_neighbours(units, "code"))
    adj = np.zeros((n * n, n * n))
    for i in range(n * n):  # queen adjacency by index arithmetic, independent of libpysal
        ri, ci = divmod(i, n)
        for j in range(n * n):
            rj, cj = divmod(j, n)
            if i != j and abs(ri - rj) <= 1 and abs(ci - cj) <= 1:
                adj[i, j] = 1
    z = _brute_gi_star(y, adj)
    assert np.allclose(res.z.to_numpy(), z, atol=1e-10)
    assert np.allclose(res.p.to_numpy(), 2 * norm.sf(np.abs(z)))
    assert res.loc["r3c3", "bin"] == 3 and res.loc["r3c3", "classification"] == "hot 99%"
    sig = res["bin"] != 0
    assert (np.sign(res.z[sig]) == np.sign(res["bin"][sig])).all()


def test_benjamini_hochberg_against_definition():
    rng = np.random.default_rng(2)
    p = np.concatenate([rng.uniform(0, 0.002, 10), rng.uniform(0, 1, 90)])
    for alpha in (0.01, 0.05, 0.1):
        sig = benjamini_hochberg(p, alpha)
        ps = np.sort(p)
        ks = [k for k in range(1, 101) if ps[k - 1] <= alpha * k / 100]
        cutoff = ps[max(ks) - 1] if ks else -1
        assert (sig == (p <= cutoff)).all()


def test_fdr_is_stricter_than_raw_p():
    units = _lattice(9)
    rng = np.random.default_rng(11)
    counts = pd.Series(rng.poisson(6, 81).astype(float), index=units.code)
    nb = queen_neighbours(units, "code")
    assert (gi_star(counts, nb)["bin"] != 0).sum() <= (gi_star(counts, nb, fdr=False)["bin"] != 0).sum()


def test_minimum_count_guard():
    units = _lattice(4)
    counts = pd.Series([1.0] * 16, index=units.code)
    with pytest.raises(InvalidInput, match="too few incidents"):
        gi_star(counts, queen_neighbours(units, "code"))


def test_h3_neighbours_and_study_area():
    c = h3.latlng_to_cell(31.9, 120.3, 8)
    area = h3_study_area(pd.Series({c: 40.0}))
    assert len(area) == 7 and area[c] == 40 and area.sum() == 40
    nb = h3_neighbours(area.index)
    assert sorted(nb[c]) == sorted(x for x in area.index if x != c)
