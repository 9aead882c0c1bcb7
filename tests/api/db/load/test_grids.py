"""Grid writes (``api.db.load.grids``) in real PostGIS, the CLI through typer's CliRunner; every
refusal leaves the database unchanged.

- ``gridmap import grids FILE --replace`` / ``load_frame(..., replace=True)``: the file is the whole set
  of grids of every community it names; the current grids of those communities missing from it are
  closed in the same transaction, nothing else is.
- Overlaps and gaps: grids of one community overlapping by more than ``GRIDMAP_GRID_OVERLAP_M2``
  (file against file, file against the stored grids, the write API) are refused with both codes and
  the area; gaps are reported.
- ``--correct``: the current version corrected in place (same validity), and what it moves
  re-attributed.
"""

from __future__ import annotations

import re

import geopandas as gpd
import pandas as pd
import pytest
import shapely
from sqlalchemy import text

from api.db.load import load_frame, reattribute_dwellings
from api.imports import import_frame
from api.settings import Settings, get_settings
from geo.crs import metric_crs_for

from tests.support.cli import flat
from tests.support.imports import (
    GRIDS, REGION, areas_file, counts, dwellings_csv, grids_file, grids_frame, load_base,
)

#: The redraw of community C1: G1 kept as is, G2 dropped, G4 new (G2's old area); C2 not in the file.
REDRAW = {"G1": GRIDS["G1"][0], "G4": shapely.box(120.0, 31.05, 120.05, 31.1)}


def redraw_frame(geoms=REDRAW, community="C1"):
    n = len(geoms)
    return gpd.GeoDataFrame(
        {"code": list(geoms), "name": [f"网格{k}" for k in geoms], "community_code": [community] * n,
         "town_code": ["T1"] * n, "chief": ["张三"] * n},
        geometry=list(geoms.values()), crs=4326)


def grid_state(engine) -> dict:
    """code -> list of (valid_to is None, geometry WKT) per version, by id; plus the current codes."""
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT region_code, code, valid_to, ST_AsText(geom) AS wkt FROM grids "
                                 "ORDER BY id")).all()
        current = set(conn.execute(text("SELECT region_code || ':' || code FROM current_grids")).scalars())
    return {"rows": [tuple(r) for r in rows], "current": current}


def versions(engine) -> dict:
    with engine.connect() as conn:
        return dict(conn.execute(text("SELECT layer, version FROM data_versions")).all())


def other_region_grid(engine) -> None:
    """A current grid with the same community code C1 in ANOTHER county: replace must not see it."""
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO grids (region_code, code, name, community_code, geom) VALUES "
            "('320282', 'G2', 'x', 'C1', ST_Multi(ST_GeomFromText(:w, 4326)))"),
            {"w": GRIDS["G2"][0].wkt})


def expected_closed(file_codes: set[str], file_communities: set[str]) -> set[str]:
    """Brute force from the base layout: current grids of the file's communities not in the file."""
    return {k for k, (_, comm) in GRIDS.items() if comm in file_communities and k not in file_codes}


def test_replace_closes_the_grids_missing_from_their_community(cli, db, tmp_path):
    load_base(cli, tmp_path)
    other_region_grid(db)
    frame = redraw_frame()
    assert list(frame["code"]) == ["G1", "G4"] and set(frame["community_code"]) == {"C1"}
    path = grids_file(tmp_path, frame, "redraw.gpkg")
    r = cli("import", "grids", path, "--layer", "网格", "--replace")
    assert r.exit_code == 0, r.output
    closed = expected_closed(set(frame["code"]), set(frame["community_code"]))
    assert closed == {"G2"}
    assert (f"1 added, 0 changed (new version), 0 updated in place, 1 unchanged, {len(closed)} closed "
            "(missing from the file)") in flat(r.output)
    with db.connect() as conn:
        rows = conn.execute(text("SELECT code, valid_to, ST_AsText(geom) FROM grids WHERE region_code = :r "
                                 "ORDER BY code, id"), {"r": REGION}).all()
        now_ = conn.execute(text("SELECT now()")).scalar_one()
    by_code = {code: [(vt, wkt) for c, vt, wkt in rows if c == code] for code in {r_[0] for r_ in rows}}
    assert set(by_code) == {"G1", "G2", "G3", "G4"}
    assert all(len(v) == 1 for v in by_code.values())  # no new version of anything: G2 closed, not replaced
    g2_to = by_code["G2"][0][0]
    assert g2_to is not None and g2_to <= now_
    assert all(by_code[c][0][0] is None for c in ("G1", "G3", "G4"))
    assert shapely.from_wkt(by_code["G4"][0][1]).equals(REDRAW["G4"])
    current = grid_state(db)["current"]
    assert current == {f"{REGION}:G1", f"{REGION}:G3", f"{REGION}:G4", "320282:G2"}


def test_without_replace_nothing_is_closed(cli, db, tmp_path, monkeypatch):
    # G4 covers G2's area and G2 stays current: an overlap, refused by default (test_import_overlaps);
    # tolerated here so that this test sees only what --replace does
    monkeypatch.setenv("GRIDMAP_GRID_OVERLAP_M2", "1e12")
    get_settings.cache_clear()
    load_base(cli, tmp_path)
    path = grids_file(tmp_path, redraw_frame(), "redraw.gpkg")
    r = cli("import", "grids", path, "--layer", "网格")
    assert r.exit_code == 0, r.output
    assert "1 added, 0 changed (new version), 0 updated in place, 1 unchanged, 0 closed" in flat(r.output)
    assert "missing from the file" not in flat(r.output)
    with db.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM grids WHERE valid_to IS NOT NULL")).scalar_one() == 0
    assert {c.split(":")[1] for c in grid_state(db)["current"]} == {"G1", "G2", "G3", "G4"}


def test_replace_with_a_changed_boundary_reattributes_dwellings(cli, db, tmp_path):
    load_base(cli, tmp_path)
    path, _ = dwellings_csv(tmp_path)
    assert cli("import", "dwellings", path, "--map", "source_id=编号").exit_code == 0
    with db.connect() as conn:
        attributed = dict(conn.execute(text("SELECT source_id, grid_code FROM dwellings")).all())
    before = versions(db)
    # C1 redrawn as one grid G1 over the whole community (boundary change), G2 dropped
    whole = {"G1": shapely.box(120.0, 31.0, 120.05, 31.1)}
    r = cli("import", "grids", grids_file(tmp_path, grids_frame(whole), "one.gpkg"), "--layer", "网格", "--replace")
    assert r.exit_code == 0, r.output
    assert "0 added, 1 changed (new version), 0 updated in place, 0 unchanged, 1 closed" in flat(r.output)
    with db.connect() as conn:
        pts = dict(conn.execute(text("SELECT source_id, ST_AsText(geom) FROM dwellings")).all())
        got = dict(conn.execute(text("SELECT source_id, grid_code FROM dwellings")).all())
        g1_new_from = conn.execute(text("SELECT valid_from FROM grids WHERE code='G1' AND valid_to IS NULL")
                                   ).scalar_one()
        g2_to = conn.execute(text("SELECT valid_to FROM grids WHERE code='G2'")).scalar_one()
    assert g2_to == g1_new_from  # one instant: the redraw's transaction time
    # the same import put every dwelling in the first current grid covering it (brute force)
    now_grids = {"G1": whole["G1"], "G3": GRIDS["G3"][0]}
    expect = {sid: min(k for k, g in now_grids.items() if g.covers(shapely.from_wkt(w))) for sid, w in pts.items()}
    assert got == expect and "G2" not in set(got.values())
    n = sum(attributed[s] != expect[s] for s in pts)
    assert n > 0 and f"re-attributed: {n} dwelling(s), 0 incident(s)" in flat(r.output)
    after = versions(db)
    assert after["grids"] > before["grids"] and after["dwellings"] > before["dwellings"]
    with db.begin() as conn:  # a whole-region pass finds nothing left to move
        assert reattribute_dwellings(conn, REGION) == 0


def test_a_failed_replace_changes_nothing(cli, db, tmp_path):
    load_base(cli, tmp_path)
    path, _ = dwellings_csv(tmp_path)
    assert cli("import", "dwellings", path, "--map", "source_id=编号").exit_code == 0
    base_counts, base_grids, base_versions = counts(db), grid_state(db), versions(db)

    # 1. a grid of the redraw reaches far into community C2: refused before anything is written
    bad = dict(REDRAW, G4=shapely.box(120.0, 31.05, 120.08, 31.1))
    r = cli("import", "grids", grids_file(tmp_path, redraw_frame(bad), "bad.gpkg"), "--layer", "网格", "--replace")
    assert r.exit_code == 2, r.output
    assert "outside its community" in flat(r.output)
    assert counts(db) == base_counts and grid_state(db) == base_grids and versions(db) == base_versions

    # 2. a grid to close whose current version starts tomorrow cannot be closed now
    with db.begin() as conn:
        conn.execute(text(
            "INSERT INTO grids (region_code, code, name, community_code, valid_from, geom) VALUES "
            "(:r, 'G9', 'later', 'C1', now() + interval '1 day', ST_Multi(ST_GeomFromText(:w, 4326)))"),
            {"r": REGION, "w": shapely.box(120.0, 31.0, 120.01, 31.01).wkt})
    base_counts, base_grids, base_versions = counts(db), grid_state(db), versions(db)
    r = cli("import", "grids", grids_file(tmp_path, redraw_frame(), "redraw.gpkg"), "--layer", "网格", "--replace")
    assert r.exit_code == 2, r.output
    assert "G9" in flat(r.output) and "cannot be closed" in flat(r.output)
    assert counts(db) == base_counts and grid_state(db) == base_grids and versions(db) == base_versions

    # 3. a failure later in the caller's transaction undoes the closing too
    with db.begin() as conn:
        conn.execute(text("DELETE FROM grids WHERE code = 'G9'"))
    base_counts, base_grids, base_versions = counts(db), grid_state(db), versions(db)
    with pytest.raises(RuntimeError), db.begin() as conn:
        report = import_frame(conn, "grids", redraw_frame(), Settings(), region_code=REGION, replace=True)
        assert (report.added, report.unchanged, report.closed, report.inserted) == (1, 1, 1, 1)
        assert conn.execute(text("SELECT valid_to FROM grids WHERE code='G2'")).scalar_one() is not None
        raise RuntimeError("a later step of the same transaction failed")
    assert counts(db) == base_counts and grid_state(db) == base_grids and versions(db) == base_versions


def test_replace_is_for_grids_only(cli, db, tmp_path):
    load_base(cli, tmp_path)
    path, _ = dwellings_csv(tmp_path)
    before = counts(db)
    r = cli("import", "dwellings", path, "--map", "source_id=编号", "--replace")
    assert r.exit_code == 2 and "grids only" in flat(r.output)
    assert counts(db) == before
    with pytest.raises(ValueError), db.begin() as conn:
        load_frame(conn, "stations", grids_frame(), region_code=REGION, overlap_m2=1.0, replace=True)


# --- overlaps and gaps ------------------------------------------------------------------------------

def metric_area(geom) -> float:
    """m2 of an EPSG:4326 geometry in the metric CRS geo.crs picks for it (independent of PostGIS)."""
    s = gpd.GeoSeries([geom], crs=4326)
    return float(s.to_crs(metric_crs_for(s)).area.iloc[0])


def m2_in(output: str, after: str) -> float:
    """The first 'N m2' figure that follows ``after`` in the output."""
    m = re.search(re.escape(after) + r".*?([\d,]+\.\d) m2", flat(output))
    assert m, output
    return float(m.group(1).replace(",", ""))


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
