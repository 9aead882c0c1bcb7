"""A real uvicorn server on a loopback port, in a thread, for tests that need real connections
(keep-alive, chunked bodies, clients that go away)."""

from __future__ import annotations

import socket
import threading
import time
from contextlib import contextmanager

import uvicorn


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serving(settings, extra_routes: dict | None = None, app=None, port: int | None = None):
    """Serve ``create_app(settings)`` (plus ``extra_routes``: path -> sync handler(request)) on
    ``port`` (default: a free one) and yield the port; the server is stopped on exit."""
    from api.app import create_app

    app = app or create_app(settings)
    for path, fn in (extra_routes or {}).items():
        app.add_api_route(path, fn, methods=["GET", "POST"])
    port = port or free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           lifespan="on", server_header=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(10)
