"""``gridmap serve``: run the API and map pages."""

from __future__ import annotations

import typer

from api.cli.common import console, err_console, migrated_engine, user_errors


def serve(
    host: str = typer.Option(None, help="Address to bind (GRIDMAP_HOST, default 127.0.0.1)."),
    port: int = typer.Option(None, help="Port (GRIDMAP_PORT, default 8000)."),
    workers: int = typer.Option(None, "--workers", min=1,
                                help="Worker processes (GRIDMAP_WORKERS; default 1, with --production one per CPU)."),
    production: bool = typer.Option(False, "--production",
                                    help="Production mode: one worker per CPU unless --workers says otherwise, "
                                         "warnings only, no access log."),
) -> None:
    """Serve the API, /docs and the map pages."""
    import os

    import uvicorn

    from api.settings import get_settings

    s = get_settings()
    with user_errors():
        engine = migrated_engine()  # once, here: the workers start on a migrated schema (api.app.served_app)
    host, port = host or s.host, port or s.port
    refuse_open_mode(engine, host)
    engine.dispose()  # the workers open their own pools
    n = workers or s.workers or ((os.cpu_count() or 1) if production else 1)
    console.print(f"gridmap on http://{host}:{port}  (map: /map, API docs: /docs)"
                  + (f", {n} workers" if n > 1 else ""))
    # an import string, so that uvicorn can start the app in each worker process; every worker has
    # its own database pool and its own coverage caches
    uvicorn.run("api.app:served_app", factory=True, host=host, port=port, workers=n,
                log_level="warning" if production else "info", access_log=not production, server_header=False)


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or address to bind) reaches only this machine."""
    import ipaddress

    name = host.strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def refuse_open_mode(engine, host: str) -> None:
    """Exit with a message when no user exists (everyone would be admin) and ``host`` is not loopback."""
    from api.db.users import any_users

    if is_loopback(host):
        return
    with engine.connect() as conn:
        if any_users(conn):
            return
    err_console.print(
        f"[bold red]refusing to serve on {host}:[/] there is no user yet, so anyone who reaches the port would "
        "be an administrator. Add one first (gridmap user add NAME --role admin), or serve on 127.0.0.1.")
    raise typer.Exit(2)


def register(app: typer.Typer) -> None:
    app.command()(serve)
