"""``gridmap --help`` answers without loading the heavy libraries, and warnings reach the terminal as
one short line (both checked in fresh interpreters, deterministically: no timing asserts; the times
are measured by ``benchmarks/cli_help.py``)."""

from __future__ import annotations

import json
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import api

ROOT = Path(api.__file__).resolve().parent.parent
CLI_DIR = ROOT / "api" / "cli"
HEAVY = ("geopandas", "shapely", "pandas", "numpy", "fastapi", "sqlalchemy", "pyproj", "scipy")


def python(code: str, *args: str, **env: str) -> subprocess.CompletedProcess:
    full = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONWARNINGS": "default", **env}
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          env=full, cwd=ROOT, timeout=120)


def heavy_after(statement: str, stub_package: bool = False) -> list[str]:
    """Heavy modules in ``sys.modules`` after ``statement`` runs in a fresh interpreter.

    With ``stub_package`` the ``api.cli`` package is registered without running its ``__init__``
    (which imports every command module), so one module is judged on its own imports.
    """
    stub = (f"import sys, types; p = types.ModuleType('api.cli'); p.__path__ = [{str(CLI_DIR)!r}]; "
            "sys.modules['api.cli'] = p\n") if stub_package else ""
    code = (f"{stub}{statement}\nimport json, sys\n"
            f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))")
    proc = python(code)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


MODULES = sorted(m.name for m in pkgutil.iter_modules([str(CLI_DIR)]) if m.name != "__main__")


@pytest.mark.parametrize("module", MODULES)
def test_each_cli_module_imports_only_light_libraries(module):
    heavy = heavy_after(f"import api.cli.{module}", stub_package=True)
    assert not heavy, (f"api.cli.{module} imports {', '.join(heavy)} at module level "
                       "(move them into the command functions)")


@pytest.mark.parametrize("statement", [
    "import api.cli",
    "import sys; sys.argv = ['gridmap', '--help']\ntry:\n    import api.cli.__main__\nexcept SystemExit:\n    pass",
    "import sys; sys.argv = ['gridmap', 'db', '--help']\ntry:\n    import api.cli.__main__\nexcept SystemExit:\n    pass",
], ids=["import", "help", "db-help"])
def test_help_loads_no_heavy_library(statement):
    heavy = heavy_after(statement)
    assert not heavy, f"{statement.splitlines()[0]!r} loaded {', '.join(heavy)}"


def test_python_m_api_cli_is_the_gridmap_command():
    proc = subprocess.run([sys.executable, "-m", "api.cli", "--help"], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr
    for command in ("db", "demo", "export", "serve", "import", "coverage", "incidents", "sample"):
        assert command in proc.stdout
    assert "Usage: gridmap" in proc.stdout


WARN_APP = """
import warnings, sys
from api.cli import app

@app.command("warn-me")
def warn_me(path: str):
    import pyogrio
    try:
        pyogrio.read_dataframe(path)   # pyogrio warns 'Non closed ring detected', then GEOS refuses
    except Exception:
        pass
    warnings.warn("second line\\nnot shown", UserWarning)
    print("done")

app(sys.argv[1:], prog_name="gridmap")
"""


def test_warnings_reach_the_terminal_as_one_short_line(tmp_path):
    ring = tmp_path / "ring.geojson"
    ring.write_text(json.dumps({"type": "FeatureCollection", "features": [{
        "type": "Feature", "properties": {"code": "g1"},
        "geometry": {"type": "Polygon", "coordinates": [[[120.0, 31.0], [120.01, 31.0], [120.01, 31.01]]]}}]}))
    proc = python(WARN_APP, "warn-me", str(ring))
    assert proc.returncode == 0, proc.stderr
    assert "done" in proc.stdout
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert any(ln.startswith("warning: Non closed ring detected") for ln in lines), proc.stderr
    assert "warning: second line" in lines, proc.stderr
    # no "path.py:123: RuntimeWarning: ..." header, no echoed source line, no second message line
    assert "RuntimeWarning" not in proc.stderr and "UserWarning" not in proc.stderr, proc.stderr
    assert ".py:" not in proc.stderr and "not shown" not in proc.stderr, proc.stderr
    assert all(ln.startswith("warning: ") for ln in lines), proc.stderr


def test_without_the_cli_the_same_warning_is_raw(tmp_path):
    """The check above can fail: the same read outside the CLI prints Python's raw warning."""
    ring = tmp_path / "ring.geojson"
    ring.write_text(json.dumps({"type": "FeatureCollection", "features": [{
        "type": "Feature", "properties": {"code": "g1"},
        "geometry": {"type": "Polygon", "coordinates": [[[120.0, 31.0], [120.01, 31.0], [120.01, 31.01]]]}}]}))
    proc = python("import sys, pyogrio\ntry:\n    pyogrio.read_dataframe(sys.argv[1])\nexcept Exception:\n    pass",
                  str(ring))
    assert "RuntimeWarning: Non closed ring detected" in proc.stderr
