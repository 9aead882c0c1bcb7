"""Every export also as .xlsx (read back with openpyxl) and CSV with a BOM: headers in the chosen
language, codes as text, numbers rounded, times in GRIDMAP_TIMEZONE; checked against the API's own
JSON and the generated sample."""

from __future__ import annotations

import datetime as dt
import io

import openpyxl
import pandas as pd
import pytest
from tests.support.sample import load_sample

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.fixture
def sample(db):
    return load_sample(db, 2000, seed=1)


def _sheet(r) -> tuple[list, list[list]]:
    assert r.status_code == 200, r.text[:500]
    assert r.headers["content-type"] == XLSX
    wb = openpyxl.load_workbook(io.BytesIO(r.content))
    rows = [list(row) for row in wb.active.iter_rows(values_only=True)]
    return rows[0], rows[1:]


def test_layer_downloads(client, sample):
    head, rows = _sheet(client.get("/export/dwellings?format=xlsx"))
    d = sample["dwellings"]
    assert len(rows) == len(d)
    assert "户数" in head and "编号" in head and "经度" in head
    col = {h: i for i, h in enumerate(head)}
    got = {r[col["编号"]]: r[col["户数"]] for r in rows}
    assert got == dict(zip(d["source_id"], d["households"].astype(int)))
    assert all(isinstance(r[col["区县代码"]], str) for r in rows)  # codes as text
    en, _ = _sheet(client.get("/export/dwellings?format=xlsx&lang=en"))
    assert "Households" in en and "户数" not in en
    # grids: validity times in the zone, named in the header; codes as text
    head, rows = _sheet(client.get("/export/grids?format=xlsx"))
    assert len(rows) == len(sample["grids"]) and "生效时间 (Asia/Shanghai)" in head
    csv = client.get("/export/grids?format=csv")
    assert csv.content.startswith("\ufeff".encode())
    table = pd.read_csv(io.BytesIO(csv.content), dtype=str, encoding="utf-8-sig")
    assert list(table.columns)[:2] == ["id", "region_code"] and len(table) == len(sample["grids"])
    gj = client.get("/export/stations?format=geojson").json()
    assert len(gj["features"]) == len(sample["stations"])
    assert client.get("/export/nope?format=xlsx").status_code == 422


def test_coverage_and_gap_sheets(client, sample):
    api = client.get("/coverage?level=grid").json()["rows"]
    head, rows = _sheet(client.get("/coverage?level=grid&format=xlsx"))
    assert len(rows) == len(api) and "覆盖率 (%)" in head and "8 分钟内覆盖户数" in head
    col = {h: i for i, h in enumerate(head)}
    for r, a in zip(rows, api):
        assert r[col["编码"]] == a["code"]
        assert r[col["覆盖率 (%)"]] == round(a["covered_pct"], 1)
        assert r[col["平均时间 (秒)"]] in (None, round(a["mean_time_s"], 2))
    csv = client.get("/coverage?level=grid&format=csv")
    assert csv.content.startswith("\ufeff".encode())
    gaps = client.get("/coverage/gaps").json()["features"]
    head, rows = _sheet(client.get("/coverage/gaps?format=xlsx"))
    assert len(rows) == len(gaps) > 0 and "户数" in head and "经度" in head
    col = {h: i for i, h in enumerate(head)}
    assert [r[col["户数"]] for r in rows] == [g["properties"]["households"] for g in gaps]
    areas = client.get("/coverage/areas?by=station").json()["features"]
    head, rows = _sheet(client.get("/coverage/areas?by=station&format=xlsx&lang=en"))
    assert len(rows) == len(areas) and "Area (m²)" in head


def test_incident_sheets_in_the_zone(client, db, sample):
    g = sample["grids"].geometry.iloc[0].representative_point()
    for i, t in enumerate(["2026-01-05T23:30:00Z", "2026-01-06T01:00:00Z"]):
        r = client.post("/incidents", json={"type": "Feature", "geometry": {"type": "Point", "coordinates": [g.x, g.y]},
                                            "properties": {"external_id": f"X{i}", "category": "parking",
                                                           "reported_at": t}})
        assert r.status_code == 201, r.text
    head, rows = _sheet(client.get("/export/incidents?format=xlsx"))
    col = {h: i for i, h in enumerate(head)}
    times = sorted(r[col["上报时间 (Asia/Shanghai)"]] for r in rows)
    assert times == [dt.datetime(2026, 1, 6, 7, 30), dt.datetime(2026, 1, 6, 9, 0)]  # UTC+8, no zone in Excel
    csv = client.get("/export/incidents?format=csv").content.decode("utf-8-sig")
    assert "2026-01-06T07:30:00+08:00" in csv
    stats = client.get("/incidents/stats?format=json&min_count=0").json()["rows"]
    head, rows = _sheet(client.get("/incidents/stats?format=xlsx&min_count=0"))
    assert len(rows) == len(stats) and "办结率" in head
    hot = client.get("/incidents/hotspots?format=xlsx&min_incidents=1")
    head, rows = _sheet(hot)
    assert "分类" in head and len(rows) == len(sample["grids"])
    assert {r[head.index("分类")] for r in rows} <= {"不显著", "热点 (90% 置信)", "热点 (95% 置信)", "热点 (99% 置信)",
                                                   "冷点 (90% 置信)", "冷点 (95% 置信)", "冷点 (99% 置信)"}


def test_every_page_has_its_download_buttons(client, sample):
    import html
    import re

    g = sample["grids"].geometry
    for i in range(40):  # enough incidents for a hotspot analysis
        p = g.iloc[i % len(g)].representative_point()
        client.post("/incidents", json={"type": "Feature", "geometry": {"type": "Point", "coordinates": [p.x, p.y]},
                                        "properties": {"external_id": f"D{i}", "category": "parking",
                                                       "reported_at": "2026-03-01T08:00:00+08:00"}})
    for page in ("/map", "/coverage/map", "/incidents/heatmap", "/incidents/hotspots/map?min_incidents=5"):
        body = client.get(page).text
        links = [html.unescape(u) for u in re.findall(r'class="gridmap-download" href="([^"]+)"', body)]
        assert links, page
        for url in links:
            r = client.get(url)
            assert r.status_code == 200, (page, url, r.text[:300])
            assert r.headers["content-type"] in (XLSX, "text/csv; charset=utf-8"), url
            if r.headers["content-type"] == XLSX:
                assert openpyxl.load_workbook(io.BytesIO(r.content)).active.max_row >= 2, url


def test_an_exported_sheet_imports_back_through_its_chinese_headers(client, sample, tmp_path):
    """The .xlsx headers (编号, 户数, 名称, 地址, 经度 ...) are the office headers geo.io.columns maps."""
    from geo.io import read_layer
    from geo.validate import validate_frame

    path = tmp_path / "dwellings.xlsx"
    path.write_bytes(client.get("/export/dwellings?format=xlsx").content)
    back = validate_frame("dwellings", read_layer(path, layer_name="dwellings"))
    d = sample["dwellings"]
    assert dict(zip(back["source_id"], back["households"])) == dict(zip(d["source_id"], d["households"]))
    assert back["name"].notna().sum() == d["name"].notna().sum()
    want = d.set_index("source_id").geometry
    for sid, pt in zip(back["source_id"], back.geometry):
        assert pt.distance(want[sid]) < 1e-5  # 6 decimals: ~0.1 m


def test_import_errors_name_rows_as_excel_does(db, tmp_path):
    """Header = row 1: the third data row of a sheet is Excel's row 4, for layers and incidents."""
    import openpyxl as ox

    from api.imports import import_frame
    from api.settings import Settings
    from geo.errors import InvalidInput
    from geo.io import read_layer

    wb = ox.Workbook()
    ws = wb.active
    ws.append(["编号", "名称", "户数", "经度", "纬度"])
    ws.append(["A1", "一幢", 10, 120.30, 31.90])
    ws.append(["A2", "二幢", 12, 120.31, 31.90])
    ws.append(["A3", "三幢", -5, 120.32, 31.90])  # Excel row 4
    path = tmp_path / "d.xlsx"
    wb.save(path)
    frame = read_layer(path, layer_name="dwellings")
    with pytest.raises(InvalidInput) as e, db.begin() as conn:
        import_frame(conn, "dwellings", frame, Settings())
    assert [(p.row, p.field, p.feature_id) for p in e.value.problems] == [(4, "households", "A3")]
    wb = ox.Workbook()
    ws = wb.active
    ws.append(["事件编号", "类别", "上报时间", "经度", "纬度"])
    ws.append(["E1", "parking", "2026-01-01 08:00", 120.30, 31.90])
    ws.append(["E2", "ufo", "2026-01-01 08:00", 120.30, 31.90])  # Excel row 3
    path = tmp_path / "i.xlsx"
    wb.save(path)
    with pytest.raises(InvalidInput) as e, db.begin() as conn:
        import_frame(conn, "incidents", read_layer(path, layer_name="incidents"), Settings())
    assert {p.row for p in e.value.problems} == {3}
