"""``gridmap serve --production --workers N``: the server as production runs it, in its own process,
on the session's PostGIS: N worker processes answer, every one with the app (and its database)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil

import api

ROOT = Path(api.__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_production_server_runs_its_workers(db, pg_url, tmp_path):
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRIDMAP_")}
    env.update(GRIDMAP_DATABASE_URL=pg_url, GRIDMAP_HOME=str(tmp_path), PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-m", "api.cli", "serve", "--production", "--workers", "2",
                             "--port", str(port)], cwd=ROOT, env=env, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline, answered = time.monotonic() + 120, None
        while time.monotonic() < deadline and answered is None:
            assert proc.poll() is None, proc.stderr.read()
            try:
                answered = httpx.get(f"http://127.0.0.1:{port}/health", timeout=5)
            except httpx.HTTPError:
                time.sleep(0.3)
        assert answered is not None and answered.status_code == 200, "no answer within 120 s"
        assert answered.json()["database"]["state"] == "up"
        workers = [p for p in psutil.Process(proc.pid).children(recursive=True)
                   if "spawn_main" in " ".join(p.cmdline())]
        assert len(workers) == 2, [p.cmdline() for p in psutil.Process(proc.pid).children(recursive=True)]
        # each worker serves the whole app; a few requests on fresh connections all answer
        for _ in range(6):
            assert httpx.get(f"http://127.0.0.1:{port}/incidents/categories", timeout=30).status_code == 200
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
    out = proc.stdout.read()
    assert "2 workers" in out
    assert " 200 " not in out + proc.stderr.read()  # production: no access log
