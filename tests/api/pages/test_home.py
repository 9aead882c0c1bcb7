"""The home page ``/``: what gridmap holds (counted independently from the generated sample), a link to
every page, the language switch, and the JSON landing for API clients."""

from __future__ import annotations

import re

import pytest
from tests.support.sample import load_sample


@pytest.fixture
def sample(db):
    return load_sample(db, 3000, seed=3)


def _figures(html: str) -> dict[str, int]:
    return {k: int(v.replace(",", "")) for k, v in
            re.findall(r'data-figure="(\w+)"><span class="n">([\d,]+)</span>', html)}


def test_home_counts_and_links(client, sample):
    r = client.get("/", headers={"Accept": "text/html"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    page = r.text
    assert '<html lang="zh">' in page and "gridmap 网格治理地图" in page
    areas = sample["areas"]
    want = {"towns": int((areas["level"] == "town").sum()),
            "communities": int((areas["level"] == "community").sum()),
            "grids": len(sample["grids"]), "households": int(sample["dwellings"]["households"].sum()),
            "stations": len(sample["stations"]), "incidents": 0}
    assert _figures(page) == want
    assert want["households"] > 0 and want["grids"] > 0
    for path in ("/map", "/coverage/map", "/incidents/heatmap", "/incidents/hotspots/map", "/docs", "#downloads"):
        assert f'href="{path}"' in page
    # every linked page answers (the downloads are checked with the exports)
    for path in ("/map", "/coverage/map", "/incidents/heatmap", "/incidents/hotspots/map", "/docs"):
        assert client.get(path).status_code == 200, path
    assert 'data-lang="en"' in page and 'data-lang="zh"' in page


def test_home_in_english_and_empty(client):
    page = client.get("/?lang=en", headers={"Accept": "text/html"}).text
    assert '<html lang="en">' in page and "What gridmap holds" in page
    assert _figures(page) == dict.fromkeys(("towns", "communities", "grids", "households", "stations",
                                            "incidents"), 0)
    assert "gridmap demo" in page  # tells a new user how to get data
    assert "Overview map" in client.get("/", headers={"Accept-Language": "en-GB,en;q=0.9", "Accept": "text/html"}).text


def test_home_json_landing(client):
    # a client that names no HTML (curl, OWSLib: */* or nothing) is an API client too
    for kw in ({"params": {"f": "json"}}, {"headers": {"Accept": "application/json"}}, {"headers": {"Accept": "*/*"}}):
        r = client.get("/", **kw)
        assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
        rels = {link["rel"]: link["href"] for link in r.json()["links"]}
        assert {"service-desc", "conformance", "data"} <= set(rels)
        assert client.get(rels["service-desc"]).status_code == 200
        assert client.get(rels["data"]).status_code == 200
    assert client.get("/?f=html", headers={"Accept": "application/json"}).headers["content-type"].startswith("text/html")
