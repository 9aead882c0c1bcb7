"""Helpers the CLI modules share: console, error printing, engine with migrations applied."""

from __future__ import annotations

import sys
from contextlib import contextmanager

import typer
from rich.console import Console
from sqlalchemy import Engine

from api.db.embedded import EmbeddedError
from geo.errors import InvalidInput

# piped to a file, rich would wrap tables at 80 columns and cut codes; give them room instead
console = Console(width=None if sys.stdout.isatty() else 200)
err_console = Console(stderr=True)


@contextmanager
def user_errors():
    """Turn the errors a user can act on into a message and exit code 1 (2 for bad input)."""
    try:
        yield
    except InvalidInput as exc:
        err_console.print(f"[bold red]error:[/] {exc.title}")
        for p in exc.problems[:50]:
            err_console.print(f"  - {p}")
        if len(exc.problems) > 50:
            err_console.print(f"  ... and {len(exc.problems) - 50} more")
        err_console.print("Nothing was written.")
        raise typer.Exit(2)
    except EmbeddedError as exc:
        err_console.print(f"[bold red]database:[/] {exc}")
        raise typer.Exit(1)


def migrated_engine() -> Engine:
    """Engine for the configured database, started on demand, schema brought up to date."""
    from api.db.engine import get_engine
    from api.db.migrate import upgrade

    engine = get_engine()
    upgrade(engine)
    return engine


def is_tty() -> bool:
    return sys.stderr.isatty()
