"""``gridmap plan create/publish/discard`` and ``gridmap grids check`` through the CLI runner."""

from __future__ import annotations

import json
import re

from sqlalchemy import text

from tests.support.cli import run_cli
from tests.support.sample import load_sample


def test_create_publish_discard(db, pg_url, monkeypatch):
    layers = load_sample(db, 3000, seed=4)
    town = layers["areas"].query("level == 'town'")["code"].iloc[0]
    r = run_cli(pg_url, monkeypatch, ["plan", "create", "--town", town, "--target", "300"])
    assert r.exit_code == 0, r.output
    pid = int(re.search(r"plan id: (\d+)", r.output).group(1))
    with db.connect() as conn:
        comms = set(conn.execute(text("SELECT community_code FROM plan_grids WHERE plan_id = :p"), {"p": pid}).scalars())
        town_comms = set(conn.execute(text("SELECT code FROM areas WHERE parent_code = :t"), {"t": town}).scalars())
    assert comms == town_comms  # every community of the town, each redrawn
    r = run_cli(pg_url, monkeypatch, ["plan", "create", "--community", sorted(town_comms)[0], "--stay-close"])
    assert r.exit_code == 0, r.output
    other = int(re.search(r"plan id: (\d+)", r.output).group(1))
    r = run_cli(pg_url, monkeypatch, ["plan", "publish", str(pid)])
    assert r.exit_code == 0 and "published plan" in r.output, r.output
    with db.connect() as conn:
        cur = set(conn.execute(text("SELECT code FROM grids WHERE valid_to IS NULL")).scalars())
        planned = set(conn.execute(text("SELECT code FROM plan_grids WHERE plan_id = :p"), {"p": pid}).scalars())
    assert planned <= cur
    r = run_cli(pg_url, monkeypatch, ["plan", "publish", str(other)])
    assert r.exit_code == 2 and "changed" in r.output  # stale: the grids were just republished
    r = run_cli(pg_url, monkeypatch, ["plan", "discard", str(other)])
    assert r.exit_code == 0
    r = run_cli(pg_url, monkeypatch, ["plan", "list", "--status", "discarded"])
    listed = [ln.split()[1] for ln in r.output.splitlines() if "discarded" in ln and ln.split()[1:2]]
    assert r.exit_code == 0 and listed == [str(other)], r.output
    r = run_cli(pg_url, monkeypatch, ["plan", "create"])
    assert r.exit_code == 2 and "exactly one" in r.output
    # the same commands in Chinese (GRIDMAP_LANGUAGE=zh): headers, statuses and messages from the catalogues
    r = run_cli(pg_url, monkeypatch, ["plan", "list"], GRIDMAP_LANGUAGE="zh")
    assert r.exit_code == 0 and "制定人" in r.output and "已放弃" in r.output and "discarded" not in r.output, r.output
    r = run_cli(pg_url, monkeypatch, ["plan", "show", str(pid)], GRIDMAP_LANGUAGE="zh")
    assert r.exit_code == 0 and f"方案 {pid}（已发布）" in r.output and "沿街边界比例" in r.output, r.output
    r = run_cli(pg_url, monkeypatch, ["plan", "discard", str(other)], GRIDMAP_LANGUAGE="zh")
    assert r.exit_code == 2 and "错误" in r.output, r.output


def test_grids_check_finds_an_overlap(db, pg_url, monkeypatch, tmp_path):
    layers = load_sample(db, 3000, seed=4)
    comm = sorted(layers["grids"]["community_code"])[0]
    with db.begin() as conn:
        a, b = conn.execute(text("SELECT code FROM grids WHERE community_code = :c ORDER BY code LIMIT 2"),
                            {"c": comm}).scalars().all()
        # grow grid a by 30 m: it now overlaps its neighbours (written directly, past the import's checks)
        conn.execute(text("""UPDATE grids SET geom = ST_Multi(ST_Transform(ST_Buffer(ST_Transform(geom, 4549), 30), 4326))
                             WHERE code = :a"""), {"a": a})
    out = tmp_path / "check.json"
    r = run_cli(pg_url, monkeypatch, ["grids", "check", "--area", comm, "--out", str(out)])
    assert r.exit_code == 0, r.output
    rep = json.loads(out.read_text(encoding="utf-8"))
    overlaps = [i for i in rep["issues"] if i["issue"] == "overlap"]
    assert overlaps and all(a in (i["grid"], i["other_grid"]) for i in overlaps)
    xlsx = tmp_path / "check.xlsx"
    assert run_cli(pg_url, monkeypatch, ["grids", "check", "--area", comm, "--out", str(xlsx)]).exit_code == 0
    import openpyxl

    rows = list(openpyxl.load_workbook(xlsx)["issues"].iter_rows(values_only=True))
    assert rows[0][0] == "issue" and len(rows) - 1 == len(rep["issues"])
    # in Chinese: the issue, its message and the count line from the catalogues
    r = run_cli(pg_url, monkeypatch, ["grids", "check", "--area", comm], GRIDMAP_LANGUAGE="zh")
    assert r.exit_code == 0 and "重叠：网格" in r.output and "两个网格重叠" in r.output, r.output
    assert f"个网格中有 {len(rep['issues'])} 个问题" in r.output and "overlap" not in r.output
