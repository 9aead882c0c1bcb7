"""Run the ``gridmap`` CLI in-process against the test database."""

from __future__ import annotations


def run_cli(pg_url: str, monkeypatch, args, **env):
    """``gridmap ARGS...`` with ``GRIDMAP_DATABASE_URL`` set to the test database (and ``env``), wide
    output; returns typer's ``Result``.  The settings cache is cleared before and after."""
    from typer.testing import CliRunner

    from api.cli import app
    from api.settings import get_settings

    monkeypatch.setenv("GRIDMAP_DATABASE_URL", pg_url)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    get_settings.cache_clear()
    try:
        return CliRunner().invoke(app, list(args), terminal_width=200)
    finally:
        get_settings.cache_clear()


def flat(output: str) -> str:
    """The CLI's output with rich's line wrapping undone (runs of whitespace made one space)."""
    return " ".join(output.split())
