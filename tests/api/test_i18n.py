"""api.i18n: the catalogues hold every key the code uses in both languages with the same
placeholders, a missing .mo is compiled on first use, and the CLI's --help follows GRIDMAP_LANGUAGE."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import api
from api import i18n

ROOT = Path(api.__file__).resolve().parents[1]


def test_every_key_the_code_uses_has_both_languages_and_matching_placeholders():
    proc = subprocess.run([sys.executable, "scripts/i18n.py", "check"], capture_output=True, text=True, cwd=ROOT,
                          timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for key, texts in i18n.CATALOGUE.items():
        assert set(texts) == set(i18n.LANGS), key
        names = {lang: set(re.findall(r"\{(\w+)\}", texts[lang])) for lang in i18n.LANGS}
        # a translation may leave out a part of a message read as a pattern, never use one it lacks
        assert names["zh"] <= names["en"] if key.startswith("detail.") else names["zh"] == names["en"], (key, texts)


def test_a_missing_mo_is_compiled_on_first_use(tmp_path, monkeypatch):
    copy = tmp_path / "locale"
    shutil.copytree(i18n.LOCALE_DIR, copy, ignore=shutil.ignore_patterns("*.mo"))
    monkeypatch.setattr(i18n, "LOCALE_DIR", copy)
    loaded = i18n.load()
    assert (copy / "zh" / "LC_MESSAGES" / "gridmap.mo").is_file()
    assert loaded["map.title"] == {"zh": "网格总览图", "en": "Grid overview map"}
    fresh = {k: v for k, v in i18n.CATALOGUE.items() if not k.startswith(("category.", "test."))}
    assert {k: loaded[k] for k in fresh} == fresh


def test_detail_translates_messages_written_in_english():
    msg = "no town, community, grid or county '999' in your jurisdiction"
    assert i18n.detail(msg, "zh") == "您的辖区内没有代码为 '999' 的镇街、村社区、网格或区县"
    assert i18n.detail(msg, "en") == msg
    assert i18n.detail("something nobody translated", "zh") == "something nobody translated"


def _help(*args: str, lang: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "GRIDMAP_LANGUAGE": lang, "COLUMNS": "200"}
    proc = subprocess.run([sys.executable, "-m", "api.cli", *args, "--help"], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_help_in_both_languages():
    zh = _help(lang="zh")
    assert "命令" in zh and "导出一个图层" in zh and "事件：统计与热点。" in zh
    zh_export = _help("export", lang="zh")
    assert "输出文件（.gpkg、.geojson、.csv 或 .xlsx）。" in zh_export and "选项" in zh_export
    assert "以下之一：areas, grids" in zh_export  # a help with values in it, translated by its pattern
    zh_plan = _help("plan", "create", lang="zh")
    assert "重划这个村社区。" in zh_plan and "每个网格应有的户数。" in zh_plan
    en = _help("export", lang="en")
    assert "Output file (.gpkg, .geojson, .csv or .xlsx)." in en and "输出" not in en



