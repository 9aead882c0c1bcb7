"""Issue 18: a county's street network and dwelling snap are kept across restarts (in the data
directory, keyed on the database and its data versions), and a street edit invalidates them."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from api.coverage import CoverageParams, CoverageService
from api.imports import import_frame
from api.jurisdiction import EVERYWHERE
from api.settings import Settings
from geo.sample import make_regions

A, B = "320281", "320282"
LAYERS = ("areas", "grids", "streets", "stations", "dwellings")


@pytest.fixture(scope="module")
def two():
    return make_regions(2, [1500, 1200], seed=5, incidents=0, first_code=A)


def _load(engine, layers):
    settings = Settings()
    with engine.begin() as conn:
        for layer in LAYERS:
            import_frame(conn, layer, layers[layer], settings)


def _rows(run):
    return run.tables["grid"].sort_values("code").reset_index(drop=True)


def test_networks_and_snaps_survive_a_restart_until_a_street_changes(engine, db, two, tmp_path):
    _load(engine, two)
    store = tmp_path / "store"
    first = CoverageService(engine, warm_polygons=False, store_dir=store)
    a = first.run(EVERYWHERE, CoverageParams(region=A))
    assert (first.stats["networks_built"], first.stats["snaps"], first.stats["networks_loaded"]) == (1, 1, 0)
    assert sorted(p.name.split("-")[0] for p in store.glob("*.pkl")) == ["network", "no_street", "snap"]

    # a new process on the same data: nothing built, the same answer
    again = CoverageService(engine, warm_polygons=False, store_dir=store)
    b = again.run(EVERYWHERE, CoverageParams(region=A))
    assert (again.stats["networks_built"], again.stats["snaps"]) == (0, 0)
    assert (again.stats["networks_loaded"], again.stats["snaps_loaded"], again.stats["no_streets_loaded"]) == (1, 1, 1)
    assert b.net.fingerprint == a.net.fingerprint
    pd.testing.assert_frame_equal(_rows(b), _rows(a))
    # the other county is its own key: built, not read from A's files
    again.run(EVERYWHERE, CoverageParams(region=B))
    assert again.stats["networks_built"] == 1

    # a street edit (A's longest street removed through the load path: a new version of streets)
    s = two["streets"]
    keep = s[s["region_code"] == A]
    keep = keep.drop(index=keep.to_crs(4549).length.idxmax())
    with engine.begin() as conn:
        conn.exec_driver_sql(f"DELETE FROM streets WHERE region_code = '{A}'")
        import_frame(conn, "streets", keep.reset_index(drop=True), Settings())
    edited = CoverageService(engine, warm_polygons=False, store_dir=store)
    c = edited.run(EVERYWHERE, CoverageParams(region=A))
    assert (edited.stats["networks_built"], edited.stats["networks_loaded"], edited.stats["snaps_loaded"]) == (1, 0, 0)
    assert c.net.n_edges < a.net.n_edges
    # the answer after the edit is the one computed without any store
    plain = CoverageService(engine, warm_polygons=False).run(EVERYWHERE, CoverageParams(region=A))
    assert c.net.fingerprint == plain.net.fingerprint
    pd.testing.assert_frame_equal(_rows(c), _rows(plain))


def test_an_unreadable_file_is_computed_again(engine, db, two, tmp_path):
    _load(engine, two)
    store = tmp_path / "store"
    CoverageService(engine, warm_polygons=False, store_dir=store).run(EVERYWHERE, CoverageParams(region=B))
    for p in store.glob("*.pkl"):
        p.write_bytes(b"not a pickle")
    svc = CoverageService(engine, warm_polygons=False, store_dir=store)
    svc.run(EVERYWHERE, CoverageParams(region=B))
    assert (svc.stats["networks_built"], svc.stats["snaps"], svc.stats["networks_loaded"]) == (1, 1, 0)
    again = CoverageService(engine, warm_polygons=False, store_dir=store)
    again.run(EVERYWHERE, CoverageParams(region=B))
    assert (again.stats["networks_loaded"], again.stats["snaps_loaded"]) == (1, 1)


def test_a_key_names_the_same_file_in_every_process(tmp_path):
    """A scope's county codes are a frozenset, whose order changes with each process's string
    hashing: the file name of a key must not."""
    import subprocess
    import sys

    code = ("from api.coverage.store import DiskStore; "
            f"print(DiskStore({str(tmp_path)!r}).path('network', (frozenset({{'320281', '320282', '320283'}}), 'walk')).name)")
    names = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            env={"PYTHONHASHSEED": str(seed), "PATH": ""}, cwd=str(Path(__file__).parents[3])).stdout
             for seed in (1, 2, 3)}
    assert len(names) == 1 and names.pop().startswith("network-")
