"""Wrong filters are refused (4xx problem+json, CLI exit 2), not answered as "nothing found"; every
area of the level appears in the statistics, those without incidents with zeros (audit items 6, 16)."""

from __future__ import annotations

from datetime import datetime, timezone

import pandas as pd
import pytest
from sqlalchemy import text

from api.errors import NotFound
from api.incidents.filters import IncidentFilter
from api.incidents.intake import ingest_frame
from api.incidents.stats import area_stats
from api.jurisdiction import EVERYWHERE, Jurisdiction

from tests.support.cli import run_cli
from tests.support.incidents import GRIDS, HOUSEHOLDS, REGION, incident_frame, make_world

T = datetime(2025, 2, 10, tzinfo=timezone.utc)
TZ = "Asia/Shanghai"
# two incidents in G1, one in G2 (all after nothing changed: before CHANGE), none in G3 or G4
ROWS = [
    {"external_id": "f1", "category": "parking", "reported_at": T, "lon": 120.002, "lat": 31.905},
    {"external_id": "f2", "category": "parking", "reported_at": T, "lon": 120.003, "lat": 31.905},
    {"external_id": "f3", "category": "dispute", "reported_at": T, "lon": 120.015, "lat": 31.905},
]
CURRENT = sorted({g for g, _c, _vf, vt, _w in GRIDS if vt is None})
COMMUNITY = {g: c for g, c, *_ in GRIDS}


@pytest.fixture
def world(client, db):
    make_world(db)
    with db.begin() as conn:
        ingest_frame(conn, incident_frame(ROWS), region_code=REGION)
    return client


def _known_categories(db) -> list[str]:
    with db.connect() as conn:
        return list(conn.execute(text("SELECT code FROM incident_categories ORDER BY code")).scalars())


def _problem(r, status):
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    return r.json()


@pytest.mark.parametrize("path", ["/incidents/stats", "/incidents/hotspots", "/incidents/heatmap",
                                  "/incidents/hotspots/map"])
def test_unknown_category_is_422_listing_the_known_ones(world, db, path):
    body = _problem(world.get(path, params={"category": "parking,ufo"}), 422)
    known = _known_categories(db)
    assert body["known_categories"] == known
    assert [e["field"] for e in body["errors"]] == ["category"]
    assert "'ufo'" in body["detail"] and all(c in body["detail"] for c in known)
    assert "'parking'" not in body["detail"]  # only the unknown one is named as unknown


@pytest.mark.parametrize("path", ["/incidents/stats", "/incidents/hotspots", "/incidents/heatmap",
                                  "/incidents/hotspots/map"])
def test_reversed_window_is_422_naming_from_and_to(world, path):
    body = _problem(world.get(path, params={"from": "2025-05-01T00:00:00Z", "to": "2025-01-01T00:00:00Z"}), 422)
    assert sorted(e["field"] for e in body["errors"]) == ["from", "to"]
    ok = world.get(path, params={"from": "2025-01-01T00:00:00Z", "to": "2025-05-01T00:00:00Z",
                                 "min_incidents": 1})
    assert ok.status_code in (200, 422)  # hotspots may still refuse too few incidents, but not the window
    if ok.status_code == 422:
        assert "window" not in ok.json()["detail"]


@pytest.mark.parametrize("path", ["/incidents/stats", "/incidents/hotspots"])
def test_unknown_area_is_404_known_ones_are_not(world, path):
    body = _problem(world.get(path, params={"area": "999"}), 404)
    assert "'999'" in body["detail"]
    for code in ("G4", "C1", "T1", REGION):  # G4 has no incident but exists
        r = world.get(path, params={"area": code, "min_incidents": 1})
        if path.endswith("hotspots"):  # 4 grids, 3 incidents: Gi* may refuse too little data, not the area
            assert r.status_code in (200, 422) and "jurisdiction" not in r.text, (code, r.text)
        else:
            assert r.status_code == 200, (code, r.text)


def test_area_outside_the_jurisdiction_is_unknown(world, db):
    with db.connect() as conn:
        IncidentFilter(area="G4").check(conn, Jurisdiction(frozenset({"C2"})))
        with pytest.raises(NotFound):
            IncidentFilter(area="G1").check(conn, Jurisdiction(frozenset({"C2"})))
        with pytest.raises(NotFound):
            IncidentFilter(area="C1").check(conn, Jurisdiction(frozenset({"C2"})))


@pytest.mark.parametrize("args, words", [
    (["stats", "--category", "ufo"], "known categories"),
    (["stats", "--area", "999"], "'999'"),
    (["stats", "--from", "2025-05-01", "--to", "2025-01-01"], "after"),
    (["hotspots", "--category", "ufo"], "known categories"),
    (["hotspots", "--area", "999"], "'999'"),
    (["hotspots", "--from", "2025-05-01", "--to", "2025-01-01"], "after"),
])
def test_cli_refuses_wrong_filters(world, pg_url, monkeypatch, args, words):
    r = run_cli(pg_url, monkeypatch, ["incidents", *args])
    assert r.exit_code == 2, r.output
    assert words in " ".join(r.output.split()) and "Traceback" not in r.output


@pytest.mark.parametrize("level", ["grid", "community", "town"])
def test_areas_without_incidents_have_zero_rows(world, db, level):
    counts = {"grid": {"G1": 2, "G2": 1}, "community": {"C1": 2, "C2": 1}, "town": {"T1": 3}}[level]
    units = {"grid": CURRENT, "community": sorted(set(COMMUNITY.values())), "town": ["T1"]}[level]
    hh = {"grid": HOUSEHOLDS, "community": {"C1": HOUSEHOLDS["G1"] + HOUSEHOLDS["G3"], "C2": HOUSEHOLDS["G2"]},
          "town": {"T1": sum(HOUSEHOLDS.values())}}[level]
    with db.connect() as conn:
        rows = area_stats(conn, EVERYWHERE, tz=TZ, level=level, min_count=1, period=None).rows.set_index("code")
    assert sorted(rows.index) == units
    for code in units:
        n = counts.get(code, 0)
        assert rows.loc[code, "incidents"] == n and rows.loc[code, "closed"] == 0 and rows.loc[code, "overdue"] >= 0
        if hh.get(code):
            assert rows.loc[code, "rate_per_100_households"] == pytest.approx(100 * n / hh[code])
        else:
            assert rows.loc[code, "rate_per_100_households"] != rows.loc[code, "rate_per_100_households"]  # NaN
        if n == 0:
            assert pd.isna(rows.loc[code, "rank"])  # below min_count 1: no rank
    assert rows.loc[:, "name"].notna().all()


def test_zero_rows_over_http_respect_area_window_and_min_count(world):
    j = world.get("/incidents/stats", params={"level": "grid", "category": "parking", "min_count": 0}).json()
    by = {r["code"]: r for r in j["rows"]}
    assert sorted(by) == CURRENT
    assert by["G3"]["incidents"] == 0 and by["G3"]["rate_per_100_households"] == 0.0
    assert by["G2"]["incidents"] == 0 and by["G4"]["rate_per_100_households"] is None
    assert by["G1"]["rank"] == 1 and by["G3"]["rank"] == 2  # min_count 0: a rate of 0 is ranked too
    j = world.get("/incidents/stats", params={"level": "grid", "area": "C2", "min_count": 2}).json()
    assert sorted(r["code"] for r in j["rows"]) == sorted(g for g in CURRENT if COMMUNITY[g] == "C2")
    assert all(r["rank"] is None for r in j["rows"])  # G2 has 1 < 2
    empty = world.get("/incidents/stats", params={"level": "community", "from": "2024-01-01T00:00:00Z",
                                                  "to": "2024-02-01T00:00:00Z"}).json()
    assert {r["code"]: r["incidents"] for r in empty["rows"]} == {"C1": 0, "C2": 0}
    assert empty["totals"]["incidents"] == 0


def test_the_incident_list_refuses_wrong_filters_too(world):
    assert world.get("/incidents", params={"category": "parking"}).status_code == 200
    body = _problem(world.get("/incidents", params={"category": "ufo"}), 422)
    assert [e["field"] for e in body["errors"]] == ["category"]
    body = _problem(world.get("/incidents", params={"status": "reported,lost"}), 422)
    assert [e["field"] for e in body["errors"]] == ["status"] and "'lost'" in body["detail"]
    _problem(world.get("/incidents", params={"area": "999"}), 404)
    _problem(world.get("/incidents", params={"grid": "NOPE"}), 404)
    _problem(world.get("/incidents", params={"from": "2025-05-01T00:00:00Z", "to": "2025-01-01T00:00:00Z"}), 422)
    assert world.get("/incidents", params={"grid": CURRENT[0], "status": "reported"}).status_code == 200


def test_resolve_area_names_the_level_and_its_parents(world, db):
    from api.db.areas import Area, resolve_area

    with db.connect() as conn:
        assert resolve_area(conn, "G4", EVERYWHERE) == Area("G4", "grid", "G4", REGION, "T1", "C2")
        assert resolve_area(conn, "C1", EVERYWHERE) == Area("C1", "community", "Community 1", REGION, "T1", "C1")
        assert resolve_area(conn, "T1", EVERYWHERE) == Area("T1", "town", "Town 1", REGION, "T1", None)
        assert resolve_area(conn, REGION, EVERYWHERE).level == "region"
        assert resolve_area(conn, "G4", Jurisdiction(frozenset({"C2"}))).level == "grid"
        for code, scope in [("999", EVERYWHERE), ("G1", Jurisdiction(frozenset({"C2"}))),
                            ("T1", Jurisdiction(frozenset()))]:
            with pytest.raises(NotFound):
                resolve_area(conn, code, scope)
