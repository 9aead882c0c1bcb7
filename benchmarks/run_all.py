"""Run every benchmark in ``benchmarks/`` one after the other (``make bench``), small by default.

    .venv/bin/python benchmarks/run_all.py [--full] [--only NAME ...]

Small mode (the default) runs each script on the 12,000-household sample district with short
loops, so the whole set takes minutes and shows every script still runs; ``--full`` runs each with
its own defaults (the 500,000-household city the figures in the README come from).  A script not
listed in :data:`SMALL` runs with its defaults either way.  Each script prints its own figures and
its ratio against the baseline it measures in the same run; this prints a summary and exits
non-zero if any script failed.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
#: Not benchmarks: this runner and the scratch-database helper the benchmarks share.
HELPERS = {"run_all", "scratch_db"}
#: Small-mode arguments per benchmark script.
SMALL: dict[str, list[str]] = {
    "auth": ["--households", "12000", "--incidents", "20000", "--requests", "200"],
    "cli_help": ["--repeat", "1"],
    "coverage": ["--households", "12000", "--pg-sample", "3"],
    "front": ["--households", "12000", "--repeat", "3"],
    "coverage_api": ["--households", "12000", "--stations", "20", "--pg-sample", "3", "--warm-cap", "120"],
    "import_rate": ["--households", "12000", "--baseline-rows", "10000"],
    "incidents": ["--households", "12000", "--incidents", "20000", "--years", "1", "--chunk", "10000"],
    "regions": ["--regions", "3", "--households", "3000", "--incidents", "2000", "--repeat", "1"],
    "sample_scale": ["--households", "12000"],
    "siting": ["--small"],
    "siting_service": ["--households", "12000", "--k", "10"],
    "plans": ["--households", "12000", "--moves", "50"],
    "roles": ["--households", "12000", "--rounds", "2"],
    "workbench": ["--households", "12000", "--moves", "40"],
}


def scripts() -> list[str]:
    return sorted(p.stem for p in HERE.glob("*.py") if p.stem not in HELPERS and not p.stem.startswith("_"))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--full", action="store_true", help="each script's own defaults (slow)")
    ap.add_argument("--only", nargs="+", metavar="NAME", help="only these scripts (names without .py)")
    args = ap.parse_args()
    names = scripts()
    if args.only:
        unknown = sorted(set(args.only) - set(names))
        if unknown:
            ap.error(f"no benchmark named {', '.join(unknown)}; there are: {', '.join(names)}")
        names = [n for n in names if n in args.only]
    results = []
    for name in names:
        extra = [] if args.full else SMALL.get(name, [])
        cmd = [sys.executable, str(HERE / f"{name}.py"), *extra]
        print(f"\n=== {name} {' '.join(extra)}".rstrip(), flush=True)
        t0 = time.perf_counter()
        rc = subprocess.run(cmd, cwd=HERE.parent).returncode
        results.append((name, rc, time.perf_counter() - t0))
    print("\n=== summary")
    for name, rc, t in results:
        print(f"{name:<16} {'ok' if rc == 0 else f'FAILED (exit {rc})':<16} {t:7.1f} s")
    return int(any(rc for _, rc, _ in results))


if __name__ == "__main__":
    sys.exit(main())
