"""Backing up and restoring gridmap's database with ``pg_dump`` / ``pg_restore``.

One file in PostgreSQL's custom format holds the whole database (schema, data, the Alembic
version), for the embedded cluster and an external one alike.  :func:`backup` writes it through a
temporary file renamed at the end, so a failed backup never leaves a truncated file under the
name.  :func:`restore` replaces the database's objects with the file's in ONE transaction
(gridmap's objects dropped whole, then the restore script, by ``psql --single-transaction`` with
``ON_ERROR_STOP``): a restore that
fails changes nothing.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
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


#: Table-of-contents entries of the extensions' own objects (``pg_restore --list``).
_EXTENSIONS_OWN = re.compile(r"^\d+; \d+ \d+ (EXTENSION |COMMENT - EXTENSION |TABLE DATA public spatial_ref_sys )")


def restore(url: str, file: Path, pg_bin: Path | None = None) -> None:
    """Replace the database at ``url`` with the backup ``file``, in one transaction."""
    file = Path(file)
    if not file.is_file():
        raise InvalidInput(f"{file} is not a file", [Problem(f"no backup file at {file}", field="FILE")])
    with file.open("rb") as fh:
        if fh.read(5) != b"PGDMP":
            raise InvalidInput(f"{file} is not a gridmap backup", [Problem(
                "the file is not a pg_dump custom-format archive (made by `gridmap db backup`)", field="FILE")])
    # pg_restore --clean drops object by object, which a partitioned table refuses (a county
    # partition's inherited keys and indexes go only with their table); so gridmap's own objects are
    # dropped whole first (CLEAN: every table, view, sequence, routine and type in public that is not
    # PostGIS's, and the county partitions' schema) and the restore script (pg_restore --file=-) runs
    # after it, both in ONE psql transaction with ON_ERROR_STOP: a restore that fails changes nothing
    # the extensions are the cluster's (its superuser made them, an external database's administrator
    # likewise): the schema's owner, who restores, may not create or comment them nor write their
    # tables (PostGIS's spatial_ref_sys, which gridmap never adds to), so those entries are left out
    # of the archive's table of contents
    listing = subprocess.run([_tool("pg_restore", pg_bin), "--list", str(file)], capture_output=True, text=True)
    if listing.returncode != 0:
        raise EmbeddedError(f"pg_restore failed: {(listing.stderr or listing.stdout).strip()[-2000:]}")
    fd, name = tempfile.mkstemp(prefix="gridmap-restore-", suffix=".toc")
    os.close(fd)
    toc = Path(name)
    toc.write_text("".join(line for line in listing.stdout.splitlines(keepends=True)
                           if not _EXTENSIONS_OWN.match(line)))
    try:
        proc = subprocess.run([_tool("pg_restore", pg_bin), "--no-owner", "--no-privileges", f"--use-list={toc}",
                               "--file=-", str(file)], capture_output=True, text=True)
    finally:
        toc.unlink(missing_ok=True)
    if proc.returncode != 0:
        raise EmbeddedError(f"pg_restore failed: {(proc.stderr or proc.stdout).strip()[-2000:]}")
    _run_sql(_tool("psql", pg_bin), url, CLEAN + "\n" + proc.stdout)


#: Drops what a gridmap database holds besides the PostGIS extension (see :func:`restore`).
CLEAN = """
DROP SCHEMA IF EXISTS regions CASCADE;
DROP SCHEMA IF EXISTS ogc CASCADE;
DO $clean$ DECLARE r record; BEGIN
  FOR r IN SELECT c.relname, c.relkind FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace
           WHERE s.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
             AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype = 'e')
  LOOP
    EXECUTE format('DROP %s IF EXISTS public.%I CASCADE',
                   CASE r.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'S' THEN 'SEQUENCE'
                                  WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END, r.relname);
  END LOOP;
  FOR r IN SELECT p.oid::regprocedure::text AS f FROM pg_proc p JOIN pg_namespace s ON s.oid = p.pronamespace
           WHERE s.nspname = 'public'
             AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')
  LOOP
    EXECUTE 'DROP ROUTINE IF EXISTS ' || r.f || ' CASCADE';
  END LOOP;
  FOR r IN SELECT t.typname FROM pg_type t JOIN pg_namespace s ON s.oid = t.typnamespace
           WHERE s.nspname = 'public' AND t.typtype IN ('e', 'd', 'c') AND t.typrelid = 0
             AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = t.oid AND d.deptype = 'e')
  LOOP
    EXECUTE format('DROP TYPE IF EXISTS public.%I CASCADE', r.typname);
  END LOOP;
END $clean$;
"""


def _run_sql(psql: str, url: str, script: str) -> None:
    proc = subprocess.run([psql, "-X", "-q", "--single-transaction", "-v", "ON_ERROR_STOP=1",
                           f"--dbname={libpq_url(url)}", "-f", "-"], input=script, capture_output=True, text=True)
    if proc.returncode != 0:
        raise EmbeddedError(f"pg_restore failed: {(proc.stderr or proc.stdout).strip()[-2000:]}")
