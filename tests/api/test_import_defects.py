"""Import defects of issue 12, each with a test that failed before: overlapping grids accepted
silently (and gaps not reported), no way to correct a grid version in place (--correct), no way to
give a column one value (--set), point files entirely outside the grids loaded silently
(--allow-outside), ``gridmap demo`` printing Python reprs.  Real PostGIS, the CLI through typer's
CliRunner; every refusal leaves the database unchanged."""

from __future__ import annotations

import re

import geopandas as gpd
import pandas as pd
import pytest
import shapely
from sqlalchemy import text
from tests.support.imports import (
    GRIDS, REGION, sample_gpkg, areas_file, counts, dwellings_csv, grids_file, grids_frame, load_base,
)

from api.cli.common import console
from api.cli.demo import load_sample_if_empty
from geo.crs import metric_crs_for


def flat(output: str) -> str:
    return " ".join(output.split())


def metric_area(geom) -> float:
    """m2 of an EPSG:4326 geometry in the metric CRS geo.crs picks for it (independent of PostGIS)."""
    s = gpd.GeoSeries([geom], crs=4326)
    return float(s.to_crs(metric_crs_for(s)).area.iloc[0])


def m2_in(output: str, after: str) -> float:
    """The first 'N m2' figure that follows ``after`` in the output."""
    m = re.search(re.escape(after) + r".*?([\d,]+\.\d) m2", flat(output))
    assert m, output
    return float(m.group(1).replace(",", ""))


# --- overlaps and gaps ------------------------------------------------------------------------------

def test_overlapping_grids_in_one_file_are_refused_with_both_codes_and_the_area(cli, db, tmp_path):
    assert cli("import", "areas", areas_file(tmp_path)).exit_code == 0
    g1 = shapely.box(120.0, 31.0, 120.05, 31.06)  # reaches 0.01 deg into G2
    frame = grids_frame({"G1": g1, "G2": GRIDS["G2"][0], "G3": GRIDS["G3"][0]})
    before = counts(db)
    r = cli("import", "grids", grids_file(tmp_path, frame), "--layer", "网格")
    assert r.exit_code == 2, r.output
    out = flat(r.output)
    assert "grid 'G1' overlaps grid 'G2'" in out and "community 'C1'" in out and "Nothing was written" in out
    assert m2_in(r.output, "overlaps grid 'G2'") == pytest.approx(metric_area(g1 & GRIDS["G2"][0]), rel=1e-3)
    assert counts(db) == before


def test_a_grid_overlapping_a_stored_grid_is_refused_unless_replace_closes_it(cli, db, tmp_path):
    load_base(cli, tmp_path)
    g4 = shapely.box(120.0, 31.0, 120.05, 31.05)  # G1's place, under another code
    before = counts(db)
    r = cli("import", "grids", grids_file(tmp_path, grids_frame_with({"G4": (g4, "C1")}), "g4.gpkg"), "--layer", "网格")
    assert r.exit_code == 2, r.output
    out = flat(r.output)
    assert "grid 'G4' overlaps grid 'G1' (stored, not in the file)" in out
    assert m2_in(r.output, "overlaps grid 'G1'") == pytest.approx(metric_area(g4), rel=1e-3)
    assert counts(db) == before
    # with --replace G1 and G2 close: no overlap; the upper half of C1 is then a gap (a warning)
    r = cli("import", "grids", grids_file(tmp_path, grids_frame_with({"G4": (g4, "C1")}), "g4.gpkg"),
            "--layer", "网格", "--replace")
    assert r.exit_code == 0, r.output
    out = flat(r.output)
    upper = shapely.box(120.0, 31.05, 120.05, 31.1)
    assert "warning: 1 gap(s) between grids" in out and "community 'C1' has a gap" in out
    assert m2_in(r.output, "community 'C1' has a gap of") == pytest.approx(metric_area(upper), rel=1e-3)
    lon, lat = map(float, re.search(r"gap of .*? at lon/lat \(([\d.]+), ([\d.]+)\)", out).groups())
    assert upper.contains(shapely.Point(lon, lat))


def grids_frame_with(grids: dict):
    return gpd.GeoDataFrame({"code": list(grids), "name": list(grids), "community_code": [c for _, c in grids.values()],
                             "town_code": "T1"}, geometry=[g for g, _ in grids.values()], crs=4326)


def test_overlap_tolerance_is_the_setting(cli, db, tmp_path, monkeypatch):
    """Default 1 m2: a 0.5 m2 overlap passes, a 5 m2 one does not; GRIDMAP_GRID_OVERLAP_M2 moves the bar."""
    assert cli("import", "areas", areas_file(tmp_path)).exit_code == 0
    small = shapely.box(120.0, 31.05, 120.00001, 31.050005)
    big = shapely.box(120.0, 31.05, 120.0001, 31.050005)
    assert metric_area(small) < 1 < metric_area(big) < 10
    for tip, code in ((big, 2), (small, 0)):
        frame = grids_frame({"G1": GRIDS["G1"][0] | tip, "G2": GRIDS["G2"][0], "G3": GRIDS["G3"][0]})
        r = cli("import", "grids", grids_file(tmp_path, frame, f"g{code}.gpkg"), "--layer", "网格")
        assert r.exit_code == code, r.output
    monkeypatch.setenv("GRIDMAP_GRID_OVERLAP_M2", "10")
    from api.settings import get_settings
    get_settings.cache_clear()
    frame = grids_frame({"G1": GRIDS["G1"][0] | big, "G2": GRIDS["G2"][0], "G3": GRIDS["G3"][0]})
    assert cli("import", "grids", grids_file(tmp_path, frame, "g10.gpkg"), "--layer", "网格").exit_code == 0


def test_the_write_api_refuses_an_overlapping_grid(cli, client, db, tmp_path):
    load_base(cli, tmp_path)
    before = counts(db)
    feature = {"type": "Feature", "geometry": shapely.geometry.mapping(shapely.box(120.0, 31.04, 120.05, 31.06)),
               "properties": {"code": "G7", "name": "x", "community_code": "C1"}}
    r = client.post("/grids", json=feature)
    assert r.status_code == 422, r.text
    reasons = " ".join(e["reason"] for e in r.json()["errors"])
    assert "'G7' overlaps grid 'G1'" in reasons and "'G7' overlaps grid 'G2'" in reasons
    assert counts(db) == before


# --- correcting a grid version in place --------------------------------------------------------------

def test_correct_replaces_the_current_version_in_place_and_reattributes(cli, db, tmp_path):
    """G1/G2 are drawn right (v1), then redrawn wrong from 2025-01-01 (v2: the border at 31.06 instead
    of 31.05).  --correct fixes v2 in place: same ids and validity, v2's geometry; the dwellings and
    the incidents after 2025-01-01 in the strip move back to G2, those before stay with v1."""
    load_base(cli, tmp_path)
    wrong = {"G1": shapely.box(120.0, 31.0, 120.05, 31.06), "G2": shapely.box(120.0, 31.06, 120.05, 31.1)}
    frame = grids_frame(wrong).assign(valid_from="2025-01-01T00:00:00+08:00")
    assert cli("import", "grids", grids_file(tmp_path, frame, "wrong.gpkg"), "--layer", "网格").exit_code == 0
    path, df = dwellings_csv(tmp_path, n=200)
    assert cli("import", "dwellings", path, "--map", "source_id=编号", "--map", "households=户数").exit_code == 0
    strip = df[(df["纬度"] > 31.05) & (df["纬度"] < 31.06) & (df["经度"] < 120.05)]
    assert len(strip) >= 3
    rows = [{"external_id": f"{t[:4]}-{i}", "category": "parking", "reported_at": t, "lon": x, "lat": y}
            for t in ("2024-06-01T08:00:00+08:00", "2025-06-01T08:00:00+08:00")
            for i, (x, y) in enumerate(zip(df["经度"], df["纬度"]))]
    pd.DataFrame(rows).to_csv(tmp_path / "incidents.csv", index=False)
    assert cli("import", "incidents", tmp_path / "incidents.csv").exit_code == 0
    with db.connect() as conn:
        versions_before = conn.execute(text("SELECT id, code, valid_from::text, valid_to::text FROM grids "
                                            "ORDER BY id")).all()
    right = grids_frame({"G1": GRIDS["G1"][0], "G2": GRIDS["G2"][0]})
    r = cli("import", "grids", grids_file(tmp_path, right, "right.gpkg"), "--layer", "网格", "--correct")
    assert r.exit_code == 0, r.output
    assert "2 corrected in place" in flat(r.output)
    with db.connect() as conn:
        versions_after = conn.execute(text("SELECT id, code, valid_from::text, valid_to::text FROM grids "
                                           "ORDER BY id")).all()
        assert versions_after == versions_before  # no new version, same validity
        current = dict(conn.execute(text("SELECT code, ST_AsBinary(geom) FROM grids WHERE valid_to IS NULL")).all())
        dwell = dict(conn.execute(text("SELECT source_id, grid_code FROM dwellings")).all())
        inc = {k: (c, gid) for k, c, gid in conn.execute(text("SELECT external_id, grid_code, grid_id FROM incidents"))}
        first = {code: vid for vid, code, _, vt in versions_after if vt is not None}  # G1, G2 before 2025
        current_id = {code: vid for vid, code, _, vt in versions_after if vt is None}
    for code in ("G1", "G2"):
        assert shapely.from_wkb(bytes(current[code])).equals(GRIDS[code][0])
    # the independent answer: the rule on the corrected polygons (v2 = v1 geometry now)
    polys = {k: v[0] for k, v in GRIDS.items()}

    def rule(x, y):
        covering = sorted(c for c, p in polys.items() if p.intersects(shapely.Point(x, y)))
        return covering[0] if covering else None

    assert dwell == {sid: rule(x, y) for sid, x, y in zip(df["编号"], df["经度"], df["纬度"])}
    for i, (x, y) in enumerate(zip(df["经度"], df["纬度"])):
        code = rule(x, y)
        assert inc[f"2024-{i}"] == (code, first.get(code, current_id[code])), i
        assert inc[f"2025-{i}"] == (code, current_id[code]), i


def test_correct_refuses_a_grid_without_a_current_version(cli, db, tmp_path):
    load_base(cli, tmp_path)
    before = counts(db)
    r = cli("import", "grids", grids_file(tmp_path, grids_frame_with({"G8": (GRIDS["G2"][0], "C1")}), "g8.gpkg"),
            "--layer", "网格", "--correct")
    assert r.exit_code == 2 and "no current version to correct" in flat(r.output), r.output
    assert counts(db) == before
    r = cli("import", "dwellings", tmp_path / "x.csv", "--correct")
    assert r.exit_code == 2 and "grids only" in flat(r.output)


# --- --set column=value ------------------------------------------------------------------------------

def test_set_gives_a_column_one_value_before_validation(cli, db, tmp_path):
    load_base(cli, tmp_path)
    path, df = dwellings_csv(tmp_path)  # its 户数 column is not mapped: --set gives households
    r = cli("import", "dwellings", path, "--map", "source_id=编号", "--set", "households=7")
    assert r.exit_code == 0, r.output
    streets = gpd.GeoDataFrame({"source_id": ["R1", "R2"]}, geometry=[
        shapely.LineString([(120.01, 31.01), (120.02, 31.02)]), shapely.LineString([(120.02, 31.02), (120.03, 31.02)])],
        crs=4326)
    streets.to_file(tmp_path / "streets.gpkg", layer="streets")
    r = cli("import", "streets", tmp_path / "streets.gpkg", "--set", "road_class=residential", "--set", "name=人民路")
    assert r.exit_code == 0, r.output
    with db.connect() as conn:
        assert conn.execute(text("SELECT count(*), sum(households), min(households) FROM dwellings")).one() == (
            len(df), 7 * len(df), 7)
        assert conn.execute(text("SELECT array_agg(DISTINCT road_class), array_agg(DISTINCT name) FROM streets")
                            ).one() == (["residential"], ["人民路"])
    # the value is validated like the file's own
    before = counts(db)
    r = cli("import", "dwellings", path, "--map", "source_id=编号", "--set", "households=-2")
    assert r.exit_code == 2 and "households" in r.output
    assert counts(db) == before


def test_set_with_a_wrong_column_names_the_layers_columns(cli, db, tmp_path):
    load_base(cli, tmp_path)
    path, _ = dwellings_csv(tmp_path)
    before = counts(db)
    r = cli("import", "dwellings", path, "--map", "source_id=编号", "--set", "colour=red")
    assert r.exit_code == 2, r.output
    out = flat(r.output)
    assert "'colour' is not a column of dwellings" in out and "source_id" in out and "households" in out
    r = cli("import", "dwellings", path, "--map", "source_id=编号", "--set", "households")
    assert r.exit_code == 2 and "not column=value" in flat(r.output)
    assert counts(db) == before


# --- a point file entirely outside the grids ---------------------------------------------------------

def test_a_point_file_outside_every_grid_is_refused_unless_allowed(cli, db, tmp_path):
    load_base(cli, tmp_path)
    path, df = dwellings_csv(tmp_path)
    shifted = df.assign(经度=df["经度"] + 1.0)  # e.g. a wrong CRS: all of them a degree east
    shifted.to_csv(tmp_path / "shifted.csv", index=False)
    before = counts(db)
    r = cli("import", "dwellings", tmp_path / "shifted.csv", "--map", "source_id=编号", "--map", "households=户数")
    assert r.exit_code == 2, r.output
    out = flat(r.output)
    for hint in ("None of the 40 dwellings lies in any grid", "column order", "--crs", "--coords", "--allow-outside"):
        assert hint in out, out
    assert counts(db) == before
    # one row inside is enough (the file is then not mis-placed as a whole)
    one_in = pd.concat([shifted.iloc[1:], df.iloc[:1]])
    one_in.to_csv(tmp_path / "one_in.csv", index=False)
    assert cli("import", "stations", tmp_path / "shifted.csv", "--map", "source_id=编号", "--set", "name=x",
               "--set", "kind=service_centre").exit_code == 2
    r = cli("import", "dwellings", tmp_path / "shifted.csv", "--map", "source_id=编号", "--map", "households=户数",
            "--allow-outside")
    assert r.exit_code == 0, r.output
    with db.connect() as conn:
        assert conn.execute(text("SELECT count(*), count(grid_code) FROM dwellings")).one() == (len(df), 0)
    r = cli("import", "dwellings", tmp_path / "one_in.csv", "--map", "source_id=编号", "--map", "households=户数")
    assert r.exit_code == 0, r.output


def test_points_load_when_the_region_has_no_grids(cli, db, tmp_path):
    assert cli("import", "areas", areas_file(tmp_path)).exit_code == 0
    path, df = dwellings_csv(tmp_path)
    df.assign(经度=df["经度"] + 1.0).to_csv(tmp_path / "far.csv", index=False)
    r = cli("import", "dwellings", tmp_path / "far.csv", "--map", "source_id=编号", "--map", "households=户数")
    assert r.exit_code == 0, r.output


# --- gridmap demo's report ---------------------------------------------------------------------------

def test_demo_prints_a_table_not_reprs(db, tmp_path, monkeypatch):
    path, df = sample_gpkg(tmp_path)
    monkeypatch.setenv("GRIDMAP_REGION_CODE", REGION)
    monkeypatch.setattr(console, "width", 200)
    with console.capture() as cap:
        assert load_sample_if_empty(db, path)
    out = cap.get()
    assert "LoadReport(" not in out and "IngestReport(" not in out
    header = next(line for line in out.splitlines() if "layer" in line and "inserted" in line)
    assert "updated" in header and "unchanged" in header
    rows = {line.split()[1]: line for line in out.splitlines() if line.split()[1:2] and line.split()[1] in (
        "areas", "grids", "dwellings", "stations", "streets")}
    assert set(rows) == {"areas", "grids", "dwellings", "stations", "streets"}
    assert f"{len(df):,}" in rows["dwellings"]
