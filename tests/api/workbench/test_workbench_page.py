"""The planner's workbench in headless Chromium: paint a unit into a neighbouring grid by clicking
the map and check the counts on screen against a SQL recount of the dwellings; undo; a move that
would split a grid refused (the unit found independently, as a networkx articulation point of the
grid's units), then allowed with a warning; auto-balance and accept; publish and see the history;
the Chinese page with no English word; the print view on one page; content negotiation."""

from __future__ import annotations

import re

import networkx as nx
import pytest

from api.jurisdiction import EVERYWHERE
from api.plans import PlanSpec, create_plans
from tests.support.browser import live_server, open_page, screenshot
from tests.support.db import sql_rows
from tests.support.plans import plan_world

READY = "window.workbench && workbench.ready && workbench.busy === 0 && !gridmap.pending"
IDLE = "window.workbench && workbench.busy === 0"


@pytest.fixture(scope="module")
def world(engine, settings):
    return plan_world(engine, settings, seed=1)


@pytest.fixture(scope="module")
def base(world, settings):
    with live_server(settings) as url:
        yield url


def recount(engine, plan: int) -> dict[str, int]:
    """Households of each grid of the plan, summed over the dwellings of its units (SQL)."""
    rows = sql_rows(engine, """
        WITH u AS (SELECT grid_code, unnest(dwelling_ids) AS sid FROM plan_units WHERE plan_id = :p)
        SELECT u.grid_code, sum(d.households) FROM u JOIN dwellings d ON d.source_id = u.sid GROUP BY 1""", p=plan)
    return {k: int(v) for k, v in rows}


def unit_graph(engine, plan: int):
    """The plan's units (id -> grid, point on surface) and their adjacency (shared boundary), in SQL."""
    units = {r.unit_id: r for r in sql_rows(engine, """
        SELECT unit_id, grid_code, households, ST_X(ST_PointOnSurface(geom)) AS x, ST_Y(ST_PointOnSurface(geom)) AS y
        FROM plan_units WHERE plan_id = :p""", p=plan)}
    edges = sql_rows(engine, """
        SELECT a.unit_id AS a, b.unit_id AS b FROM plan_units a JOIN plan_units b
          ON a.plan_id = b.plan_id AND a.unit_id < b.unit_id AND ST_Intersects(a.geom, b.geom)
         AND ST_Length(ST_Intersection(ST_Boundary(a.geom), ST_Boundary(b.geom))::geography) > 0.5
        WHERE a.plan_id = :p""", p=plan)
    g = nx.Graph()
    g.add_nodes_from(units)
    g.add_edges_from((e.a, e.b) for e in edges)
    return units, g


def wait(page, expr: str, timeout_ms: int = 30_000) -> None:
    """Wait for ``expr``; on a timeout fail with what the page said (its messages and state)."""
    try:
        page.wait_for_function(expr, timeout=timeout_ms)
    except Exception as exc:
        state = page.evaluate("""() => ({messages: workbench.messages, moves: workbench.moves, busy: workbench.busy,
                                         selected: workbench.state.selected, tool: workbench.state.tool})""")
        raise AssertionError(f"{expr!r} never held: {state}") from exc


def grid_cells(page) -> dict[str, tuple[str, str]]:
    """Grid code -> (households text, band text) as the table on screen shows them."""
    rows = page.eval_on_selector_all("#wb-grid-table tbody tr", """rows => rows.map(r => [r.dataset.code,
        r.querySelector('.wb-hh').textContent, r.querySelector('.wb-band').textContent])""")
    return {c: (h, b) for c, h, b in rows}


def screen_point(page, unit):
    """Where ``unit``'s point on surface is on screen, or None when the map's canvas is not what is
    there (off the map, under a control or a label)."""
    return page.evaluate("""([y, x]) => { const p = workbench.state.map.latLngToContainerPoint([y, x]);
        const r = document.getElementById('wb-map').getBoundingClientRect();
        const X = p.x + r.left, Y = p.y + r.top, e = document.elementFromPoint(X, Y);
        return e && e.tagName === 'CANVAS' ? [X, Y] : null; }""", [unit.y, unit.x])


def click_unit(page, unit) -> None:
    page.mouse.click(*on_screen(page, unit))


def on_screen(page, unit):
    """``unit``'s point on screen, the map centred on it first when it is not clickable."""
    pt = screen_point(page, unit)
    if pt is None:  # the grid's zoom left it off screen: centre the map on it
        page.evaluate("([y, x]) => { workbench.state.map.setView([y, x], workbench.state.map.getZoom(), {animate: false}); }",
                      [unit.y, unit.x])
        pt = screen_point(page, unit)
    assert pt, f"unit {unit.unit_id} is not clickable on the map"
    return pt


def move_candidates(units, g, articulation: bool):
    """(unit, its grid, a neighbouring grid) where taking the unit out of its grid keeps it in one
    piece (articulation False) or splits it (True), brute force over the unit graph."""
    by_grid: dict[str, set] = {}
    for uid, u in units.items():
        by_grid.setdefault(u.grid_code, set()).add(uid)
    for uid in sorted(units, key=lambda k: units[k].households):
        u = units[uid]
        rest = by_grid[u.grid_code] - {uid}
        if len(rest) < 2 or u.households == 0:
            continue
        others = sorted({units[n].grid_code for n in g.neighbors(uid)} - {u.grid_code})
        if not others:
            continue
        split = not nx.is_connected(g.subgraph(rest))
        if split == articulation:
            yield u, others[0]


def open_plan(browser, base, plan, lang="zh"):
    page, report = open_page(browser, f"{base}/plans/{plan}?lang={lang}", ready=READY)
    return page, report


def band(h: int, lo: int, hi: int) -> str:
    return "under" if h < lo else "over" if h > hi else "in_band"


def test_paint_undo_and_refused_split(engine, world, browser, base):
    plan = world["plan"]
    units, g = unit_graph(engine, plan)
    before = recount(engine, plan)
    page, report = open_plan(browser, base, plan)
    try:
        shown = grid_cells(page)
        assert {c: int(h.replace(",", "")) for c, (h, _) in shown.items()} == before
        # paint: pick the neighbouring grid in the list, click the unit on the map
        u, to = next(move_candidates(units, g, articulation=False))
        page.click(f'#wb-grid-table tbody tr[data-code="{to}"] td.wb-code')
        wait(page, IDLE)
        click_unit(page, u)
        wait(page, f"workbench.moves === 1 && {IDLE}")
        after = recount(engine, plan)
        assert after[to] == before[to] + u.households and after[u.grid_code] == before[u.grid_code] - u.households
        shown = grid_cells(page)
        lim = sql_rows(engine, "SELECT params FROM plans WHERE id = :p", p=plan)[0].params
        lo, hi = lim.get("min_households"), lim.get("max_households")
        zh = {"under": "偏少", "in_band": "适中", "over": "偏多"}
        for code in (to, u.grid_code):
            assert int(shown[code][0].replace(",", "")) == after[code]
            if lo is not None and hi is not None:
                assert shown[code][1] == zh[band(after[code], lo, hi)]
        # undo puts it back, on screen and in the database
        page.click("#wb-undo")
        wait(page, f"workbench.moves === 2 && {IDLE}")
        assert recount(engine, plan) == before
        assert {c: int(h.replace(",", "")) for c, (h, _) in grid_cells(page).items()} == before
        # a unit whose removal splits its grid: refused with a note, nothing changes
        s, to2 = next(move_candidates(units, g, articulation=True))
        page.click(f'#wb-grid-table tbody tr[data-code="{to2}"] td.wb-code')
        click_unit(page, s)
        wait(page, "document.querySelector('#wb-message.refused') !== null")
        assert s.grid_code in page.text_content("#wb-message")
        assert recount(engine, plan) == before
        # allowed with a warning when the planner says so; undo restores the grid
        page.check("#wb-allow-split")
        click_unit(page, s)
        wait(page, f"workbench.moves === 3 && {IDLE}")
        assert "warn" in page.get_attribute("#wb-message", "class")
        assert sql_rows(engine, "SELECT grid_code FROM plan_units WHERE plan_id = :p AND unit_id = :u",
                 p=plan, u=s.unit_id)[0][0] == to2
        assert page.evaluate("workbench.api.findDetached()")  # the split grid is reported
        page.click("#wb-undo")
        wait(page, f"workbench.moves >= 4 && {IDLE}")
        assert recount(engine, plan) == before
        # the one failed request is the refused move (409); nothing else went wrong
        assert not report.page_errors and not report.blocked
        assert [f.rsplit(": ", 1)[1] for f in report.failed] == ["HTTP 409"] and report.failed[0].endswith(
            f"/plans/{plan}/moves: HTTP 409")
    finally:
        page.context.close()


def test_chinese_page_has_no_english_and_english_page(engine, world, browser, base):
    plan = world["plan"]
    page, report = open_plan(browser, base, plan, "zh")
    try:
        page.click("#wb-compare")
        wait(page, IDLE)
        body = page.inner_text("body")
        words = set(re.findall(r"[A-Za-z]{2,}", body)) - {"English"}  # the switch names its language
        assert not words, f"English left on the Chinese page: {sorted(words)[:20]}"
        assert "网格规划工作台" in body
        screenshot(page, "workbench-zh")
        report.assert_clean()
    finally:
        page.context.close()
    page, report = open_plan(browser, base, plan, "en")
    try:
        body = page.inner_text("body")
        assert "Grid planning workbench" in body and "Households" in body
        assert "网格规划工作台" not in body and "户数" not in body  # place names stay Chinese, the page's words do not
        screenshot(page, "workbench-en")
        report.assert_clean()
    finally:
        page.context.close()


def test_print_view_fits_one_page(world, browser, base):
    page, _ = open_plan(browser, base, world["plan"])
    try:
        page.click("#wb-print")
        wait(page, IDLE)
        pdf = page.pdf(prefer_css_page_size=True, print_background=True)
        pages = len(re.findall(rb"/Type\s*/Page(?!s)", pdf))
        assert pages == 1
    finally:
        page.context.close()


def test_list_page_and_negotiation(world, browser, base):
    import httpx

    client = httpx.Client(base_url=base)
    r = client.get("/plans", headers={"Accept": "text/html"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "workbench.js" in r.text and '"plans"' not in r.text.split("wb-boot")[0]
    r = client.get(f"/plans/{world['plan']}", headers={"Accept": "*/*"})
    assert r.headers["content-type"].startswith("application/json") and r.json()["id"] == world["plan"]
    page, report = open_page(browser, f"{base}/plans?lang=zh", ready=READY)
    try:
        assert page.locator(f'#wb-plan-list a[href^="/plans/{world["plan"]}"]').count() == 1
        report.assert_clean()
    finally:
        page.context.close()


def test_autobalance_accept_publish_and_history(engine, settings, world, browser, base):
    comm = world["community"]
    _, ans, _ = create_plans(engine, settings, EVERYWHERE, PlanSpec(community=comm))
    draft = ans["plans"][0]["id"]
    page, report = open_plan(browser, base, draft)
    try:
        page.click("#wb-autobalance")
        page.wait_for_selector("#wb-accept", timeout=60_000)
        proposal = page.evaluate("workbench.state.proposal.id")
        assert proposal != draft
        with page.expect_navigation():
            page.click("#wb-accept")
        wait(page, READY)
        assert page.evaluate("workbench.state.plan.id") == proposal
        assert sql_rows(engine, "SELECT status FROM plans WHERE id = :p", p=draft)[0][0] == "discarded"
        old = sql_rows(engine, "SELECT count(*) FROM grids WHERE community_code = :c AND valid_to IS NULL", c=comm)[0][0]
        page.click("#wb-publish")
        page.wait_for_selector("#wb-dialog:not([hidden])")
        text_ = page.text_content("#wb-dialog-text")
        # the confirmation states what changes: the current grids closed and the households moving
        from api.plans import diff_plan
        with engine.connect() as conn:
            moved = diff_plan(conn, EVERYWHERE, proposal)["households_moved"]
        assert str(old) in text_ and f"{moved:,}" in text_
        page.click("#wb-dialog-ok")
        page.wait_for_selector("#wb-history-slider", timeout=60_000)
        wait(page, IDLE)
        assert sql_rows(engine, "SELECT status FROM plans WHERE id = :p", p=proposal)[0][0] == "published"
        live = {r[0] for r in sql_rows(engine, "SELECT code FROM grids WHERE community_code = :c AND valid_to IS NULL", c=comm)}
        planned = {r[0] for r in sql_rows(engine, "SELECT code FROM plan_grids WHERE plan_id = :p", p=proposal)}
        assert live == planned
        dates = page.evaluate("workbench.historyDates")
        assert len(dates) >= 2
        assert page.evaluate("workbench.historyShown.n") == len(live)
        page.fill("#wb-history-slider", "0")
        page.dispatch_event("#wb-history-slider", "input")
        wait(page, f"workbench.historyShown.at === {dates[0]!r} && {IDLE}")
        first = sql_rows(engine, "SELECT count(*) FROM grids WHERE community_code = :c AND valid_from <= CAST(:t AS timestamptz) "
                          "AND (valid_to IS NULL OR valid_to > CAST(:t AS timestamptz))", c=comm, t=dates[0])[0][0]
        assert page.evaluate("workbench.historyShown.n") == first == old
    finally:
        page.context.close()


def test_lock_and_box_select(engine, world, browser, base):
    """Lock a grid from its row (stored in SQL; a move into it refused), unlock it; a box drawn on the
    map moves the units whose centres it holds (checked against the database's assignment)."""
    plan = world["plan"]
    units, g = unit_graph(engine, plan)
    page, _ = open_plan(browser, base, plan)
    try:
        u, to = next(move_candidates(units, g, articulation=False))
        page.click(f'#wb-grid-table tbody tr[data-code="{to}"] button.wb-lock')
        wait(page, f"workbench.grids[{to!r}].locked === true && {IDLE}")
        assert sql_rows(engine, "SELECT locked FROM plan_grids WHERE plan_id = :p AND code = :c", p=plan, c=to)[0][0]
        page.click(f'#wb-grid-table tbody tr[data-code="{to}"] td.wb-code')
        before = recount(engine, plan)
        page.evaluate("k => workbench.api.paint([k])", f"{world['community']}/{u.unit_id}")
        wait(page, "document.querySelector('#wb-message.refused') !== null")
        assert to in page.text_content("#wb-message")
        assert recount(engine, plan) == before
        page.click(f'#wb-grid-table tbody tr[data-code="{to}"] button.wb-lock')
        wait(page, f"workbench.grids[{to!r}].locked === false && {IDLE}")
        assert not sql_rows(engine, "SELECT locked FROM plan_grids WHERE plan_id = :p AND code = :c", p=plan, c=to)[0][0]
        # box select: a small box around the unit's point; with splits allowed every unit it holds moves
        page.check("#wb-allow-split")
        page.check('input[name="wb-tool"][value="box"]')
        x, y = on_screen(page, u)
        held = page.evaluate("""([x0, y0, x1, y1]) => { const m = workbench.state.map, r = document.getElementById('wb-map').getBoundingClientRect();
            const b = L.latLngBounds(m.containerPointToLatLng([x0 - r.left, y0 - r.top]), m.containerPointToLatLng([x1 - r.left, y1 - r.top]));
            return Object.values(workbench.units).filter(u => b.contains(u.center) && u.grid !== %r).map(u => u.id); }""" % to,
                             [x - 15, y - 15, x + 15, y + 15])
        assert held
        moves = page.evaluate("workbench.moves")
        page.mouse.move(x - 15, y - 15)
        page.mouse.down()
        page.mouse.move(x + 15, y + 15, steps=4)
        page.mouse.up()
        wait(page, f"workbench.moves === {moves + 1} && {IDLE}")
        got = {r[0] for r in sql_rows(engine, "SELECT unit_id FROM plan_units WHERE plan_id = :p AND grid_code = :c "
                                       "AND unit_id = ANY(:u)", p=plan, c=to, u=held)}
        assert got == set(held)
        page.click("#wb-undo")
        wait(page, f"workbench.undo.length === 0 && {IDLE}")
        assert recount(engine, plan) == before
    finally:
        page.context.close()


def test_excel_export_headers_in_the_page_language(engine, world, browser, base):
    """The page's Excel link downloads the grids with Chinese headers (openpyxl), one row a grid,
    households equal to the SQL recount."""
    import io

    import httpx
    from openpyxl import load_workbook

    plan = world["plan"]
    page, _ = open_plan(browser, base, plan, "zh")
    try:
        href = page.get_attribute("#wb-export-xlsx", "href")
    finally:
        page.context.close()
    r = httpx.get(base + href)
    assert r.status_code == 200
    rows = list(load_workbook(io.BytesIO(r.content)).active.iter_rows(values_only=True))
    assert rows[0][:3] == ("网格编码", "社区编码", "户数")
    assert {row[0]: row[2] for row in rows[1:]} == recount(engine, plan)


def unit_center_on_screen(page, key):
    """The screen point of a unit's centre as the page knows it (what the brush measures from), or None."""
    return page.evaluate("""k => { const u = workbench.units[k], m = workbench.state.map;
        m.setView(u.center, m.getZoom(), {animate: false});
        const p = m.latLngToContainerPoint(u.center), r = document.getElementById('wb-map').getBoundingClientRect();
        const e = document.elementFromPoint(p.x + r.left, p.y + r.top);
        return e && e.tagName === 'CANVAS' ? [p.x + r.left, p.y + r.top] : null; }""", key)


def test_brush_paints_units(engine, world, browser, base):
    """Paint with the brush (mouse down, drag, up on the map): the unit under it joins the chosen
    grid; the counts on screen equal the SQL recount; undo restores them."""
    plan = world["plan"]
    units, g = unit_graph(engine, plan)
    before = recount(engine, plan)
    page, _ = open_plan(browser, base, plan)
    try:
        u, to = next(move_candidates(units, g, articulation=False))
        page.click(f'#wb-grid-table tbody tr[data-code="{to}"] td.wb-code')
        page.check("#wb-allow-split")  # a brush stroke may also catch a unit whose leaving splits its grid
        page.check('input[name="wb-tool"][value="brush"]')
        page.fill("#wb-brush", "6")
        page.dispatch_event("#wb-brush", "input")
        key = f"{world['community']}/{u.unit_id}"
        pt = unit_center_on_screen(page, key)
        assert pt, "the unit's centre is not on the map"
        x, y = pt
        page.mouse.move(x, y)
        page.mouse.down()
        page.mouse.move(x + 2, y + 1, steps=3)
        page.mouse.up()
        wait(page, f"workbench.moves === 1 && {IDLE}")
        assert sql_rows(engine, "SELECT grid_code FROM plan_units WHERE plan_id = :p AND unit_id = :u", p=plan, u=u.unit_id)[0][0] == to
        after = recount(engine, plan)
        assert after != before
        assert {c: int(h.replace(",", "")) for c, (h, _) in grid_cells(page).items()} == after
        page.click("#wb-undo")
        wait(page, f"workbench.undo.length === 0 && {IDLE}")
        assert recount(engine, plan) == before
        assert {c: int(h.replace(",", "")) for c, (h, _) in grid_cells(page).items()} == before
    finally:
        page.context.close()


def test_split_a_grid_by_drawing_a_line(engine, settings, world, browser, base):
    """The line tool: clicks across a grid and a double-click split it in two; the new grid's row
    shows the households the database recounts, and both grids' units are the old grid's."""
    _, ans, _ = create_plans(engine, settings, EVERYWHERE, PlanSpec(community=world["community"]))
    plan = ans["plans"][0]["id"]
    grids = sql_rows(engine, """SELECT code, ST_XMin(geom) x0, ST_XMax(geom) x1, ST_YMin(geom) y0, ST_YMax(geom) y1,
                                ST_X(ST_Centroid(geom)) cx, ST_Y(ST_Centroid(geom)) cy
                         FROM plan_grids WHERE plan_id = :p ORDER BY households DESC""", p=plan)
    page, _ = open_plan(browser, base, plan)
    try:
        page.check('input[name="wb-tool"][value="line"]')
        done = None
        for gr in grids:
            old = {r[0] for r in sql_rows(engine, "SELECT unit_id FROM plan_units WHERE plan_id = :p AND grid_code = :g",
                                   p=plan, g=gr.code)}
            page.click(f'#wb-grid-table tbody tr[data-code="{gr.code}"] td.wb-code')
            wait(page, IDLE)
            for a, b in (((gr.y1, gr.cx), (gr.y0, gr.cx)), ((gr.cy, gr.x0), (gr.cy, gr.x1))):
                pts = page.evaluate("""([a, b]) => { const m = workbench.state.map, r = document.getElementById('wb-map').getBoundingClientRect();
                    m.fitBounds(L.latLngBounds([a, b]).pad(0.3), {animate: false});
                    return [a, b].map(p => { const c = m.latLngToContainerPoint(p); return [c.x + r.left, c.y + r.top]; }); }""",
                                    [list(a), list(b)])
                (ax, ay), (bx, by) = pts
                dy, dx = (8, 0) if a[1] == b[1] else (0, 8)  # start and end a little beyond the grid
                before_split = page.evaluate("workbench.lastSplit ? workbench.lastSplit.grid : null")
                page.mouse.click(ax - dx, ay - dy)
                page.mouse.click(bx + dx, by + dy)
                page.mouse.dblclick(bx + dx, by + dy)
                wait(page, IDLE)
                if page.evaluate("workbench.lastSplit ? workbench.lastSplit.grid : null") != before_split:
                    done = (gr, old, page.evaluate("workbench.lastSplit"))
                    break
                assert page.get_attribute("#wb-message", "class").endswith("refused")
            if done:
                break
        assert done, "no grid could be split by a line"
        gr, old, ans = done
        new = ans["grid"]
        got = recount(engine, plan)
        mine = {r[0] for r in sql_rows(engine, "SELECT unit_id FROM plan_units WHERE plan_id = :p AND grid_code = :g", p=plan, g=new)}
        rest = {r[0] for r in sql_rows(engine, "SELECT unit_id FROM plan_units WHERE plan_id = :p AND grid_code = :g", p=plan, g=gr.code)}
        assert mine and rest and mine | rest == old and not mine & rest
        shown = {c: int(h.replace(",", "")) for c, (h, _) in grid_cells(page).items()}
        assert shown[new] == got[new] and shown[gr.code] == got[gr.code]
        assert new in page.text_content("#wb-message")
        # undo merges the new grid back: the old grid's units again, the new grid gone from the plan
        page.click("#wb-undo")
        wait(page, IDLE)
        codes = {r[0] for r in sql_rows(engine, "SELECT code FROM plan_grids WHERE plan_id = :p", p=plan)}
        units = {r[0] for r in sql_rows(engine, "SELECT unit_id FROM plan_units WHERE plan_id = :p AND grid_code = :g",
                                        p=plan, g=gr.code)}
        assert new not in codes and units == old
        shown = {c: int(h.replace(",", "")) for c, (h, _) in grid_cells(page).items()}
        assert new not in shown and shown[gr.code] == recount(engine, plan)[gr.code]
        # redo splits it again along the same line: the same two sets of units
        page.click("#wb-redo")
        wait(page, IDLE)
        again = page.evaluate("workbench.lastSplit.grid")
        mine2 = {r[0] for r in sql_rows(engine, "SELECT unit_id FROM plan_units WHERE plan_id = :p AND grid_code = :g",
                                        p=plan, g=again)}
        assert mine2 == mine
        shown = {c: int(h.replace(",", "")) for c, (h, _) in grid_cells(page).items()}
        assert shown[again] == recount(engine, plan)[again]
    finally:
        page.context.close()


def test_swipe_compare(engine, world, browser, base):
    """Swipe: the current grids left of the divider (their own pane clipped at it), the draft right."""
    plan, comm = world["plan"], world["community"]
    page, report = open_plan(browser, base, plan)
    try:
        page.click("#wb-swipe")
        wait(page, "workbench.state.swipe !== null && workbench.state.swipe !== undefined")
        page.fill("#wb-swipe-range", "30")
        page.dispatch_event("#wb-swipe-range", "input")
        got = page.evaluate("""() => { const m = workbench.state.map, s = workbench.state.swipe, w = m.getSize().x;
            return {w: w, x: s.x, bar: parseFloat(document.getElementById('wb-swipe-bar').style.left),
                    clip: s.pane.style.clip, right: m.containerPointToLayerPoint([0.3 * w, 0]).x,
                    paths: s.pane.querySelectorAll('path').length}; }""")
        assert abs(got["x"] - 0.3 * got["w"]) < 1 and abs(got["bar"] - got["x"]) < 1
        right = float(re.findall(r"(-?[\d.]+)px", got["clip"])[1])
        assert abs(right - got["right"]) < 1
        current = sql_rows(engine, "SELECT count(*) FROM grids WHERE community_code = :c AND valid_to IS NULL", c=comm)[0][0]
        assert got["paths"] == current
        # the map moves: the clip follows the divider
        page.evaluate("() => { workbench.state.map.panBy([40, 0], {animate: false}); }")
        moved = page.evaluate("""() => { const m = workbench.state.map, s = workbench.state.swipe;
            return [s.pane.style.clip, m.containerPointToLayerPoint([s.x, 0]).x]; }""")
        assert abs(float(re.findall(r"(-?[\d.]+)px", moved[0])[1]) - moved[1]) < 1
        page.click("#wb-swipe")
        wait(page, "workbench.state.swipe === null")
        assert page.locator("#wb-swipe-bar").count() == 0
        report.assert_clean()
    finally:
        page.context.close()


def test_autobalance_of_ticked_grids_only(engine, settings, world, browser, base):
    """Tick two grids and balance them: in the proposal every other grid holds the same units."""
    _, ans, _ = create_plans(engine, settings, EVERYWHERE, PlanSpec(community=world["community"], target=250))
    draft = ans["plans"][0]["id"]

    def units(pid):
        out = {}
        for gc, u in sql_rows(engine, "SELECT grid_code, unit_id FROM plan_units WHERE plan_id = :p", p=pid):
            out.setdefault(gc, set()).add(u)
        return out

    before = units(draft)
    picked = sorted(before)[:2]
    page, _ = open_plan(browser, base, draft)
    try:
        assert page.is_disabled("#wb-autobalance-picked")
        for c in picked:
            page.check(f'#wb-grid-table input.wb-pick[data-code="{c}"]')
        page.click("#wb-autobalance-picked")
        page.wait_for_selector("#wb-accept", timeout=60_000)
        proposal = page.evaluate("workbench.state.proposal.id")
        after = units(proposal)
        for c in set(before) - set(picked):
            assert after[c] == before[c], c
        assert units(draft) == before
        page.click("#wb-discard")
        wait(page, f"{IDLE} && workbench.state.proposal === null")
        assert sql_rows(engine, "SELECT status FROM plans WHERE id = :p", p=proposal)[0][0] == "discarded"
    finally:
        page.context.close()


def test_grid_check_layer(engine, world, browser, base):
    """The grid check layer (GET /grids/check): its 'under'/'over' issues are the current grids
    whose households, counted in SQL, lie outside 300 +- 15%."""
    plan, comm = world["plan"], world["community"]
    page, report = open_plan(browser, base, plan)
    try:
        page.click("text=网格校验问题")
        wait(page, f"workbench.check !== undefined && {IDLE}")
        issues = page.evaluate("""() => { const out = []; workbench.state.layers.check.eachLayer(l =>
            out.push([l.feature.properties.issue, l.feature.properties.grid])); return out; }""")
        hh = dict(sql_rows(engine, """SELECT g.code, coalesce(sum(d.households), 0) FROM grids g LEFT JOIN dwellings d
                               ON d.grid_code = g.code WHERE g.community_code = :c AND g.valid_to IS NULL GROUP BY 1""",
                    c=comm))
        expect = {(("under" if h < 255 else "over"), c) for c, h in hh.items() if not 255 <= h <= 345}
        assert {(i, g) for i, g in issues if i in ("under", "over")} == expect
        assert page.evaluate("workbench.check.grids") == len(hh)
        report.assert_clean()
    finally:
        page.context.close()
