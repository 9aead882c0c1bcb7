"""``POST /siting`` (at once and as a job), ``GET /siting/jobs/{id}``, Idempotency-Key, problem+json,
and the ``/siting/map`` page in headless Chromium (offline; its what-if button asks the coverage API)."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.coverage import CoverageService
from api.jurisdiction import EVERYWHERE
from api.siting import SitingParams, SitingService


@pytest.fixture(scope="module")
def app_client(world, settings):
    from api.app import create_app

    with TestClient(create_app(settings.model_copy(update={"siting_sync_candidates": 2000}))) as c:
        yield c


@pytest.fixture(scope="module")
def direct(engine, world):
    return SitingService(CoverageService(engine, warm_polygons=False))


def _wait(client, url, timeout_s=60.0) -> dict:
    deadline = time.monotonic() + timeout_s
    while True:
        doc = client.get(url).json()
        if doc["status"] in ("done", "failed") or time.monotonic() > deadline:
            return doc
        time.sleep(0.1)


def test_post_siting_answers_at_once(app_client, direct):
    r = app_client.post("/siting", json={"k": 2})
    assert r.status_code == 200, r.text
    body = r.json()
    want = direct.propose(EVERYWHERE, SitingParams(k=2))
    assert body["totals"] == want.as_json()["totals"]
    assert [s["candidate_id"] for s in body["sites"]] == list(want.sites()["candidate_id"])
    assert body["model"]["status"] == "optimal" and body["model"]["gap"] == 0
    assert len(body["gain_curve"]) == 2 and body["levels"]["grid"] and body["levels"]["community"]
    assert len(body["service_areas"]["features"]) == len(body["sites"])
    assert body["links"]["map"].startswith("/siting/map?")
    # each site's what-if question is the coverage what-if's: adding the first site alone adds its gain
    w = app_client.post("/coverage/what-if", json=body["sites"][0]["what_if"])
    assert w.status_code == 200, w.text
    assert w.json()["delta"] == body["sites"][0]["gain"]


@pytest.mark.parametrize("question", [{"k": 4, "minutes": 4}, {"k": 2, "close": 3, "minutes": 4},
                                      {"k": 0, "close": 2}])
def test_a_whole_proposal_is_one_what_if(app_client, question):
    """The proposal's ``what_if`` (every new site and every closure together) answers the
    proposal's newly covered households, grid by grid; the sites' own one-site questions add up
    to at least as much (their reaches overlap)."""
    body = app_client.post("/siting", json=question).json()
    q = body["what_if"]
    assert len(body["sites"]) == question["k"]  # several sites: their reaches may overlap
    assert len(q["sites"]) == len(body["sites"]) and len(q["station_ids"]) == len(body["closed"]) == question.get("close", 0)
    w = app_client.post("/coverage/what-if", json=q)
    assert w.status_code == 200, w.text
    w = w.json()
    t = body["totals"]
    assert (w["covered_before"], w["covered_after"], w["delta"]) == (t["covered_before"], t["covered_after"],
                                                                     t["newly_covered"])
    changed = {r["code"]: (r["covered_before"], r["covered_after"]) for r in body["levels"]["grid"]
               if r["newly_covered"]}
    assert {g["grid_code"]: (g["covered_before"], g["covered_after"]) for g in w["grids"] if g["delta"]} == changed
    if question["k"] and not question.get("close"):
        assert w["delta"] <= sum(app_client.post("/coverage/what-if", json=s["what_if"]).json()["delta"]
                                 for s in body["sites"])


def test_what_if_of_several_sites_is_checked(app_client):
    st = app_client.get("/collections/stations/items?limit=2").json()["features"]
    (x, y) = st[0]["geometry"]["coordinates"]
    r = app_client.post("/coverage/what-if", json={"action": "close", "station_id": st[0]["id"],
                                                   "sites": [{"lon": x, "lat": y}]})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "sites", r.text
    r = app_client.post("/coverage/what-if", json={"action": "change"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "sites", r.text
    far = {"lon": x + 0.5, "lat": y}  # ~50 km east: no street within the snap distance
    r = app_client.post("/coverage/what-if", json={"action": "add", "sites": [{"lon": x, "lat": y}, far]})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "sites.1", r.text
    r = app_client.post("/coverage/what-if", json={"action": "change", "station_ids": [st[0]["id"], 10**9]})
    assert r.status_code == 404, r.text
    r = app_client.post("/coverage/what-if", json={"action": "add", "sites": [{"lon": x, "lat": y}] * 201})
    assert r.status_code == 422, r.text
    both = app_client.post("/coverage/what-if", json={"action": "close", "station_ids": [f["id"] for f in st]}).json()
    one = [app_client.post("/coverage/what-if", json={"action": "close", "station_id": f["id"]}).json() for f in st]
    assert both["delta"] <= sum(o["delta"] for o in one) <= 0


def test_post_siting_as_job(app_client):
    r = app_client.post("/siting", json={"k": 2, "job": True})
    assert r.status_code == 202, r.text
    loc = r.headers["location"]
    assert loc == r.json()["links"]["self"] == f"/siting/jobs/{r.json()['id']}"
    doc = _wait(app_client, loc)
    assert doc["status"] == "done", doc
    assert doc["started_at"] and doc["finished_at"]
    sync = app_client.post("/siting", json={"k": 2}).json()
    assert doc["result"]["totals"] == sync["totals"]
    assert doc["result"]["sites"] == sync["sites"]


def test_large_question_becomes_a_job(world, settings):
    from api.app import create_app

    with TestClient(create_app(settings.model_copy(update={"siting_sync_candidates": 10}))) as c:
        r = c.post("/siting", json={"k": 1, "candidates": "streets", "curve": False})
        assert r.status_code == 202
        assert _wait(c, r.headers["location"])["status"] == "done"
        r = c.post("/siting", json={"k": 1, "candidates": "streets", "curve": False, "job": False})
        assert r.status_code == 200


def test_idempotency_key(app_client, engine):
    with engine.connect() as conn:
        before = conn.execute(text("SELECT count(*) FROM siting_jobs")).scalar()
    h = {"Idempotency-Key": "siting-test-1"}
    a = app_client.post("/siting", json={"k": 1, "job": True}, headers=h)
    b = app_client.post("/siting", json={"k": 1, "job": True}, headers=h)
    assert a.status_code == b.status_code == 202
    assert a.json()["id"] == b.json()["id"] and b.headers["location"] == a.headers["location"]
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM siting_jobs")).scalar() == before + 1
    c = app_client.post("/siting", json={"k": 2, "job": True}, headers=h)
    assert c.status_code == 409 and c.headers["content-type"].startswith("application/problem+json")
    s1 = app_client.post("/siting", json={"k": 1}, headers={"Idempotency-Key": "siting-test-2"})
    s2 = app_client.post("/siting", json={"k": 1}, headers={"Idempotency-Key": "siting-test-2"})
    assert s1.status_code == s2.status_code == 200 and s1.json() == s2.json()


def test_candidate_points_and_a_failed_job(app_client, world):
    d = world["dwellings"].geometry.iloc[:2]
    fc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"name": n}, "geometry": {"type": "Point", "coordinates": [p.x, p.y]}}
        for n, p in zip(("p1", "p2"), d)]}
    r = app_client.post("/siting", json={"k": 1, "candidates": fc})
    assert r.status_code == 200, r.text
    assert {s["candidate_id"] for s in r.json()["sites"]} <= {"p1", "p2"}
    r = app_client.post("/siting", json={"k": 3, "candidates": fc, "job": True})
    assert r.status_code == 202
    doc = _wait(app_client, r.headers["location"])
    assert doc["status"] == "failed" and doc["error"]["status"] == 422
    assert any(e.get("field") == "k" for e in doc["error"]["errors"])


@pytest.mark.parametrize("body, status, field", [
    ({"k": -1}, 422, "k"), ({"model": "x"}, 422, "model"), ({"candidates": "x"}, 422, "candidates"),
    ({"candidates": {"type": "Point"}}, 422, "candidates"), ({"k": 0}, 422, "k"),
    ({"model": "mclp", "target": 0.5}, 422, "target"), ({"area": "nowhere"}, 404, None),
])
def test_invalid_questions(app_client, body, status, field):
    r = app_client.post("/siting", json=body)
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    if field:
        assert field in r.text


def test_unknown_job_is_404(app_client):
    assert app_client.get("/siting/jobs/0123456789abcdef").status_code == 404
    assert app_client.get("/siting/map?job=0123456789abcdef").status_code == 404


@pytest.mark.browser
def test_siting_map_page(app_client, settings, world, browser):
    from tests.support.browser import live_server, open_page

    job = app_client.post("/siting", json={"k": 2, "job": True}).json()
    doc = _wait(app_client, job["links"]["self"])
    sites = doc["result"]["sites"]
    page_html = app_client.get(job["links"]["map"])
    assert page_html.status_code == 200 and sites[0]["candidate_id"] in page_html.text
    assert app_client.get(doc["links"]["map"] + "&lang=en").text.count("Station siting proposal") >= 1
    with live_server(settings) as base:
        page, report = open_page(browser, base + job["links"]["map"], ready="window.gridmapSiting !== undefined")
        try:
            assert page.evaluate("document.querySelectorAll('path.leaflet-interactive').length") >= len(sites)
            # as a person would: open the first site's popup, press its what-if button, read the answer
            opened = page.evaluate("""() => { let done = false;
                const map = Object.values(window).find(v => v instanceof L.Map);
                map.eachLayer(l => { const p = l.getPopup && l.getPopup(); if (done || !p) return;
                    const c = p.getContent(); const h = typeof c === 'string' ? c : (c.innerHTML || c.outerHTML || '');
                    if (h.includes('gridmapSitingCheck(0,')) { l.openPopup(); done = true; } });
                return done; }""")
            assert opened
            page.click("#gridmap-whatif-0 >> xpath=preceding-sibling::button[1]")
            page.wait_for_function("document.getElementById('gridmap-whatif-0').textContent.length > 0")
            text_ = page.evaluate("document.getElementById('gridmap-whatif-0').textContent")
            assert f"{int(sites[0]['gain']):,}" in text_, text_
            # the whole proposal at once: the what-if says the proposal's own newly covered households
            page.click("#gridmap-siting-check-all")
            page.wait_for_function("document.getElementById('gridmap-whatif-all').textContent.length > 0")
            text_ = page.evaluate("document.getElementById('gridmap-whatif-all').textContent")
            n = f"{doc['result']['totals']['newly_covered']:,}"
            from api import i18n

            assert text_ == i18n.t("siting.checked_all", settings.language).format(n=n, m=n), text_
            report.assert_clean()
        finally:
            page.close()
    # a question answered for the page itself
    r = app_client.get("/siting/map?k=1&minutes=8")
    assert r.status_code == 200 and "gridmapSiting" in r.text


def test_jobs_left_by_a_stopped_process(world, settings, engine):
    """An app that starts runs the jobs left queued and fails those left running for hours."""
    import json

    from api.app import create_app

    params = json.dumps(SitingParams(k=1, curve=False).as_dict())
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO siting_jobs (id, params, status) VALUES ('left0queued', :p, 'queued')"),
                     {"p": params})
        conn.execute(text("INSERT INTO siting_jobs (id, params, status, started_at) VALUES "
                          "('left0running', :p, 'running', now() - interval '3 hours')"), {"p": params})
        conn.execute(text("INSERT INTO siting_jobs (id, params, status, started_at) VALUES "
                          "('fresh0running', :p, 'running', now())"), {"p": params})
    with TestClient(create_app(settings)) as c:
        assert _wait(c, "/siting/jobs/left0queued")["status"] == "done"
        stale = c.get("/siting/jobs/left0running").json()
        assert stale["status"] == "failed" and stale["error"]["title"] == "Interrupted"
        assert c.get("/siting/jobs/fresh0running").json()["status"] == "running"  # another process's, untouched


def test_api_scope(world, settings):
    """A caller whose jurisdiction leaves out a community: its households are no demand, the jobs of a
    wider jurisdiction are not the caller's, the area outside is 404."""
    from api import deps
    from api.app import create_app
    from api.jurisdiction import Jurisdiction
    from geo.coverage import assign_to_grids

    comms = sorted(world["areas"][world["areas"]["level"] == "community"]["code"])
    scope = Jurisdiction(frozenset(comms[1:]))
    app = create_app(settings)
    with TestClient(app) as c:
        wide = c.post("/siting", json={"k": 1, "job": True, "candidates": "streets", "curve": False}).json()
        app.dependency_overrides[deps.jurisdiction] = lambda: scope
        r = c.post("/siting", json={"k": 1, "candidates": "streets", "curve": False, "job": False})
        assert r.status_code == 200, r.text
        body = r.json()
        a = assign_to_grids(world["dwellings"], world["grids"])
        inside = a["community_code"].isin(comms[1:]).to_numpy()
        assert body["totals"]["households"] == int(world["dwellings"]["households"].to_numpy()[inside].sum())
        assert {row["code"] for row in body["levels"]["community"]} <= set(comms[1:])
        assert c.get(wide["links"]["self"]).status_code == 404
        assert c.post("/siting", json={"k": 1, "area": comms[0]}).status_code == 404
        mine = c.post("/siting", json={"k": 1, "job": True, "candidates": "streets", "curve": False}).json()
        assert _wait(c, mine["links"]["self"])["status"] == "done"
