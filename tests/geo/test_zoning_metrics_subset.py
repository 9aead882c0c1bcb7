import numpy as np
from tests.support.zoning_cases import lattice_units
from geo.zoning import Partition, grid_metrics
def test_subset_equals_full():
    area, units = lattice_units(4, 5, list(range(1, 21)))
    a = np.array([0]*10 + [1]*10)
    p = Partition(units, a, ["A", "B"], (10, 200))
    full = grid_metrics(p)
    sub = grid_metrics(p, [1])
    for c in full.columns:
        if c in ("label", "status"):
            assert full[c].iloc[1] == sub[c].iloc[0]
        else:
            assert np.isclose(float(full[c].iloc[1]), float(sub[c].iloc[0]), equal_nan=True), c
