"""gridmap's private PostGIS cluster, run from Debian's PostgreSQL binaries.

The cluster lives under ``<home>/pg``: ``data/`` (the cluster), ``run/`` (its unix socket),
``log/postgres.log``, ``port`` and the generated passwords (``password`` of the cluster's superuser,
``owner_password``, ``app_password``; each mode 0600, never printed).  It listens on 127.0.0.1 on a
free port (scram-sha-256) and on its unix socket (trust, reachable only by the operating-system
user who owns the data directory).

Three database roles (:mod:`api.db.roles`): the superuser ``gridmap`` (initdb's; used only over the
socket, to create the database, the extensions and the other two roles), the owner
``gridmap_owner`` (the schema, migrations, admin commands: :meth:`EmbeddedPostgres.owner_url`) and
the least-privilege ``gridmap_app`` (everything else: :meth:`EmbeddedPostgres.url`).  Every start
makes sure of the roles, so a data directory made before them upgrades in place.

``initdb`` and ``pg_ctl`` refuse to run as root; as root they run as the ``postgres`` system
user, who then owns ``<home>/pg``.
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from api.db.roles import APP_ROLE, OWNER_ROLE, embedded_roles_sql

DB_NAME = "gridmap"
DB_USER = "gridmap"  # the cluster's superuser (initdb -U)
EXTENSIONS = ("postgis", "btree_gist", "pgrouting")


class EmbeddedError(RuntimeError):
    """The embedded cluster could not be set up or started; the message says why and what to do."""


def find_pg_bin(hint: Path | None = None) -> Path:
    """Return the directory holding ``initdb`` and ``pg_ctl`` (PostgreSQL 15 preferred)."""
    candidates = [hint] if hint else []
    candidates += [Path("/usr/lib/postgresql/15/bin")]
    candidates += [Path(p) for p in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)]
    for c in candidates:
        if c and (c / "initdb").exists() and (c / "pg_ctl").exists():
            return c
    found = shutil.which("pg_config")
    if found:
        out = subprocess.run([found, "--bindir"], capture_output=True, text=True).stdout.strip()
        if out and (Path(out) / "initdb").exists():
            return Path(out)
    raise EmbeddedError(
        "PostgreSQL binaries not found. Install them with `apt-get install postgresql-15 "
        "postgresql-15-postgis-3 postgresql-15-pgrouting` (or `make setup`), or set "
        "GRIDMAP_DATABASE_URL to an external PostGIS."
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class EmbeddedPostgres:
    """A private PostgreSQL + PostGIS cluster under ``home``.

    Parameters
    ----------
    home : Path
        gridmap's data directory; the cluster goes in ``home / "pg"``.
    pg_bin : Path, optional
        Directory of the PostgreSQL binaries; found automatically when omitted.
    port : int, optional
        TCP port on 127.0.0.1; a free one is picked (and remembered) when omitted.
    """

    home: Path
    pg_bin: Path | None = None
    port: int | None = None

    def __post_init__(self) -> None:
        self.home = Path(self.home).expanduser().resolve()
        self.root = self.home / "pg"
        self.data = self.root / "data"
        self.run_dir = self.root / "run"
        self.log = self.root / "log" / "postgres.log"

    # -- who runs the binaries -------------------------------------------------------------
    @property
    def _as_root(self) -> bool:
        return os.geteuid() == 0

    def _cmd(self, *args: str) -> list[str]:
        if self._as_root:
            return ["runuser", "-u", "postgres", "--", *args]
        return list(args)

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        proc = subprocess.run(self._cmd(*args), capture_output=True, text=True)
        if check and proc.returncode != 0:
            raise EmbeddedError(f"{' '.join(args[:2])} failed: {proc.stderr.strip() or proc.stdout.strip()}")
        return proc

    def _chown(self, path: Path) -> None:
        if self._as_root:
            pw = pwd.getpwnam("postgres")
            os.chown(path, pw.pw_uid, pw.pw_gid)

    # -- state -------------------------------------------------------------------------------
    @property
    def bin(self) -> Path:
        if self.pg_bin is None:
            self.pg_bin = find_pg_bin()
        return self.pg_bin

    @property
    def initialised(self) -> bool:
        return (self.data / "PG_VERSION").exists()

    def _port(self) -> int:
        f = self.root / "port"
        if self.port is None and f.exists():
            self.port = int(f.read_text().strip())
        if self.port is None:
            self.port = _free_port()
        return self.port

    @property
    def password(self) -> str:
        """The superuser's password (TCP); the app and the owner have their own."""
        return (self.root / "password").read_text().strip()

    def _role_password(self, role: str) -> str:
        """The generated password of ``role`` (``owner`` or ``app``), made on first use (0600)."""
        f = self.root / f"{role}_password"
        if not f.exists():
            fd = os.open(f, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_urlsafe(24) + "\n")
        f.chmod(0o600)
        return f.read_text().strip()

    def running(self) -> bool:
        if not self.initialised:
            return False
        proc = self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "status", check=False)
        return proc.returncode == 0

    def _url(self, user: str, password: str) -> str:
        return f"postgresql+psycopg2://{user}:{quote(password, safe='')}@127.0.0.1:{self._port()}/{DB_NAME}"

    def url(self) -> str:
        """SQLAlchemy URL of the cluster's ``gridmap`` database over TCP (127.0.0.1) as the
        least-privilege application role (``gridmap_app``)."""
        return self._url(APP_ROLE, self._role_password("app"))

    def owner_url(self) -> str:
        """The same database as the owner role (``gridmap_owner``): migrations and admin commands."""
        return self._url(OWNER_ROLE, self._role_password("owner"))

    def superuser_url(self) -> str:
        """The same database as the cluster's superuser (tests and the cluster's own set-up only)."""
        return self._url(DB_USER, self.password)

    # -- lifecycle -----------------------------------------------------------------------
    def init(self) -> None:
        """Create the cluster (once): directories, ``initdb``, the database and extensions."""
        if self.initialised:
            return
        if self._as_root and str(self.home).startswith("/root"):
            raise EmbeddedError(
                f"GRIDMAP_HOME={self.home} is under /root, which the postgres user cannot enter; "
                "as root use a home such as /var/lib/gridmap."
            )
        for d in (self.root, self.run_dir, self.log.parent):
            d.mkdir(parents=True, exist_ok=True)
            self._chown(d)
        self.run_dir.chmod(0o700)
        pwfile = self.root / "password"
        if not pwfile.exists():
            pwfile.write_text(secrets.token_urlsafe(24) + "\n")
        pwfile.chmod(0o600)
        self._chown(pwfile)
        self._run(
            str(self.bin / "initdb"),
            "-D", str(self.data),
            "-U", DB_USER,
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            f"--pwfile={pwfile}",
            "-E", "UTF8",
            "--locale=C.UTF-8",
        )
        (self.root / "port").write_text(f"{self._port()}\n")

    def start(self) -> str:
        """Start the cluster if it is not running (initialising it first), make sure of the
        database, its extensions and the roles, and return the application's URL."""
        self.init()
        if not self.running():
            port = self._port()
            opts = (
                f"-p {port} -k {self.run_dir} -c listen_addresses=127.0.0.1 "
                "-c shared_buffers=256MB -c work_mem=64MB -c maintenance_work_mem=256MB "
                "-c fsync=on -c max_connections=100"
            )
            proc = self._run(
                str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.log),
                "-w", "-t", "60", "-o", opts, "start", check=False,
            )
            if proc.returncode != 0:
                tail = self.log.read_text()[-2000:] if self.log.exists() else ""
                raise EmbeddedError(f"pg_ctl start failed: {proc.stderr.strip()}\n{tail}")
        self._ensure_database()
        self._ensure_roles()
        return self.url()

    def stop(self) -> None:
        if self.running():
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def destroy(self) -> None:
        """Stop the cluster and delete it (tests use this for their throwaway clusters)."""
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def psql_args(self, dbname: str = DB_NAME) -> list[str]:
        """Command line that opens ``psql`` on the cluster through its unix socket."""
        psql = self.bin / "psql"
        return [str(psql if psql.exists() else "psql"), "-h", str(self.run_dir), "-p", str(self._port()),
                "-U", DB_USER, dbname]

    def _psql(self, sql: str, dbname: str = "postgres", *, stdin: bool = False) -> str:
        """Run ``sql`` as the superuser over the socket; with ``stdin`` the SQL goes on psql's
        standard input, not its command line (for SQL holding a password)."""
        args = self.psql_args(dbname) + ["-X", "-v", "ON_ERROR_STOP=1", "-qtA"]
        args += ["-f", "-"] if stdin else ["-c", sql]
        # The socket dir belongs to the cluster's owner: as root, connect as postgres.
        proc = subprocess.run(self._cmd(*args), capture_output=True, text=True, input=sql if stdin else None)
        if proc.returncode != 0:
            raise EmbeddedError(f"psql failed: {proc.stderr.strip()}")
        return proc.stdout.strip()

    def _ensure_roles(self) -> None:
        """The owner and app roles, the database and gridmap's objects given to the owner
        (:func:`api.db.roles.embedded_roles_sql`; idempotent, so an old data directory upgrades)."""
        sql = embedded_roles_sql(DB_NAME, self._role_password("owner"), self._role_password("app"))
        try:
            self._psql(sql, DB_NAME, stdin=True)
        except EmbeddedError as exc:  # never echo the script: it holds the passwords
            raise EmbeddedError(str(exc).replace(self._role_password("owner"), "***")
                                .replace(self._role_password("app"), "***")) from None

    def _ensure_database(self) -> None:
        deadline = time.monotonic() + 30
        while True:
            try:
                exists = self._psql(f"SELECT 1 FROM pg_database WHERE datname = '{DB_NAME}'")
                break
            except EmbeddedError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        if exists != "1":
            self._psql(f'CREATE DATABASE "{DB_NAME}"')
        missing = [e for e in EXTENSIONS if e != "pgrouting"]
        for ext in missing:
            self._psql(f'CREATE EXTENSION IF NOT EXISTS "{ext}"', DB_NAME)
        try:  # pgRouting is optional: gridmap uses it only as an independent check.
            self._psql('CREATE EXTENSION IF NOT EXISTS "pgrouting"', DB_NAME)
        except EmbeddedError:
            pass

    def status(self) -> dict:
        return {
            "home": str(self.home),
            "data": str(self.data),
            "initialised": self.initialised,
            "running": self.running(),
            "port": self._port() if self.initialised else None,
            "socket_dir": str(self.run_dir),
            "log": str(self.log),
        }
