"""Issue 18 §3: every county's coverage as a Dask task (LocalCluster, threads to stay fast), each
stored in coverage_runs as a one-county run is, a failing county reported while the others complete."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from api.coverage import CoverageParams, CoverageService
from api.coverage.regions import region_codes, run_regions
from api.imports import import_frame
from api.jurisdiction import EVERYWHERE
from api.settings import Settings
from geo.sample import make_regions
from tests.support.cli import run_cli

A, B, C = "320281", "320282", "320283"


@pytest.fixture(scope="module")
def three():
    return make_regions(3, [600, 900, 300], seed=5, incidents=0, first_code=A)


@pytest.fixture
def loaded(engine, db, three):
    """A and B complete; C without its streets (its coverage must fail, naming it)."""
    with engine.begin() as conn:
        for code in (A, B, C):
            for layer in ("areas", "grids", "streets", "stations", "dwellings"):
                if code == C and layer == "streets":
                    continue
                f = three[layer]
                import_frame(conn, layer, f[f["region_code"] == code].reset_index(drop=True), Settings())
    return three


def test_dask_runs_every_county_and_reports_the_failing_one(engine, loaded, settings):
    codes = region_codes(engine, EVERYWHERE)
    assert codes == [A, B, C]
    seen = []
    url = engine.url.render_as_string(hide_password=False)
    p = CoverageParams(minutes=8.0)
    res = run_regions(url, settings, p, codes, workers=2, processes=False, progress=seen.append)
    assert sorted(r.region for r in seen) == codes
    by = {r.region: r for r in res}
    assert by[C].error and "no streets" in by[C].error and C in by[C].error and by[C].run_id is None
    svc = CoverageService.from_settings(engine, settings, warm_polygons=False)  # independent, in this process
    for code in (A, B):
        r = by[code]
        assert r.error is None and r.run_id is not None
        alone = svc.run(EVERYWHERE, CoverageParams(minutes=8.0, region=code, at=p.at))
        assert (r.households, r.covered_households) == (alone.totals["households"], alone.totals["covered_households"])
        with engine.connect() as conn:
            stored = conn.execute(text("SELECT params, summary FROM coverage_runs WHERE id = :i"), {"i": r.run_id}).one()
        assert stored.params["region"] == code
        assert stored.summary["totals"] == alone.summary()["totals"]
        assert stored.summary["levels"] == alone.summary()["levels"]


def test_cli_all_regions(engine, loaded, pg_url, monkeypatch):
    res = run_cli(pg_url, monkeypatch, ["coverage", "--all-regions", "--workers", "2", "--threads"])
    assert res.exit_code == 1, res.output  # C failed
    assert A in res.output and B in res.output and "2 of 3 counties computed and stored" in res.output
    assert f"1 failed: {C}" in res.output
    with engine.connect() as conn:
        regions = set(conn.execute(text("SELECT params->>'region' FROM coverage_runs")).scalars())
    assert {A, B} <= regions
