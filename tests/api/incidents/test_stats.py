"""Statistics against an independent pandas + shapely computation on the same incidents."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest
import shapely

from api.incidents.intake import ingest_frame
from api.incidents.filters import IncidentFilter
from api.incidents.stats import area_stats
from api.jurisdiction import EVERYWHERE, Jurisdiction
from geo.layers import INCIDENT_CATEGORIES

from tests.support.cli import run_cli
from tests.support.incidents import GRIDS, HOUSEHOLDS, REGION, incident_frame, make_world

AS_OF = datetime(2025, 4, 20, tzinfo=timezone.utc)  # inside the window: some open cases not yet due
T0 = datetime(2025, 1, 15, tzinfo=timezone.utc)
TZ = "Asia/Shanghai"  # the default GRIDMAP_TIMEZONE


def _random_incidents(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    cats = rng.choice(["parking", "dispute", "environment"], n)
    reported = [T0 + timedelta(hours=float(h)) for h in rng.uniform(0, 24 * 100, n)]
    status = rng.choice(["reported", "dispatched", "in_progress", "resolved", "closed_other"], n,
                        p=[.1, .1, .1, .5, .2])
    hours = rng.gamma(2.0, 20.0, n)
    rows = []
    for i in range(n):
        closed = status[i] in ("resolved", "closed_other")
        rows.append({
            "external_id": f"s{i}", "category": cats[i], "reported_at": reported[i],
            "lon": rng.uniform(119.992, 120.0199), "lat": rng.uniform(31.9001, 31.9199),
            "status": status[i],
            "closed_at": reported[i] + timedelta(hours=float(hours[i])) if closed else None,
            "close_reason": "duplicate" if status[i] == "closed_other" else None,
        })
    return pd.DataFrame(rows)


def _expected_grid(df: pd.DataFrame) -> pd.Series:
    """Grid code of each incident by shapely point-in-polygon on the grid version valid then."""
    out = []
    for lon, lat, t in zip(df.lon, df.lat, df.reported_at):
        code = None
        for g, _c, vf, vt, wkt in GRIDS:
            if (vf is None or vf <= t) and (vt is None or t < vt) and \
                    shapely.intersects(shapely.from_wkt(wkt), shapely.Point(lon, lat)):
                code = g
                break
        out.append(code)
    return pd.Series(out, index=df.index)


@pytest.fixture
def loaded(db):
    make_world(db)
    df = _random_incidents(600, seed=7)
    with db.begin() as conn:
        rep = ingest_frame(conn, incident_frame(df.to_dict("records")), region_code=REGION)
    assert rep.inserted == 600
    df["grid"] = _expected_grid(df)
    df["community"] = df.grid.map({"G1": "C1", "G3": "C1", "G2": "C2", "G4": "C2"})
    west = df.grid.isna() & (df.lon < 120.01)  # C1's area reaches west of the grids
    df.loc[west, "community"] = "C1"
    sla = {k: v[2] for k, v in INCIDENT_CATEGORIES.items()}
    df["due_at"] = df.reported_at + pd.to_timedelta(df.category.map(sla), unit="h")
    return db, df


def _expected(df: pd.DataFrame, key: str, households: dict, min_count: int) -> pd.DataFrame:
    d = df[df[key].notna()].copy()
    d["hours"] = (pd.to_datetime(d.closed_at, utc=True) - pd.to_datetime(d.reported_at, utc=True)) \
        .dt.total_seconds() / 3600
    rows = []
    for code, g in d.groupby(key):
        n = len(g)
        closed = g.status.isin(["resolved", "closed_other"])
        open_ = ~closed
        hh = households.get(code)
        rows.append({
            "code": code, "incidents": n, "households": hh,
            "rate_per_100_households": 100 * n / hh if hh else None,
            "closed": int(closed.sum()), "resolved": int((g.status == "resolved").sum()),
            "closed_other": int((g.status == "closed_other").sum()),
            "closure_rate": closed.mean(), "resolution_rate": (g.status == "resolved").mean(),
            "median_hours_to_close": g.hours.median(), "p90_hours_to_close": g.hours.quantile(0.9),
            "overdue": int((open_ & (g.due_at < AS_OF)).sum()),
        })
    e = pd.DataFrame(rows).set_index("code")
    ok = (e.incidents >= min_count) & e.rate_per_100_households.notna()
    e["rank"] = e.rate_per_100_households.where(ok).rank(ascending=False, method="min")
    return e


@pytest.mark.parametrize("level, key", [("grid", "grid"), ("community", "community")])
def test_stats_match_pandas(loaded, level, key):
    db, df = loaded
    hh = dict(HOUSEHOLDS) if level == "grid" else {"C1": HOUSEHOLDS["G1"] + HOUSEHOLDS["G3"], "C2": HOUSEHOLDS["G2"]}
    with db.connect() as conn:
        got = area_stats(conn, EVERYWHERE, tz=TZ, level=level, min_count=100, as_of=AS_OF).rows.set_index("code")
    exp = _expected(df, key, hh, 100)
    assert sorted(got.index) == sorted(exp.index)
    for col in exp.columns:
        g = got.loc[exp.index, col].astype(float)
        e = exp[col].astype(float)
        assert np.allclose(g.to_numpy(), e.to_numpy(), equal_nan=True, rtol=1e-9), col


def test_window_category_area_and_town_level(loaded):
    db, df = loaded
    start, end = datetime(2025, 2, 1, tzinfo=timezone.utc), datetime(2025, 3, 1, tzinfo=timezone.utc)
    sel = df[(df.reported_at >= start) & (df.reported_at < end) & (df.category == "parking")]
    with db.connect() as conn:
        s = area_stats(conn, EVERYWHERE, IncidentFilter(start=start, end=end, categories=("parking",), area="T1"),
                       tz=TZ, level="town", as_of=AS_OF, period="week")
    assert list(s.rows.code) == ["T1"]
    assert s.rows.incidents[0] == sel.community.notna().sum()  # town known through the community
    assert s.totals["incidents"] == len(sel)
    assert s.totals["outside_grid"] == sel.grid.isna().sum()
    assert s.rows.households[0] == sum(HOUSEHOLDS.values())
    assert s.trend.incidents.sum() == s.rows.incidents[0]
    local = pd.to_datetime(sel[sel.community.notna()].reported_at, utc=True).dt.tz_convert("Asia/Shanghai")
    weeks = local.dt.tz_localize(None).dt.to_period("W-SUN").dt.start_time.value_counts().sort_index()
    got = s.trend.set_index(s.trend.period_start.dt.tz_convert("Asia/Shanghai").dt.tz_localize(None)).incidents
    assert got.to_dict() == weeks.to_dict()


def test_resolution_kept_apart_from_closure(loaded):
    db, df = loaded
    with db.connect() as conn:
        t = area_stats(conn, EVERYWHERE, tz=TZ, level="grid", as_of=AS_OF, period=None).totals
    assert t["closed"] == df.status.isin(["resolved", "closed_other"]).sum()
    assert t["resolved"] == (df.status == "resolved").sum()
    assert t["closure_rate"] > t["resolution_rate"]


def test_scope_limits_rows(loaded):
    db, _ = loaded
    with db.connect() as conn:
        only = area_stats(conn, Jurisdiction(frozenset({"C2"})), tz=TZ, level="grid", as_of=AS_OF, period=None).rows
        none = area_stats(conn, Jurisdiction(frozenset()), tz=TZ, level="grid", as_of=AS_OF, period=None)
    assert set(only.code) <= {"G2", "G4"} and len(only) > 0
    assert none.rows.empty and none.totals["incidents"] == 0


def test_cli_stats_table_and_csv(loaded, pg_url, tmp_path, monkeypatch):
    db, df = loaded
    out = tmp_path / "s.csv"
    r = run_cli(pg_url, monkeypatch, ["incidents", "stats", "--level", "community", "--category", "parking",
                                      "--csv", str(out)])
    assert r.exit_code == 0, r.output
    assert "C1" in r.output and "C2" in r.output
    got = pd.read_csv(out).set_index("code")["incidents"].to_dict()
    sel = df[df.category == "parking"]
    assert got == sel.groupby("community").size().to_dict()


@pytest.mark.parametrize("zone", ["UTC", "Asia/Shanghai"])
def test_months_follow_the_configured_zone(db, settings, zone):
    """GRIDMAP_TIMEZONE is honoured by the statistics' trend and the heatmap's frames: the same
    incidents fall into other months in UTC than in Beijing time (checked with zoneinfo)."""
    from zoneinfo import ZoneInfo

    from fastapi.testclient import TestClient

    from api.app import create_app
    from api.incidents.filters import IncidentFilter
    from api.incidents.heat import heat_frames

    make_world(db)
    times = [datetime(2025, 1, 31, 17, tzinfo=timezone.utc),  # 1 Feb 01:00 in Beijing, 31 Jan in UTC
             datetime(2025, 2, 28, 20, tzinfo=timezone.utc),  # 1 Mar 04:00 in Beijing
             datetime(2025, 2, 10, 12, tzinfo=timezone.utc)]
    with db.begin() as conn:
        ingest_frame(conn, incident_frame([{"external_id": f"z{i}", "category": "parking", "reported_at": t,
                                            "lon": 120.002, "lat": 31.905} for i, t in enumerate(times)]),
                     region_code=REGION)
    expected = pd.Series([t.astimezone(ZoneInfo(zone)).strftime("%Y-%m") for t in times]).value_counts().to_dict()
    local = settings.model_copy(update={"timezone": zone})
    with TestClient(create_app(local)) as c:
        j = c.get("/incidents/stats", params={"level": "town", "period": "month"}).json()
    got = {}
    for r in j["trend"]:
        month = datetime.fromisoformat(r["period_start"]).astimezone(ZoneInfo(zone))
        assert (month.day, month.hour, month.minute) == (1, 0, 0)  # a month starts at local midnight
        got[month.strftime("%Y-%m")] = got.get(month.strftime("%Y-%m"), 0) + r["incidents"]
    assert got == expected
    with db.connect() as conn:
        heat = heat_frames(conn, local, EVERYWHERE, IncidentFilter(start=datetime(2025, 1, 1, tzinfo=ZoneInfo(zone)),
                                                                   end=datetime(2025, 4, 1, tzinfo=ZoneInfo(zone))),
                           period="month")
    assert {lab: len(f) for lab, f in zip(heat["labels"], heat["frames"]) if f} == expected
    assert heat["labels"][:3] == ["2025-01", "2025-02", "2025-03"]  # local months


@pytest.mark.parametrize("period", ["month", "week"])
def test_the_answer_is_plain_json_as_the_route_writes_it(loaded, period):
    """GET /incidents/stats writes ``as_dict()`` with json.dumps, not FastAPI's encoder: it must hold
    only JSON values (no numpy scalars, NaN or Timestamps) and read back as the encoder would give it."""
    import json

    from fastapi.encoders import jsonable_encoder

    db, _ = loaded
    with db.connect() as conn:
        out = area_stats(conn, EVERYWHERE, tz=TZ, level="grid", min_count=100, period=period, as_of=AS_OF).as_dict()
    assert out["rows"] and out["trend"]
    assert json.loads(json.dumps(out, allow_nan=False)) == jsonable_encoder(out)
