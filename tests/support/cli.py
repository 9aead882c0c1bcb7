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

    monkeypatch.setenv("GRIDMAP_DATABASE_URL", pg_url)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    get_settings.cache_clear()
    before = audit.current()
    try:
        return CliRunner().invoke(app, list(args), terminal_width=200)
    finally:
        get_settings.cache_clear()
        audit.set_context(*before)


def flat(output: str) -> str:
    """The CLI's output with rich's line wrapping undone (runs of whitespace made one space)."""
    return " ".join(output.split())
