"""Backing up and restoring gridmap's database with ``pg_dump`` / ``pg_restore``.

One file in PostgreSQL's custom format holds the whole database (schema, data, the Alembic
version), for the embedded cluster and an external one alike.  :func:`backup` writes it through a
temporary file renamed at the end, so a failed backup never leaves a truncated file under the
name.  :func:`restore` replaces the database's objects with the file's in ONE transaction
(``--single-transaction --exit-on-error``): a restore that fails changes nothing.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from api.db.embedded import EmbeddedError, find_pg_bin
from geo.errors import InvalidInput, Problem

__all__ = ["backup", "restore", "libpq_url"]


def libpq_url(url: str) -> str:
    """A SQLAlchemy URL (``postgresql+psycopg2://``) as libpq reads it (``postgresql://``)."""
    scheme, rest = url.split("://", 1)
    return "postgresql://" + rest if scheme.startswith("postgresql") or scheme == "postgres" else url


def _tool(name: str, pg_bin: Path | None) -> str:
    try:
        path = find_pg_bin(pg_bin) / name
        if path.exists():
            return str(path)
    except EmbeddedError:
        pass
    return name  # on PATH (an external database's client tools)


def _run(args: list[str], what: str) -> None:
    proc = subprocess.run(args, capture_output=True, text=True)
    if proc.returncode != 0:
        raise EmbeddedError(f"{what} failed: {(proc.stderr or proc.stdout).strip()[-2000:]}")


def backup(url: str, file: Path, pg_bin: Path | None = None) -> int:
    """Dump the database at ``url`` into ``file`` (custom format); returns the file's size, bytes."""
    file = Path(file)
    tmp = file.with_name(file.name + ".partial")
    try:
        _run([_tool("pg_dump", pg_bin), "--format=custom", "--no-owner", "--no-privileges",
              f"--file={tmp}", libpq_url(url)], "pg_dump")
        os.replace(tmp, file)
    finally:
        tmp.unlink(missing_ok=True)
    return file.stat().st_size


def restore(url: str, file: Path, pg_bin: Path | None = None) -> None:
    """Replace the database at ``url`` with the backup ``file``, in one transaction."""
    file = Path(file)
    if not file.is_file():
        raise InvalidInput(f"{file} is not a file", [Problem(f"no backup file at {file}", field="FILE")])
    with file.open("rb") as fh:
        if fh.read(5) != b"PGDMP":
            raise InvalidInput(f"{file} is not a gridmap backup", [Problem(
                "the file is not a pg_dump custom-format archive (made by `gridmap db backup`)", field="FILE")])
    _run([_tool("pg_restore", pg_bin), "--clean", "--if-exists", "--no-owner", "--no-privileges",
          "--single-transaction", "--exit-on-error", f"--dbname={libpq_url(url)}", str(file)], "pg_restore")
