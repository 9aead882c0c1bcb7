"""Helpers the CLI modules share: console, error printing, warnings, engine with migrations applied.

Only typer, rich and the standard library are imported here at module level, so that
``gridmap --help`` stays quick; the database layer is imported inside the functions.
"""

from __future__ import annotations

import sys
import warnings
from contextlib import contextmanager
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.markup import escape

if TYPE_CHECKING:
    from sqlalchemy import Engine

# piped to a file, rich would wrap tables at 80 columns and cut codes; give them room instead
console = Console(width=None if sys.stdout.isatty() else 200)
err_console = Console(stderr=True)


def show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """``warnings.showwarning`` for the CLI: one short ``warning:`` line, no source location."""
    text = str(message).strip().splitlines()
    err_console.print(f"[yellow]warning:[/] {escape(text[0] if text else category.__name__)}",
                      highlight=False, soft_wrap=True)


def route_warnings() -> None:
    """Send every Python warning of this process through :func:`show_warning`."""
    warnings.showwarning = show_warning


@contextmanager
def user_errors():
    """Turn the errors a user can act on into a message and exit code 1 (2 for bad input)."""
    from api import i18n
    from api.db.embedded import EmbeddedError
    from geo.errors import InvalidInput

    lang = i18n.cli_lang()
    try:
        yield
    except InvalidInput as exc:
        err_console.print(f"[bold red]{i18n.text('error:', lang)}[/] {i18n.text(exc.title, lang)}")
        for p in exc.problems[:50]:
            err_console.print(f"  - {p}")
        if len(exc.problems) > 50:
            err_console.print(f"  ... and {len(exc.problems) - 50} more")
        err_console.print(i18n.text("Nothing was written.", lang))
        raise typer.Exit(2)
    except EmbeddedError as exc:
        err_console.print(f"[bold red]{i18n.text('database:', lang)}[/] {exc}")
        raise typer.Exit(1)


def migrated_engine(say: bool = False) -> Engine:
    """Engine of the application's role for the configured database, started on demand, schema
    brought up to date (as the owner: :func:`api.db.engine.migrate`).

    With ``say`` it prints which revisions were applied (or that the schema was up to date).
    """
    from api.db.engine import get_engine, migrate

    done = migrate()
    if say:
        console.print(str(done), soft_wrap=True)  # one line, however many revisions: scripts read it
    return get_engine()


def owner_engine() -> Engine:
    """Engine of the schema's owner, schema up to date: for the admin commands that need DDL
    (``gridmap region drop``, ``gridmap db restore``)."""
    from api.db.engine import get_owner_engine

    migrated_engine()
    return get_owner_engine()


def is_tty() -> bool:
    return sys.stderr.isatty()
