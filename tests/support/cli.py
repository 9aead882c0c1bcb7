"""Run the ``gridmap`` CLI in-process against the test database."""

from __future__ import annotations


def run_cli(pg_url: str, monkeypatch, args, **env):
    """``gridmap ARGS...`` with ``GRIDMAP_DATABASE_URL`` set to the test database (and ``env``), wide
    output; returns typer's ``Result``.  The settings cache is cleared before and after, and the
    audit context the command sets (``cli:...``) is put back, so later writes in the session are
    audited as they would be outside a command."""
    from typer.testing import CliRunner

    from api.cli import app
    from api.db import audit
    from api.settings import get_settings

    session_env(monkeypatch, pg_url)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    get_settings.cache_clear()
    who = audit.current()  # the command sets its own audit context: not left to the tests after it
    try:
        return CliRunner().invoke(app, list(args), terminal_width=200)
    finally:
        audit.set_context(*who)
        get_settings.cache_clear()


def session_env(monkeypatch, pg_url: str) -> None:
    """``GRIDMAP_DATABASE_URL`` = ``pg_url`` and, when that is the session database's application
    role, ``GRIDMAP_OWNER_DATABASE_URL`` its owner (else unset: one role for all)."""
    from tests.support.db import SESSION

    monkeypatch.setenv("GRIDMAP_DATABASE_URL", pg_url)
    if SESSION.get("app") == pg_url and SESSION.get("owner") not in (None, pg_url):
        monkeypatch.setenv("GRIDMAP_OWNER_DATABASE_URL", SESSION["owner"])
    else:
        monkeypatch.delenv("GRIDMAP_OWNER_DATABASE_URL", raising=False)


def flat(output: str) -> str:
    """The CLI's output with rich's line wrapping undone (runs of whitespace made one space)."""
    return " ".join(output.split())
