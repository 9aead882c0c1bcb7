"""``gridmap site``: the printed sites and gain table are the service's answer; --out files read back
with real clients (pyogrio, openpyxl); a candidates file; closing."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import openpyxl
import pyogrio
import pytest

from api.coverage import CoverageService
from api.jurisdiction import EVERYWHERE
from api.siting import SitingParams, SitingService
from tests.support.cli import run_cli


@pytest.fixture(scope="module")
def expected(engine, world):
    svc = SitingService(CoverageService(engine, warm_polygons=False))
    return svc, svc.propose(EVERYWHERE, SitingParams(k=3))


def test_site_add_prints_sites_and_gain_table(pg_url, monkeypatch, expected, tmp_path):
    _, p = expected
    out = tmp_path / "plan.gpkg"
    r = run_cli(pg_url, monkeypatch, ["site", "--add", "3", "--out", str(out)])
    assert r.exit_code == 0, r.output
    sites = p.sites()
    for cid in sites["candidate_id"]:
        assert cid in r.output
    assert "gain table" in r.output
    t = p.totals()
    assert f"{t['covered_before']:,} -> {t['covered_after']:,} of {t['households']:,}" in r.output
    layers = {name for name, _ in pyogrio.list_layers(out)}
    assert {"sites", "grids", "communities", "gain_curve", "closures", "service_areas"} <= layers
    got = gpd.read_file(out, layer="sites")
    assert list(got["candidate_id"]) == list(sites["candidate_id"])
    np.testing.assert_allclose(got.geometry.x, sites["lon"], atol=1e-9)
    grids = gpd.read_file(out, layer="grids")
    assert grids["covered_after"].sum() == t["covered_after"]
    sa = gpd.read_file(out, layer="service_areas")
    assert list(sa["candidate_id"]) == list(sites["candidate_id"]) and sa.geometry.is_valid.all()
    # each site lies inside its own service area
    assert all(g.buffer(1e-6).contains(pt) for g, pt in zip(sa.geometry, got.geometry))


def test_site_out_excel_csv_json(pg_url, monkeypatch, expected, tmp_path):
    _, p = expected
    xl = tmp_path / "plan.xlsx"
    assert run_cli(pg_url, monkeypatch, ["site", "--add", "3", "--out", str(xl)]).exit_code == 0
    wb = openpyxl.load_workbook(xl, read_only=True)
    assert {"sites", "grids", "communities", "gain_curve", "closures"} <= set(wb.sheetnames)
    rows = list(wb["sites"].iter_rows(values_only=True))
    assert [r[rows[0].index("candidate_id")] for r in rows[1:]] == list(p.sites()["candidate_id"])
    js = tmp_path / "plan.json"
    assert run_cli(pg_url, monkeypatch, ["site", "--add", "3", "--out", str(js)]).exit_code == 0
    body = json.loads(js.read_text(encoding="utf-8"))
    assert body["totals"] == p.as_json()["totals"]
    csv = tmp_path / "plan.csv"
    assert run_cli(pg_url, monkeypatch, ["site", "--add", "3", "--out", str(csv)]).exit_code == 0
    assert (tmp_path / "plan_grids.csv").read_bytes().startswith(b"\xef\xbb\xbf")


def test_site_candidates_file(pg_url, monkeypatch, expected, tmp_path):
    svc, p = expected
    # three candidates: the best site of the proposal and two far worse points (existing stations' spots)
    run = p.run
    pts = gpd.GeoDataFrame({"name": ["best", "s1", "s2"]},
                           geometry=gpd.points_from_xy([p.sites()["lon"].iloc[0], *run.counted.geometry.x[:2]],
                                                       [p.sites()["lat"].iloc[0], *run.counted.geometry.y[:2]]),
                           crs=4326)
    f = tmp_path / "cands.geojson"
    pts.to_file(f, driver="GeoJSON")
    r = run_cli(pg_url, monkeypatch, ["site", "--add", "1", "--candidates", str(f)])
    assert r.exit_code == 0, r.output
    assert "best" in r.output and f"{int(p.sites()['gain'].iloc[0]):+,}" in r.output


def test_site_close(pg_url, monkeypatch, expected):
    svc, _ = expected
    want = svc.propose(EVERYWHERE, SitingParams(k=0, close=1))
    r = run_cli(pg_url, monkeypatch, ["site", "--close", "1"])
    assert r.exit_code == 0, r.output
    assert "station(s) closed" in r.output and "least loss" in r.output
    assert str(want.closed()["name"].iloc[0]) in r.output


def test_site_bad_input_names_the_option(pg_url, monkeypatch, world):
    r = run_cli(pg_url, monkeypatch, ["site", "--add", "2", "--model", "nope"])
    assert r.exit_code == 2 and "--model" in r.output
    r = run_cli(pg_url, monkeypatch, ["site", "--add", "2", "--candidates", "nofile.csv"])
    assert r.exit_code == 2 and "--candidates" in r.output
    r = run_cli(pg_url, monkeypatch, ["site", "--add", "2", "--out", "x.txt"])
    assert r.exit_code == 2 and "--out" in r.output


def test_site_what_if_checks_the_whole_proposal(pg_url, monkeypatch, expected):
    """``--what-if`` asks the coverage what-if of every site and closure together: the same figure
    (4 minutes: the sample then needs several sites)."""
    svc, _ = expected
    p = svc.propose(EVERYWHERE, SitingParams(k=3, minutes=4.0))
    t = p.totals()
    assert len(p.sites()) == 3
    r = run_cli(pg_url, monkeypatch, ["site", "--add", "3", "--minutes", "4", "--what-if"])
    assert r.exit_code == 0, r.output
    line = " ".join(r.output.split())
    assert (f"what-if of the whole proposal (3 new sites, 0 closed): {t['covered_before']:,} -> "
            f"{t['covered_after']:,} households covered ({t['newly_covered']:+,}); the proposal: "
            f"{t['newly_covered']:+,}") in line, r.output
    r = run_cli(pg_url, monkeypatch, ["site", "--add", "1", "--close", "2", "--what-if"])
    assert r.exit_code == 0, r.output
    assert "what-if of the whole proposal (1 new sites, 2 closed)" in " ".join(r.output.split()), r.output


def test_site_speaks_chinese(pg_url, monkeypatch, expected):
    """GRIDMAP_LANGUAGE=zh: the tables, the totals and the what-if line come from the catalogue."""
    from api import i18n

    _, p = expected
    monkeypatch.setenv("GRIDMAP_LANGUAGE", "zh")
    r = run_cli(pg_url, monkeypatch, ["site", "--add", "3", "--what-if"])
    assert r.exit_code == 0, r.output
    flat = " ".join(r.output.split())
    t = p.totals()
    for english in ("adds households", "reaches alone", "grids that change"):
        assert i18n.text(english, "zh") != english and i18n.text(english, "zh") in flat, english
    assert f"合计：{t['households']:,} 户中已覆盖 {t['covered_before']:,} -> {t['covered_after']:,}" in flat, r.output
    assert "整体假设分析" in flat and "total:" not in flat, r.output
