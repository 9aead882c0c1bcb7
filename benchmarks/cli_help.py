"""How fast ``gridmap --help`` and every sub-command's ``--help`` answer (target: under 1 s each).

    .venv/bin/python benchmarks/cli_help.py [--repeat 3]

Each ``--help`` runs as ``python -m api.cli ... --help`` in a fresh interpreter (what the
``gridmap`` script does), best of ``--repeat`` runs.  Baseline, measured in the same run: a fresh
interpreter that only imports typer and rich (the floor any ``--help`` pays); each figure is also
printed as a ratio to it.  The modules still imported at ``--help`` time that make it slow are
listed (``tests/api/cli/test_quick.py`` checks the same thing without timing).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET_S = 1.0
HEAVY = ("geopandas", "shapely", "pandas", "numpy", "fastapi", "sqlalchemy", "pyproj", "scipy")


def best_of(cmd: list[str], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
        elapsed = time.perf_counter() - t0
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr}")
        best = min(best, elapsed)
    return best


def commands() -> list[list[str]]:
    """Every command path of the CLI: [], ["db"], ["db", "start"], ..."""
    import typer

    from api.cli import app

    found: list[list[str]] = []

    def walk(cmd, path: list[str]) -> None:
        found.append(path)
        for name, sub in sorted(getattr(cmd, "commands", {}).items()):  # a group's sub-commands
            walk(sub, [*path, name])

    walk(typer.main.get_command(app), [])
    return found


def heavy_at_help() -> list[str]:
    code = ("import sys\nsys.argv = ['gridmap', '--help']\ntry:\n    import api.cli.__main__\n"
            f"except SystemExit:\n    pass\nprint('HEAVY=' + ','.join(m for m in {HEAVY!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True).stdout
    last = out.strip().splitlines()[-1].removeprefix("HEAVY=")
    return [m for m in last.split(",") if m]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    base = best_of([sys.executable, "-c", "import typer, rich.console"], args.repeat)
    print(f"baseline (python -c 'import typer, rich.console'): {base:.3f} s")
    rows = []
    for path in commands():
        t = best_of([sys.executable, "-m", "api.cli", *path, "--help"], args.repeat)
        rows.append((" ".join(["gridmap", *path, "--help"]), t))
    width = max(len(name) for name, _ in rows)
    for name, t in rows:
        verdict = "ok" if t < TARGET_S else "OVER"
        print(f"{name:<{width}}  {t:6.3f} s  {t / base:5.1f}x baseline  (target < {TARGET_S:.0f} s: {verdict})")
    worst = max(t for _, t in rows)
    print(f"slowest: {worst:.3f} s; {sum(t < TARGET_S for _, t in rows)}/{len(rows)} under {TARGET_S:.0f} s")
    heavy = heavy_at_help()
    print(f"heavy modules loaded by --help: {', '.join(heavy) if heavy else 'none'}")
    print(json.dumps({"baseline_s": round(base, 3), "slowest_s": round(worst, 3),
                      "help_s": {name: round(t, 3) for name, t in rows}}))


if __name__ == "__main__":
    main()
