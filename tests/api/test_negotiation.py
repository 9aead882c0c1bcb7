"""api/negotiation.py: the one reader of Accept and Accept-Language (q-values, q=0, wildcards, order),
and the routes that decide HTML or JSON through it (home page, plans, error pages)."""

from __future__ import annotations

import pytest

from api import i18n
from api.negotiation import language, media_type, parse, prefers_html

BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8"


def test_parse_reads_weights_in_order_and_drops_bad_ones():
    got = [(r.value, r.q, r.position) for r in parse(" Text/HTML ;q=0.5, ,*/*;level=1, en;q=x, a;q=2, b;q=nan, c;Q=0.25")]
    assert got == [("text/html", 0.5, 0), ("*/*", 1.0, 2), ("en", 0.0, 3), ("a", 0.0, 4), ("b", 0.0, 5),
                   ("c", 0.25, 6)]
    assert parse(None) == parse("") == []


@pytest.mark.parametrize("accept, offers, want", [
    (None, ["application/json", "text/html"], "application/json"),  # no header: the server's first
    ("*/*", ["application/json", "text/html"], "application/json"),  # a tie: the server's first
    ("*/*", ["text/html", "application/json"], "text/html"),
    ("text/html, application/json", ["application/json", "text/html"], "text/html"),  # equal q: listed first
    ("application/json, text/html", ["text/html", "application/json"], "application/json"),
    ("text/html;q=0.5, application/json;q=0.9", ["text/html", "application/json"], "application/json"),
    ("text/*", ["application/json", "text/html"], "text/html"),  # a type wildcard
    ("text/html;q=0, */*", ["text/html", "application/json"], "application/json"),  # q=0 beats a wildcard
    ("text/*;q=0, text/html", ["text/html", "application/json"], "text/html"),  # the specific range counts
    ("image/png", ["text/html", "application/json"], None),  # nothing acceptable
    ("text/html;q=0, application/json;q=0", ["text/html", "application/json"], None),
    # RFC 9110 §12.5.1's example: text/html 0.3 (text/*), image/jpeg 0.5 (*/*), text/plain 0.7 or more
    ("text/*;q=0.3, text/plain;q=0.7, */*;q=0.5", ["text/html", "image/jpeg"], "image/jpeg"),
    ("text/*;q=0.3, text/plain;q=0.7, */*;q=0.5", ["image/jpeg", "text/plain"], "text/plain"),
])
def test_media_type(accept, offers, want):
    assert media_type(accept, offers) == want


@pytest.mark.parametrize("accept, default, want", [
    (None, False, False), (None, True, True),
    ("*/*", False, False), ("*/*", True, True),  # fetch(): JSON from the APIs, the page from a page
    (BROWSER, False, True), (BROWSER, True, True),
    ("application/json", True, False), ("application/geo+json", True, False),
    ("application/json, text/html;q=0.5", False, False),  # named, but JSON preferred
    ("text/html;q=0, */*", True, False),  # HTML refused outright
    ("image/png", True, True), ("image/png", False, False),  # neither: the default
])
def test_prefers_html(accept, default, want):
    assert prefers_html(accept, default=default) is want


@pytest.mark.parametrize("header, prefer, want", [
    (None, None, None), ("", "en", None),
    ("fr-FR, de;q=0.5", None, None),  # none of ours: the caller's default applies
    ("en-GB,en;q=0.9,zh;q=0.8", None, "en"),
    ("fr, en;q=0.5, zh;q=0.8", None, "zh"),
    ("zh-CN;q=0.5, en;q=0.5", None, "zh"),  # equal q: listed first
    ("en;q=0.5, zh-Hans-CN;q=0.5", None, "en"),
    ("zh_CN", None, "zh"),
    ("*", None, "zh"), ("*", "en", "en"),  # anything: gridmap's (or the caller's) first choice
    ("en;q=0, *", "en", "zh"),  # q=0 refuses a language the wildcard would admit
    ("zh;q=0, en;q=0", None, None),
    ("zh-TW;q=0, zh-CN", None, "zh"),  # the best range naming a language counts
])
def test_accept_language(header, prefer, want):
    assert i18n.accept_language(header, prefer) == want
    offers = [prefer] + [x for x in i18n.LANGS if x != prefer] if prefer else list(i18n.LANGS)
    assert language(header, offers) == want


def test_routes_negotiate_through_it(client, db):
    """The home page is HTML when HTML is preferred and otherwise the OGC landing (GIS clients send
    ``*/*`` or nothing); GET /plans is JSON unless HTML is preferred; an error on a page route is a
    page only for a client preferring HTML."""
    home = lambda accept: client.get("/", headers={"Accept": accept}).headers["content-type"]  # noqa: E731
    assert home(BROWSER).startswith("text/html") and home("text/html").startswith("text/html")
    assert home("*/*").startswith("application/json")
    assert home("application/json").startswith("application/json")
    assert home("text/html;q=0.2, application/json").startswith("application/json")
    plans = lambda accept: client.get("/plans", headers={"Accept": accept}).headers["content-type"]  # noqa: E731
    assert plans("*/*").startswith("application/json") and plans(BROWSER).startswith("text/html")
    assert plans("application/json, text/html;q=0.5").startswith("application/json")
    bad = lambda accept: client.get("/map?area=999999999999", headers={"Accept": accept})  # noqa: E731
    page, problem = bad(BROWSER), bad("application/json, text/html;q=0.1")
    assert page.status_code == problem.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert problem.headers["content-type"].startswith("application/problem+json")
