"""gridmap served by uvicorn in a child process, for clients that hold the GIL (GDAL through
pyogrio) or must not share the test's event loop.  Its access log goes to a file the test reads, to
see what a client really sent."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

from tests.support.browser import free_port

ROOT = Path(__file__).resolve().parents[2]


class Served:
    """A running server: ``url`` (``http://127.0.0.1:PORT``) and its access ``log`` file."""

    def __init__(self, url: str, log: Path):
        self.url, self.log = url, log

    def requests(self) -> list[str]:
        """The request lines logged so far (``GET /path?query HTTP/1.1``), URL-decoded."""
        from urllib.parse import unquote_plus

        out = []
        for line in self.log.read_text(errors="replace").splitlines():
            if '"' in line and " HTTP/" in line:
                out.append(unquote_plus(line.split('"')[1]))
        return out


@contextmanager
def serve_process(pg_url: str, home: Path, timeout: float = 60.0):
    """``gridmap``'s app (``create_app`` from the environment) on a free loopback port in a child
    process, on database ``pg_url``; yields a :class:`Served` and stops the process afterwards."""
    port = free_port()
    log = home / f"access-{port}.log"
    env = {**os.environ, "GRIDMAP_DATABASE_URL": pg_url, "GRIDMAP_HOME": str(home), "PYTHONPATH": str(ROOT)}
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--factory", "api.app:create_app", "--host", "127.0.0.1",
             "--port", str(port), "--log-level", "info", "--no-use-colors"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(url + "/health", timeout=2):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the server did not start: {log.read_text()[-2000:]}") from None
                time.sleep(0.2)
        yield Served(url, log)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
