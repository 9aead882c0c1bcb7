"""``gridmap demo`` reports what it loaded as a table, not as Python reprs."""

from __future__ import annotations

from api.cli.common import console
from api.cli.demo import load_sample_if_empty

from tests.support.imports import REGION, sample_gpkg


def test_demo_prints_a_table_not_reprs(db, tmp_path, monkeypatch):
    path, df = sample_gpkg(tmp_path)
    monkeypatch.setenv("GRIDMAP_REGION_CODE", REGION)
    monkeypatch.setattr(console, "width", 200)
    with console.capture() as cap:
        assert load_sample_if_empty(db, path)
    out = cap.get()
    assert "LoadReport(" not in out and "IngestReport(" not in out
    header = next(line for line in out.splitlines() if "layer" in line and "inserted" in line)
    assert "updated" in header and "unchanged" in header
    rows = {line.split()[1]: line for line in out.splitlines() if line.split()[1:2] and line.split()[1] in (
        "areas", "grids", "dwellings", "stations", "streets")}
    assert set(rows) == {"areas", "grids", "dwellings", "stations", "streets"}
    assert f"{len(df):,}" in rows["dwellings"]
