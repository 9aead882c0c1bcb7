"""The login page in a real browser: a page asked for without a session leads to the login form;
logging in lands on the page, whose data requests carry the session cookie and answer only the
user's town; logging out leads back to the form."""

from __future__ import annotations

import pytest

from tests.api.auth.conftest import PASSWORD
from tests.support.browser import live_server, open_page
from tests.support.towns import T1, T2

READY = "window.gridmap && gridmap.pending === 0"


@pytest.mark.browser
def test_login_then_map_then_logout(settings, users, browser):
    with live_server(settings) as base:
        page, report = open_page(browser, base + "/map")
        try:
            assert "/login?next=%2Fmap" in page.url
            assert page.locator("h1").inner_text() == "登录 gridmap"
            page.fill("#username", "off1")
            page.fill("#password", "wrong password")
            page.click("button[type=submit]")
            page.wait_for_load_state("load")
            assert "不正确" in page.locator(".error").inner_text()
            assert report.failed and all("401" in f for f in report.failed)  # refused: 401, as it should
            report.failed.clear()
            report.console_errors.clear()
            page.fill("#username", "off1")
            page.fill("#password", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url(base + "/map")
            page.wait_for_function(READY, timeout=20_000)
            page.wait_for_load_state("networkidle")
            report.assert_clean()  # every layer request was accepted with the cookie
            assert page.evaluate("gridmap.failed.length") == 0
            grids = page.evaluate("fetch('/collections/grids/items').then(r => r.text())")
            assert T1 in grids and T2 not in grids
            cookie = [c for c in page.context.cookies() if c["name"] == "gridmap_session"][0]
            assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
            assert page.evaluate("document.cookie").find("gridmap_session") < 0  # not readable by scripts
            page.goto(base + "/logout")
            assert "/login" in page.url and "已退出登录" in page.content()
            page.goto(base + "/map")
            assert "/login?next=%2Fmap" in page.url
        finally:
            page.context.close()
