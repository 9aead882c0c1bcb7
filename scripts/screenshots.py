"""Take the README's screenshots from a running gridmap (``gridmap demo``) in headless Chromium.

    .venv/bin/python scripts/screenshots.py http://127.0.0.1:8000 [USER PASSWORD]

Saves each page of :data:`PAGES` in Chinese, the home page in both languages, and the overview map
zoomed in (streets by class, grid labels) in both languages, under ``docs/img``.

Once gridmap has users (``gridmap demo`` creates ``admin`` and prints its password) the pages need
a login: give the user and password, and the script logs in on the login page first.
"""

import json
import sys
import urllib.request
from pathlib import Path

from playwright.sync_api import sync_playwright

OUT = Path(__file__).resolve().parents[1] / "docs" / "img"
PAGES = {"map": "/map", "coverage": "/coverage/map", "heatmap": "/incidents/heatmap",
         "hotspots": "/incidents/hotspots/map", "home": "/", "home-en": "/?lang=en"}
ZOOMED = {"map-zoomed": "/map", "map-zoomed-en": "/map?lang=en"}
ZOOM = 16
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-quic"]
READY = "window.gridmap && gridmap.pending === 0"


def _grid_centre(base: str) -> tuple[float, float]:
    """(lat, lon) of the middle of the densest grid (most households) of the data."""
    with urllib.request.urlopen(base + "/collections/grids/items?limit=10000") as r:
        feats = json.load(r)["features"]
    f = max(feats, key=lambda f: f["properties"].get("households") or 0)
    ring = f["geometry"]["coordinates"][0][0]
    xs, ys = [p[0] for p in ring], [p[1] for p in ring]
    return (min(ys) + max(ys)) / 2, (min(xs) + max(xs)) / 2


def main(base: str, user: str | None = None, password: str | None = None) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 860}, locale="zh-CN")
        if user:  # the session cookie stays in the context for every page below
            page = context.new_page()
            page.goto(base + "/login")
            page.fill("#username", user)
            page.fill("#password", password or "")
            page.click("button[type=submit]")
            page.wait_for_load_state("load")
            page.close()
        for name, path in {**PAGES, **ZOOMED}.items():
            page = context.new_page()
            page.goto(base + path, wait_until="networkidle")
            if name in ZOOMED:
                lat, lon = _grid_centre(base)
                page.evaluate("""([lat, lon, z]) => {
                    const map = Object.values(window).find(v => v instanceof L.Map);
                    map.setView([lat, lon], z, {animate: false});
                }""", [lat, lon, ZOOM])
                page.wait_for_function(READY, timeout=30_000)
            page.wait_for_timeout(1500)
            page.screenshot(path=str(OUT / f"{name}.png"))
            print("saved", OUT / f"{name}.png")
            page.close()
        browser.close()


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8000", *sys.argv[2:4])
