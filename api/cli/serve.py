"""``gridmap serve``: run the API and map pages."""

from __future__ import annotations

import typer

from api.cli.common import console, migrated_engine, user_errors


def serve(
    host: str = typer.Option(None, help="Address to bind (GRIDMAP_HOST, default 127.0.0.1)."),
    port: int = typer.Option(None, help="Port (GRIDMAP_PORT, default 8000)."),
) -> None:
    """Serve the API, /docs and the map pages."""
    import uvicorn

    from api.app import create_app
    from api.settings import get_settings

    s = get_settings()
    with user_errors():
        migrated_engine()
    host, port = host or s.host, port or s.port
    console.print(f"gridmap on http://{host}:{port}  (map: /map, API docs: /docs)")
    uvicorn.run(create_app(s), host=host, port=port, log_level="info", server_header=False)


def register(app: typer.Typer) -> None:
    app.command()(serve)
