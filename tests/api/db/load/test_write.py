"""``load_frame``'s point layers (``api.db.load.write``): a dwellings or stations file none of whose rows
lies in a grid is refused unless ``--allow-outside``, saying what to check; a region without grids
loads its points (real PostGIS, the CLI through typer's CliRunner; a refusal changes nothing)."""

from __future__ import annotations

import pandas as pd
from sqlalchemy import text

from tests.support.cli import flat
from tests.support.imports import areas_file, counts, dwellings_csv, load_base


def test_a_point_file_outside_every_grid_is_refused_unless_allowed(cli, db, tmp_path):
    load_base(cli, tmp_path)
    path, df = dwellings_csv(tmp_path)
    shifted = df.assign(经度=df["经度"] + 1.0)  # e.g. a wrong CRS: all of them a degree east
    shifted.to_csv(tmp_path / "shifted.csv", index=False)
    before = counts(db)
    r = cli("import", "dwellings", tmp_path / "shifted.csv", "--map", "source_id=编号", "--map", "households=户数")
    assert r.exit_code == 2, r.output
    out = flat(r.output)
    for hint in ("None of the 40 dwellings lies in any grid", "column order", "--crs", "--coords", "--allow-outside"):
        assert hint in out, out
    assert counts(db) == before
    # one row inside is enough (the file is then not mis-placed as a whole)
    one_in = pd.concat([shifted.iloc[1:], df.iloc[:1]])
    one_in.to_csv(tmp_path / "one_in.csv", index=False)
    assert cli("import", "stations", tmp_path / "shifted.csv", "--map", "source_id=编号", "--set", "name=x",
               "--set", "kind=service_centre").exit_code == 2
    r = cli("import", "dwellings", tmp_path / "shifted.csv", "--map", "source_id=编号", "--map", "households=户数",
            "--allow-outside")
    assert r.exit_code == 0, r.output
    with db.connect() as conn:
        assert conn.execute(text("SELECT count(*), count(grid_code) FROM dwellings")).one() == (len(df), 0)
    r = cli("import", "dwellings", tmp_path / "one_in.csv", "--map", "source_id=编号", "--map", "households=户数")
    assert r.exit_code == 0, r.output


def test_points_load_when_the_region_has_no_grids(cli, db, tmp_path):
    assert cli("import", "areas", areas_file(tmp_path)).exit_code == 0
    path, df = dwellings_csv(tmp_path)
    df.assign(经度=df["经度"] + 1.0).to_csv(tmp_path / "far.csv", index=False)
    r = cli("import", "dwellings", tmp_path / "far.csv", "--map", "source_id=编号", "--map", "households=户数")
    assert r.exit_code == 0, r.output
