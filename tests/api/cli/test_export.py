"""``gridmap export``: .xlsx (read back with openpyxl) with headers in GRIDMAP_LANGUAGE, CSV with a
BOM, its message in the language, and a missing folder is a clear error, no traceback."""

from __future__ import annotations

import openpyxl
import pytest
from tests.support.cli import run_cli
from tests.support.sample import load_sample


def test_export_to_a_missing_folder_is_a_clear_error(pg_url, monkeypatch, tmp_path):
    for lang, words in (("en", "does not exist"), ("zh", "不存在")):
        r = run_cli(pg_url, monkeypatch, ["export", "grids", str(tmp_path / "missing" / "dir" / "x.gpkg")],
                    GRIDMAP_LANGUAGE=lang)
        assert r.exit_code == 2, r.output
        assert words in r.output and "Traceback" not in r.output and r.exception is None or isinstance(r.exception, SystemExit)


@pytest.mark.parametrize("lang,head", [("zh", "户数"), ("en", "Households")])
def test_export_xlsx(db, pg_url, monkeypatch, tmp_path, lang, head):
    sample = load_sample(db, 1500, seed=4)
    out = tmp_path / "d.xlsx"
    r = run_cli(pg_url, monkeypatch, ["export", "dwellings", str(out)], GRIDMAP_LANGUAGE=lang)
    assert r.exit_code == 0, r.output
    rows = list(openpyxl.load_workbook(out).active.iter_rows(values_only=True))
    assert head in rows[0] and len(rows) - 1 == len(sample["dwellings"])
    hh = rows[0].index(head)
    assert sum(r[hh] for r in rows[1:]) == int(sample["dwellings"]["households"].sum())
    if lang == "zh":
        assert "已写出" in r.output
    csv = tmp_path / "d.csv"
    assert run_cli(pg_url, monkeypatch, ["export", "dwellings", str(csv)]).exit_code == 0
    assert csv.read_bytes().startswith("\ufeff".encode())
