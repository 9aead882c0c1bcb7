"""The CLI names the option a bad value came from, with no Python traceback."""

from __future__ import annotations

import pytest

from tests.support.cli import run_cli


@pytest.mark.parametrize("args, option", [
    (["incidents", "stats", "--from", "garbage"], "--from"),
    (["incidents", "stats", "--to", "2026-13-01"], "--to"),
    (["incidents", "hotspots", "--from", "yesterday"], "--from"),
    (["coverage", "--at", "bad"], "--at"),
])
def test_bad_dates_name_their_option(db, pg_url, monkeypatch, args, option):
    r = run_cli(pg_url, monkeypatch, args)
    assert r.exit_code == 2, r.output
    assert option in r.output and "Traceback" not in r.output
    assert not isinstance(r.exception, ValueError)
