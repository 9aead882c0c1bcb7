"""Reusable helpers for page tests: the app on a real port in a thread, and headless Chromium
with the network limited to 127.0.0.1.

Use from any test module (``browser`` is the session's one Chromium, a fixture of tests/conftest.py)::

    from tests.support.browser import MAP_READY, live_server, open_page

    def test_page(db, settings, browser):
        with live_server(settings) as base:
            page, report = open_page(browser, base + "/map", ready=MAP_READY)
            report.assert_clean()

Chromium is Debian's ``/usr/bin/chromium`` driven by Playwright (never ``playwright install``).
"""

from __future__ import annotations

import os
import socket
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

CHROMIUM = "/usr/bin/chromium"
#: A map page has started its data requests and none is pending (gridmap.js's counters).
MAP_READY = "window.gridmap && gridmap.started > 0 && gridmap.pending === 0"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-quic",
]
LOCAL_HOSTS = {"127.0.0.1"}
#: Where the tests' screenshots go: a temporary folder, so a test run never rewrites the README's
#: images in docs/img (scripts/screenshots.py takes those from a running demo); set
#: GRIDMAP_TEST_SCREENSHOTS to keep them elsewhere.
SHOTS = Path(os.environ.get("GRIDMAP_TEST_SCREENSHOTS", Path(tempfile.gettempdir()) / "gridmap-test-screenshots"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def live_server(settings, app=None, timeout: float = 30.0):
    """Serve ``app`` (default: ``create_app(settings)``) with uvicorn on a free 127.0.0.1 port in a
    thread; yields the base URL (``http://127.0.0.1:PORT``) and stops the server afterwards."""
    import uvicorn

    from api.app import create_app

    app = app or create_app(settings)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           lifespan="on", access_log=False))
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the test server on port {port} did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout)


@contextmanager
def chromium():
    """A headless Chromium (Debian's) under Playwright's sync API."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class PageReport:
    """What went wrong while a page loaded."""

    blocked: list[str] = field(default_factory=list)  # requests to anything but 127.0.0.1 (aborted)
    failed: list[str] = field(default_factory=list)  # requests that failed, or answered >= 400
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)  # uncaught exceptions

    def assert_clean(self) -> None:
        problems = {k: v for k, v in self.__dict__.items() if v}
        assert not problems, f"the page did not load cleanly: {problems}"


def open_page(browser, url: str, *, ready: str | None = None, locale: str = "zh-CN",
              viewport: tuple[int, int] = (1280, 860), timeout_ms: int = 20_000):
    """Open ``url`` in a fresh context whose every non-127.0.0.1 request is aborted and recorded.

    Parameters
    ----------
    ready : str, optional
        A JavaScript expression to wait for after the load (e.g. the page's data has arrived).
    locale : str
        Browser locale (and so ``Accept-Language``).

    Returns
    -------
    (page, PageReport)
        The Playwright page (close its ``page.context`` when done) and what went wrong.
    """
    report = PageReport()
    context = browser.new_context(locale=locale, viewport={"width": viewport[0], "height": viewport[1]})

    def route(r):
        host = urlsplit(r.request.url).hostname
        if r.request.url.startswith(("data:", "blob:")) or host in LOCAL_HOSTS:
            r.continue_()
        else:
            report.blocked.append(r.request.url)
            r.abort()

    context.route("**/*", route)
    page = context.new_page()
    page.on("console", lambda m: m.type == "error" and report.console_errors.append(m.text))
    page.on("pageerror", lambda e: report.page_errors.append(str(e)))
    page.on("requestfailed", lambda r: report.failed.append(f"{r.url}: {r.failure}"))
    page.on("response", lambda r: r.status >= 400 and report.failed.append(f"{r.url}: HTTP {r.status}"))
    page.goto(url, wait_until="load", timeout=timeout_ms)
    if ready:
        page.wait_for_function(ready, timeout=timeout_ms)
    page.wait_for_load_state("networkidle", timeout=timeout_ms)
    return page, report


def screenshot(page, name: str) -> Path:
    """Save a PNG of ``page`` as ``<SHOTS>/<name>.png`` and return its path."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path
