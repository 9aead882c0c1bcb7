"""Errors a browser meets on the pages are pages (in its language, with the right status); API
clients get problem+json with title and detail in the language they ask for."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("path", ["/coverage/map?area=999999", "/incidents/heatmap?area=999999",
                                  "/incidents/hotspots/map?area=999999", "/map?area=999999"])
def test_unknown_area_is_a_404_page(client, path):
    r = client.get(path, headers={"Accept": "text/html"})
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("text/html")
    assert "未找到" in r.text and "999999" in r.text and 'href="/"' in r.text
    en = client.get(path + "&lang=en", headers={"Accept": "text/html"})
    assert en.status_code == 404 and "Not found" in en.text and "未找到" not in en.text


def test_wrong_filter_is_shown_on_the_page(client):
    r = client.get("/incidents/heatmap?from=2026-05-01&to=2026-01-01", headers={"Accept": "text/html"})
    assert r.status_code == 422 and r.headers["content-type"].startswith("text/html")
    assert "时间段颠倒" in r.text and "2026-05-01" in r.text
    assert 'href="/incidents/heatmap"' in r.text  # back to the page without the bad filter
    bad = client.get("/incidents/heatmap?from=yesterday", headers={"Accept": "text/html"})
    assert bad.status_code == 422 and "text/html" in bad.headers["content-type"]
    assert "from" in bad.text and "应为日期" in bad.text


def test_api_errors_follow_accept_language(client):
    zh = client.get("/incidents/stats?area=999999", headers={"Accept-Language": "zh-CN"})
    assert zh.status_code == 404 and zh.headers["content-type"] == "application/problem+json"
    assert zh.json()["title"] == "未找到" and "999999" in zh.json()["detail"] and "辖区" in zh.json()["detail"]
    en = client.get("/incidents/stats?area=999999", headers={"Accept-Language": "en"})
    assert en.json()["title"] == "Not found"
    assert en.json()["detail"] == "no town, community, grid or county '999999' in your jurisdiction"
    # a page asked for as JSON stays problem+json
    j = client.get("/coverage/map?area=999999", headers={"Accept": "application/json"})
    assert j.status_code == 404 and j.headers["content-type"] == "application/problem+json"
    # a client that names no language gets English (the language of /docs)
    plain = client.get("/incidents/stats?area=999999").json()
    assert plain["title"] == "Not found" and "jurisdiction" in plain["detail"]


def test_hotspot_page_without_enough_incidents_says_why_in_chinese(client):
    page = client.get("/incidents/hotspots/map", headers={"Accept": "text/html"}).text
    assert "事件太少，无法做热点分析：0 件事件；至少需要 30 件" in page
    assert "too few" not in page
    assert "too few incidents" in client.get("/incidents/hotspots/map?lang=en").text
