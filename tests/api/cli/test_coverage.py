"""``gridmap coverage``: the street-islands summary, and ``--out FILE --service-areas``: each
station's own service area per break, written beside the coverage layers, on the sample district in
real PostGIS.

Checked against independent computations: the exact per-dwelling times of the multi-source search
(``run.reach``) and the per-station bounded searches (:func:`geo.reach.station_dwellings`) decide
which dwellings each polygon must hold; ring areas against the largest disk.
"""

from __future__ import annotations

import datetime as dt

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely

from tests.support.cli import run_cli
from tests.support.db import truncate
from tests.support.sample import load_sample

BREAKS = (5, 8, 15)


@pytest.fixture(scope="module")
def sample(engine):
    """The 6,000-household sample, loaded once for the tests that use it (they only read it and
    write files; each recomputes its own run)."""
    truncate(engine)
    return load_sample(engine, 6000, seed=3)


@pytest.fixture
def fragmented_sample(db):
    """The 12,000-household sample (seed 1): its streets have fragments the engine skips."""
    return load_sample(db, 12000, seed=1)


def test_cli_prints_the_islands_summary(client, fragmented_sample, pg_url, monkeypatch):  # audit item 20
    net = client.get("/coverage").json()["network"]
    n_islands = net["components"] - net["snappable_components"]
    assert n_islands > 0 and net["skipped_nodes"] > 0  # the sample district has street fragments
    res = run_cli(pg_url, monkeypatch, ["coverage"])
    assert res.exit_code == 0, res.output
    line = next(x for x in res.output.splitlines() if "street islands" in x)
    assert line.startswith(f"{n_islands} street islands skipped ({net['skipped_nodes']:,} nodes")


def _run(engine, settings):
    """The same run the command computed, recomputed here (same parameters, same data)."""
    from api.coverage import CoverageParams, CoverageService
    from api.jurisdiction import EVERYWHERE

    svc = CoverageService(engine, walk_speed_kmh=settings.walk_speed_kmh, bike_speed_kmh=settings.bike_speed_kmh,
                          max_snap_m=settings.max_snap_m, warm_polygons=False)
    return svc.run(EVERYWHERE, CoverageParams(minutes=8.0, at=dt.date.today(), limit_minutes=max(BREAKS)))


def test_service_area_layer_rows_polygons_and_households(sample, engine, settings, pg_url, monkeypatch, tmp_path):
    from geo.reach import DwellingIndex, station_dwellings

    out = tmp_path / "city.gpkg"
    res = run_cli(pg_url, monkeypatch, ["coverage", "--out", str(out), "--service-areas",
                                        "--breaks", ",".join(map(str, BREAKS))])
    assert res.exit_code == 0, res.output
    assert "service_areas" in [n for n, _ in pyogrio.list_layers(out)]
    sa = gpd.read_file(out, layer="service_areas")
    assert sa.crs.to_epsg() == 4326
    assert {"station", "name", "kind", "break_s", "shape", "method", "area_m2", "households"} <= set(sa.columns)

    run = _run(engine, settings)
    r = run.reach
    secs = [b * 60.0 for b in BREAKS]
    # one row per counted station and break, named as the stored stations are
    assert len(r.station_ids) > 10
    want = {(int(s), b) for s in r.station_ids for b in secs}
    got = list(zip(sa["station"].astype(int), sa["break_s"].astype(float)))
    assert len(got) == len(want) and set(got) == want
    names = dict(zip(sample["stations"]["source_id"].astype(str), sample["stations"]["name"]))
    src = run.inputs.station_info()["source_id"]
    assert all(n == names[str(src[str(s)])] for s, n in zip(sa["station"], sa["name"]))
    assert set(sa["shape"]) == {"disk"}

    g = sa.geometry.values
    assert shapely.is_valid(g).all()
    assert set(shapely.get_type_id(g[~shapely.is_empty(g)])) <= {3, 6}  # Polygon, MultiPolygon
    snapped = set(r.station_ids[r.station_snap.ok].astype(int))
    assert not shapely.is_empty(g[sa["station"].isin(snapped).to_numpy()]).any()

    # the dwellings each station reaches alone within each break, by the exact bounded search,
    # checked against the multi-source times; the polygon must hold them (>= 97% of households)
    index = DwellingIndex(run.net, r.dwelling_snap)
    pos = {int(s): j for j, s in enumerate(r.station_ids)}
    dlon, dlat = run.inputs.dwellings.geometry.x.to_numpy(), run.inputs.dwellings.geometry.y.to_numpy()
    hh = r.households
    reached = {b: np.zeros(hh.size, dtype=bool) for b in secs}
    inside_hh = {b: 0 for b in secs}
    total_hh = {b: 0 for b in secs}
    for row in sa.itertuples():
        j, b = pos[int(row.station)], float(row.break_s)
        dw, t = station_dwellings(run.net, r, index, j, b)
        assert row.households == int(hh[dw].sum())
        reached[b][dw] = True
        # the dwellings this station is nearest to within the break: same exact time alone
        own = np.flatnonzero((r.nearest == j) & (r.time_s <= b + 1e-6) & (r.method == "network"))
        assert np.isin(own, dw).all()
        alone = dict(zip(dw.tolist(), t.tolist()))
        np.testing.assert_allclose([alone[o] for o in own.tolist()], r.time_s[own], atol=1e-6)
        ins = shapely.contains_xy(row.geometry, dlon[dw], dlat[dw]) if len(dw) else np.zeros(0, bool)
        inside_hh[b] += int(hh[dw][ins].sum())
        total_hh[b] += int(hh[dw].sum())
        if len(dw) >= 20:  # each station with some dwellings holds most of them, not only the total
            assert ins.sum() >= 0.85 * len(dw), (row.station, b, int(ins.sum()), len(dw))
    for b in secs:
        net_cov = (r.time_s <= b + 1e-6) & (r.method == "network")
        assert np.array_equal(reached[b], net_cov), b  # union of the stations alone == multi-source decision
        assert total_hh[b] > 0 and inside_hh[b] >= 0.97 * total_hh[b], (b, inside_hh[b], total_hh[b])
    # households grow with the break for every station
    per = sa.pivot(index="station", columns="break_s", values="households")
    assert (per.diff(axis=1).iloc[:, 1:] >= 0).all().all()

    # polygons the run already holds are reused, only the others drawn; the same polygons either way
    import api.coverage.frames as frames
    from api.coverage import service_area_frame
    from geo.service_area import service_areas

    pre = [int(j) for j in np.flatnonzero(r.station_snap.ok)[:3]]
    for j in pre:
        run.station_polygons(j, tuple(secs))
    drawn, steps = [], []

    def spy(net, reach, breaks, **kw):
        drawn.extend(np.asarray(kw["stations"]).tolist())
        return service_areas(net, reach, breaks, **kw)

    monkeypatch.setattr(frames, "service_areas", spy)
    again = service_area_frame(run, tuple(secs), advance=steps.append)
    assert sorted(drawn) == sorted(set(range(len(r.station_ids))) - set(pre))
    assert sum(steps) == len(r.station_ids)
    assert again["station"].tolist() == sa["station"].astype(int).tolist()
    assert again["households"].tolist() == sa["households"].tolist()
    diff = shapely.area(shapely.symmetric_difference(again.geometry.values, sa.geometry.values))
    assert (diff <= 1e-12).all()


def test_rings_partition_the_largest_disk_and_csv_geojson_files(sample, engine, settings, pg_url, monkeypatch,
                                                               tmp_path):
    from geo.crs import metric_crs_for

    bk = ",".join(map(str, BREAKS))
    disks_out = tmp_path / "city.geojson"
    res = run_cli(pg_url, monkeypatch, ["coverage", "--out", str(disks_out), "--service-areas", "--breaks", bk])
    assert res.exit_code == 0, res.output
    rings_out = tmp_path / "city.csv"
    res = run_cli(pg_url, monkeypatch, ["coverage", "--out", str(rings_out), "--service-areas", "--breaks", bk,
                                        "--rings"])
    assert res.exit_code == 0, res.output
    for stem, ext in (("city", ".geojson"), ("city", ".csv")):  # beside the others, named as they are
        for part in ("", "_gaps", "_dwellings", "_service_areas"):
            assert (tmp_path / f"{stem}{part}{ext}").exists(), f"{stem}{part}{ext}"
    disks = gpd.read_file(tmp_path / "city_service_areas.geojson")
    raw = pd.read_csv(tmp_path / "city_service_areas.csv", encoding="utf-8-sig")
    rings = gpd.GeoDataFrame(raw.drop(columns="geometry"), geometry=gpd.GeoSeries.from_wkt(raw["geometry"]),
                             crs=4326)
    assert len(rings) == len(disks)
    assert set(rings["shape"]) == {"disk", "ring"} and set(disks["shape"]) == {"disk"}
    assert (rings.loc[rings["break_s"] == BREAKS[0] * 60, "shape"] == "disk").all()
    assert shapely.is_valid(rings.geometry.values).all() and shapely.is_valid(disks.geometry.values).all()

    crs = metric_crs_for(disks)
    largest = disks[disks["break_s"] == BREAKS[-1] * 60].set_index("station")
    rsum = rings.groupby("station")["area_m2"].sum()
    rel = (rsum - largest["area_m2"].reindex(rsum.index)).abs() / largest["area_m2"].reindex(rsum.index)
    assert (rel.fillna(0) <= 1e-6).all(), rel.max()
    # geometrically too: the rings of a station do not overlap and together cover its largest disk
    # (areas measured here from the written coordinates, so within the 8-decimal rounding)
    rm = rings.to_crs(crs)
    dm = largest.to_crs(crs)
    for sid, grp in rm.groupby("station"):
        disk = dm.geometry[sid]
        if disk.is_empty:
            continue
        parts = grp.sort_values("break_s").geometry.values
        assert abs(shapely.area(parts).sum() - disk.area) <= 1e-4 * disk.area + 1.0, sid
        assert shapely.union_all(parts).symmetric_difference(disk).area <= 1e-4 * disk.area + 1.0, sid
    # ring households are each break's own: they add up to the largest disk's
    hsum = rings.groupby("station")["households"].sum()
    assert hsum.equals(largest["households"].reindex(hsum.index).astype(hsum.dtype))
    assert (rings["households"] >= 0).all()


def test_area_keeps_its_stations_and_options_need_out(sample, engine, settings, pg_url, monkeypatch, tmp_path):
    comm = sample["areas"][sample["areas"]["level"] == "community"].iloc[0]
    out = tmp_path / "one.gpkg"
    res = run_cli(pg_url, monkeypatch, ["coverage", "--out", str(out), "--service-areas", "--area", comm["code"]])
    assert res.exit_code == 0, res.output
    sa = gpd.read_file(out, layer="service_areas")
    run = _run(engine, settings)
    st = run.inputs.stations
    counted = set(run.reach.station_ids.astype(int))
    inside = {int(i) for i, g in zip(st["id"], st.geometry) if int(i) in counted and comm.geometry.covers(g)}
    assert inside and set(sa["station"].astype(int)) == inside and len(sa) == len(inside)
    assert (sa["break_s"] == settings.minutes * 60).all()
    assert f"{len(inside):,} station service areas" in res.output

    res = run_cli(pg_url, monkeypatch, ["coverage", "--service-areas"])
    assert res.exit_code == 2 and "--out" in res.output
    res = run_cli(pg_url, monkeypatch, ["coverage", "--out", str(tmp_path / "x.gpkg"), "--rings"])
    assert res.exit_code == 2 and "--service-areas" in res.output


def test_progress_advances_while_the_stations_are_drawn(sample, engine, settings, monkeypatch):
    """The progress bar of --service-areas moved only at the very end (0/N until done): the drawing
    now goes in steps, and each step reports its stations before the next is drawn."""
    import api.coverage.frames as frames
    from api.coverage import service_area_frame
    from geo.service_area import service_areas

    run = _run(engine, settings)
    n = len(run.reach.station_ids)
    assert n > 10
    drawn, seen = [], []

    def spy(net, reach, breaks, **kw):  # counts the stations drawn so far
        drawn.extend(np.asarray(kw["stations"]).tolist())
        return service_areas(net, reach, breaks, **kw)

    monkeypatch.setattr(frames, "service_areas", spy)
    done = []

    def advance(k):
        done.append(k)
        seen.append((sum(done), len(drawn)))

    frame = service_area_frame(run, (480.0,), advance=advance)
    counts = [c for c, _ in seen]
    assert len(seen) > 1 and counts == sorted(counts) and len(set(counts)) == len(counts)  # increasing
    assert counts[-1] == n and sorted(drawn) == list(range(n))
    assert counts[0] < n and seen[0][1] < n  # the first report came before the last station was drawn
    assert all(c == d for c, d in seen)  # each report counts exactly the stations drawn by then
    assert sorted(frame["station"].astype(int)) == sorted(run.reach.station_ids.astype(int))

