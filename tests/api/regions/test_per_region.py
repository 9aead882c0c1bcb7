"""Issue 18 §1: every computation is per region.  A tiny county (a few dozen street nodes: under
the 50-node island threshold) loaded beside a bigger one gives exactly the answers it gives alone,
for coverage, gaps, what-if and hotspots, through the API and the CLI."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from api.imports import import_frame
from api.settings import Settings
from geo.crs import metric_crs_for
from geo.network import build_network
from geo.sample import make_regions
from tests.support.cli import run_cli
from tests.support.db import truncate

A, B = "320281", "320282"
LAYERS = ("areas", "grids", "streets", "stations", "dwellings", "incidents")


@pytest.fixture(scope="module")
def counties():
    """County A (1,500 households, streets cut to ~200 m around one station: < 50 nodes) and county B
    (6,000 households, > 2,000 nodes), north of A."""
    layers = make_regions(2, [1500, 6000], seed=1, incidents=150, first_code=A)
    s = layers["streets"]
    crs = metric_crs_for(s[s["region_code"] == A])
    st = layers["stations"]
    centre = st[st["region_code"] == A].to_crs(crs).geometry.iloc[0]
    cut = (s["region_code"] != A) | s.to_crs(crs).geometry.within(centre.buffer(200)).to_numpy()
    layers["streets"] = s[cut].reset_index(drop=True)
    return layers


def _load(engine, layers, regions):
    settings = Settings()
    with engine.begin() as conn:
        for code in regions:
            for layer in LAYERS:
                f = layers[layer]
                import_frame(conn, layer, f[f["region_code"] == code].reset_index(drop=True), settings)


def _answers(client, pg_url, monkeypatch, tmp_path, layers, tag):
    """Every answer about county A, with database ids left out (they depend on load order)."""
    dw = layers["dwellings"]
    a_dw = dw[dw["region_code"] == A]
    town = layers["areas"].query("region_code == @A and level == 'town'")["code"].iloc[0]
    grids = sorted(layers["grids"].query("region_code == @A")["code"])
    out = {}
    r = client.get("/coverage", params={"level": "grid"})
    assert r.status_code == 200, r.text
    out["rows"] = sorted([x for x in r.json()["rows"] if x["code"] in grids], key=lambda x: x["code"])
    r = client.get("/coverage", params={"level": "grid", "area": town})
    assert r.status_code == 200, r.text
    out["area_rows"], out["area_totals"] = r.json()["rows"], r.json()["totals"]
    r = client.get("/coverage/gaps")
    assert r.status_code == 200, r.text
    out["gaps"] = sorted((f["properties"]["households"], f["properties"]["dwellings"],
                          tuple(sorted(f["properties"]["grids"]))) for f in r.json()["features"]
                         if set(f["properties"]["grids"]) & set(grids))
    a_st = layers["streets"].query("region_code == @A")
    p = a_st.geometry.iloc[len(a_st) // 2].interpolate(0.5, normalized=True)  # on one of A's streets
    r = client.post("/coverage/what-if", json={"action": "add", "lon": p.x, "lat": p.y})
    assert r.status_code == 200, r.text
    w = r.json()
    out["whatif"] = (w["delta"], w["changed_dwellings"],
                     [(g["grid_code"], g["covered_before"], g["covered_after"]) for g in w["grids"]])
    r = client.get("/incidents/hotspots", params={"level": "grid"})
    assert r.status_code == 200, r.text
    out["hotspots"] = sorted((u["unit"], u["count"], u["z"], u["p"], u["classification"])
                             for u in r.json()["units"] if u["unit"] in grids)
    f = tmp_path / f"{tag}.csv"
    res = run_cli(pg_url, monkeypatch, ["coverage", "--area", town, "--out", str(f)])
    assert res.exit_code == 0, res.output
    with open(f, encoding="utf-8-sig") as fh:
        out["cli_rows"] = sorted(tuple(sorted(r.items())) for r in csv.DictReader(fh))
    with open(f.with_name(f"{tag}_dwellings.csv"), encoding="utf-8-sig") as fh:
        out["cli_dwellings"] = sorted((r["source_id"], r["time_s"], r["covered"], r["method"])
                                      for r in csv.DictReader(fh))
    out["cli_total"] = [ln for ln in res.output.splitlines() if ln.startswith("total")][0].split("; computed")[0]
    return out


def test_a_small_county_beside_a_big_one_answers_as_alone(engine, db, client, pg_url, monkeypatch, tmp_path,
                                                         counties):
    s = counties["streets"]
    small = build_network(s[s["region_code"] == A])
    big = build_network(s[s["region_code"] == B])
    assert small.n_nodes < 50 < big.n_nodes  # the case of the bug: A is smaller than the island threshold
    _load(engine, counties, [A])
    alone = _answers(client, pg_url, monkeypatch, tmp_path, counties, "alone")
    assert alone["rows"] and alone["hotspots"] and alone["cli_dwellings"]
    assert any(r["covered_households"] for r in alone["rows"])  # A's streets are used, not skipped
    truncate(engine)
    _load(engine, counties, [B, A])  # B first: A's database ids differ, its answers must not
    together = _answers(client, pg_url, monkeypatch, tmp_path, counties, "together")
    for k in alone:
        assert together[k] == alone[k], k
    # and B's own answer is B's: its rows equal B computed with ?region=B
    rows_b = client.get("/coverage", params={"level": "grid", "region": B}).json()["rows"]
    grids_b = {r["code"] for r in rows_b}
    all_rows = client.get("/coverage", params={"level": "grid"}).json()["rows"]
    assert sorted((r for r in all_rows if r["code"] in grids_b), key=lambda r: r["code"]) == \
        sorted(rows_b, key=lambda r: r["code"])


def test_kinds_error_lists_the_kinds_of_the_region(engine, db, client, counties):
    _load(engine, counties, [A, B])
    with engine.begin() as conn:
        conn.exec_driver_sql(f"UPDATE stations SET kind = 'grid_station' WHERE region_code = '{A}'")
    r = client.get("/coverage", params={"region": A, "kinds": "service_centre"})
    assert r.status_code == 422, r.text
    assert r.json()["allowed_values"] == ["grid_station"]
    r = client.get("/coverage", params={"kinds": "nonsense"})
    assert r.status_code == 422
    assert set(r.json()["allowed_values"]) == set(counties["stations"]["kind"])
