"""Every notebook in notebooks/ runs top to bottom (nbclient, this interpreter's kernel) against the
test database, and the figures it writes equal the engine's, computed here from the sample file with
``geo`` alone (no database, no service).

The notebooks open the database with ``api.notebook.open_database()``: here ``GRIDMAP_DATABASE_URL``
points it at the session's PostGIS, emptied first so that the first notebook loads the sample district
as an analyst's first run does.  Each notebook writes its key figures as JSON into
``GRIDMAP_NOTEBOOK_OUT``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import geopandas as gpd
import nbformat
import pytest
from nbclient import NotebookClient
from sqlalchemy import text

from tests.support.db import truncate

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
SAMPLE = ROOT / "data" / "boundaries" / "sample_district.gpkg"
BUDGET_S = 480.0


@pytest.fixture(scope="session")
def kernel_name(tmp_path_factory) -> str:
    """A kernel spec for the running interpreter (the venv), installed into a throwaway prefix."""
    from ipykernel.kernelspec import install

    prefix = tmp_path_factory.mktemp("kernels")
    install(kernel_name="gridmap-test", prefix=str(prefix))
    os.environ["JUPYTER_PATH"] = str(prefix / "share" / "jupyter") + os.pathsep + os.environ.get("JUPYTER_PATH", "")
    return "gridmap-test"


@pytest.fixture(scope="module")
def notebook_env(pg_url, engine, tmp_path_factory):
    """The kernels' environment: this checkout on the path, the test database (emptied), an output dir."""
    truncate(engine)
    out = tmp_path_factory.mktemp("notebook-out")
    from tests.support.db import SESSION

    env = {"GRIDMAP_DATABASE_URL": pg_url, "GRIDMAP_OWNER_DATABASE_URL": SESSION["owner"], "GRIDMAP_NOTEBOOK_OUT": str(out),
           "PYTHONPATH": os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    yield out
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture(scope="module")
def reference():
    """The sample district's coverage and siting answers from ``geo`` alone."""
    from geo.network import build_network
    from geo.reach import compute_reach

    layers = {n: gpd.read_file(SAMPLE, layer=n) for n in ("streets", "stations", "dwellings", "grids")}
    net = build_network(layers["streets"], "walk")
    st = layers["stations"].copy()
    st["source_id"] = st["source_id"].astype(str)
    reach = compute_reach(net, st, layers["dwellings"], breaks_s=(BUDGET_S,))
    return layers, net, st, reach


def test_there_are_notebooks():
    assert {p.name for p in NOTEBOOKS} >= {"station_siting.ipynb", "station_closure.ipynb", "coverage_gaps.ipynb"}


def test_notebooks_are_stored_without_outputs():
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        assert all(not c.get("outputs") and c.get("execution_count") is None
                   for c in nb.cells if c.cell_type == "code"), path.name


def _execute(path: Path, kernel_name: str) -> nbformat.NotebookNode:
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=180, kernel_name=kernel_name, allow_errors=False,
                            resources={"metadata": {"path": str(path.parent)}})
    client.execute()  # raises CellExecutionError on the first failing cell
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
    return nb


def _maps_and_plots(nb) -> tuple[int, int]:
    maps = plots = 0
    for c in nb.cells:
        for o in c.get("outputs", []):
            data = o.get("data", {})
            maps += "srcdoc" in data.get("text/html", "") and "leaflet" in data.get("text/html", "").lower()
            plots += "image/png" in data
    return maps, plots


def _check_siting(out: Path, ref, nb) -> None:
    from geo.siting import from_frames, gap_node_candidates, mclp

    layers, net, st, reach = ref
    fig = json.loads((out / "station_siting.json").read_text(encoding="utf-8"))
    hh = layers["dwellings"]["households"].to_numpy()
    cov = reach.covered(BUDGET_S)
    assert fig["households"] == hh.sum() and fig["covered_now"] == hh[cov].sum()
    cands = gap_node_candidates(net, layers["dwellings"], cov, budget_s=BUDGET_S)
    m = from_frames(net, layers["dwellings"], cands, st, budget_s=BUDGET_S)
    base = float(hh[cov].sum())
    for row in fig["curve"]:
        exact = mclp(m, row["k"])
        greedy = mclp(m, row["k"], method="greedy")
        assert exact.status == "optimal"
        assert row["covered"] == pytest.approx(base + exact.objective)
        assert row["greedy_covered"] == pytest.approx(base + greedy.objective)
        assert row["greedy_covered"] <= row["covered"]
    k = fig["K"]
    assert fig["covered_after"] == pytest.approx(base + mclp(m, k).objective)
    assert len(fig["sites"]) <= k
    assert (out / "station_siting.gpkg").is_file() and (out / "station_siting.xlsx").is_file()
    assert _maps_and_plots(nb) >= (2, 1)


def _check_closure(out: Path, ref, engine) -> None:
    from geo.siting import closure_losses, from_frames, mclp

    layers, net, st, reach = ref
    fig = json.loads((out / "station_closure.json").read_text(encoding="utf-8"))
    m = from_frames(net, layers["dwellings"], st.iloc[:1], st, budget_s=BUDGET_S)  # one (unused) candidate
    want = closure_losses(m).set_index("station")["lost_households"]
    with engine.connect() as conn:
        src = dict(conn.execute(text("SELECT id, source_id FROM stations")).all())
    got = {src[r["station_id"]]: r["lost_households"] for r in fig["ranking"]}
    assert got == {k: float(v) for k, v in want.items()}
    hh = layers["dwellings"]["households"].to_numpy()
    for row in fig["closures"]:
        best = mclp(m, 0, existing="closable", close=row["close"])
        assert row["lost_households"] == pytest.approx(hh[reach.covered(BUDGET_S)].sum() - best.objective)


def _check_gaps(out: Path, ref) -> None:
    from geo.coverage import assign_to_grids, coverage_table
    from geo.gaps import find_gaps

    layers, net, st, reach = ref
    fig = json.loads((out / "coverage_gaps.json").read_text(encoding="utf-8"))
    hh = layers["dwellings"]["households"].to_numpy()
    assert fig["covered"] == hh[reach.covered(BUDGET_S)].sum()
    codes = assign_to_grids(layers["dwellings"], layers["grids"])
    gaps = find_gaps(reach, budget_s=BUDGET_S, net=net, grid_codes=codes["grid_code"].to_numpy(dtype=object))
    assert fig["gaps"] == len(gaps.frame)
    grids = coverage_table(reach, codes, "grid", budget_s=BUDGET_S)
    assert fig["short_grids"] == int((grids["uncovered_households"] > 0).sum())
    assert 0 < fig["best_gap_gain"] <= hh[~reach.covered(BUDGET_S)].sum()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs(path, kernel_name, notebook_env, reference, engine):
    nb = _execute(path, kernel_name)
    check = {"station_siting.ipynb": lambda: _check_siting(notebook_env, reference, nb),
             "station_closure.ipynb": lambda: _check_closure(notebook_env, reference, engine),
             "coverage_gaps.ipynb": lambda: _check_gaps(notebook_env, reference)}.get(path.name)
    if check is not None:
        check()
