"""Binning, cell-size budget and the kernel density raster against brute-force computations."""

import h3
import numpy as np
import pytest
from pyproj import Transformer

from geo.crs import metric_crs
from geo.incidents import bin_points, choose_cell_size, h3_counts, kde_raster
from geo.errors import InvalidInput

RNG = np.random.default_rng(3)
LON = 120.28 + RNG.normal(0, 0.02, 5000)
LAT = 31.91 + RNG.normal(0, 0.015, 5000)


def test_bins_conserve_weight_and_match_brute_force():
    frame = RNG.integers(0, 4, len(LON))
    w = RNG.uniform(0.5, 2, len(LON))
    b = bin_points(LON, LAT, w, cell_m=500, frame=frame)
    assert b.weight.sum() == pytest.approx(w.sum())
    x, y = Transformer.from_crs(4326, metric_crs(120.28, 31.91), always_xy=True).transform(LON, LAT)
    brute = {}
    for f, xi, yi, wi in zip(frame, x, y, w):
        key = (f, int(np.floor(xi / 500)), int(np.floor(yi / 500)))
        brute[key] = brute.get(key, 0) + wi
    assert len(b) == len(brute)
    bx, by = Transformer.from_crs(4326, metric_crs(120.28, 31.91), always_xy=True).transform(b.lon, b.lat)
    for f, cx, cy, wt in zip(b.frame, bx, by, b.weight):
        key = (f, int(np.floor(cx / 500)), int(np.floor(cy / 500)))  # centres map back into their cell
        assert brute[key] == pytest.approx(wt)


@pytest.mark.parametrize("budget", [50, 400, 3000])
def test_cell_size_keeps_the_budget_and_is_the_smallest(budget):
    frame = RNG.integers(0, 12, len(LON))
    cell = choose_cell_size(LON, LAT, budget=budget, frame=frame, start_m=50)
    assert len(bin_points(LON, LAT, cell_m=cell, frame=frame)) <= budget
    if cell > 50:
        assert len(bin_points(LON, LAT, cell_m=cell / 2, frame=frame)) > budget
    with pytest.raises(InvalidInput):
        choose_cell_size(LON, LAT, budget=5, frame=frame)


def test_kde_raster_matches_sum_of_gaussians():
    lon, lat = LON[:300], LAT[:300]
    dens, (xmin, ymin, xmax, ymax), crs = kde_raster(lon, lat, cell_m=20, bandwidth_m=200)
    assert dens.sum() * 20 * 20 == pytest.approx(300, rel=1e-3)
    x, y = Transformer.from_crs(4326, crs, always_xy=True).transform(lon, lat)
    ny, nx = dens.shape
    for r, c in [(ny // 2, nx // 2), (ny // 3, nx // 2 + 7), (ny // 2 + 11, nx // 4)]:
        cx, cy = xmin + (c + 0.5) * 20, ymin + (r + 0.5) * 20
        # points are binned to cell centres before smoothing: compare with the binned positions
        bx = xmin + (np.floor((x - xmin) / 20) + 0.5) * 20
        bybin = ymin + (np.floor((y - ymin) / 20) + 0.5) * 20
        d2 = (bx - cx) ** 2 + (bybin - cy) ** 2
        brute = np.exp(-d2 / (2 * 200 ** 2)).sum() / (2 * np.pi * 200 ** 2)
        assert dens[r, c] == pytest.approx(brute, rel=0.01, abs=1e-12)


def test_h3_counts_match_per_point_cells():
    df = h3_counts(LON[:500], LAT[:500], resolution=8)
    brute = {}
    for a, b in zip(LON[:500], LAT[:500]):
        c = h3.latlng_to_cell(b, a, 8)
        brute[c] = brute.get(c, 0) + 1
    assert dict(zip(df.cell, df["count"])) == brute
    assert np.allclose(df.lat, [h3.cell_to_latlng(c)[0] for c in df.cell])
