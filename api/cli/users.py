"""``gridmap user add|list|disable|passwd`` and ``gridmap token create|list|revoke``: who may use gridmap.

A password or API key gridmap makes up is printed once and stored only hashed.  Roles and what
each may do: ``api/auth/roles.py`` (README "Users, roles and security").
"""

from __future__ import annotations

from contextlib import contextmanager

import typer

from api.cli.common import console, err_console, migrated_engine, user_errors

ROLES = "admin, planner, official, grid_worker, analyst, integration"

user_app = typer.Typer(help="Users: add, list, disable, change a password.", no_args_is_help=True)
token_app = typer.Typer(help="API keys for integrations: create, list, revoke.", no_args_is_help=True)


@contextmanager
def _service():
    """A transaction on the migrated database; gridmap's errors become a message and exit 2."""
    from api.errors import GridmapError

    with user_errors():
        engine = migrated_engine()
        try:
            with engine.begin() as conn:
                yield conn
        except GridmapError as exc:
            err_console.print(f"[bold red]error:[/] {exc.detail}")
            raise typer.Exit(2)


def _stdin(password: str | None) -> str | None:
    """``-``: the password is the first line of standard input (kept out of the shell history)."""
    if password != "-":
        return password
    import sys

    return sys.stdin.readline().rstrip("\r\n")


def _audited_as(group: str):
    def callback(ctx: typer.Context) -> None:
        from api.db import audit

        audit.set_context(*audit.cli_context(group, ctx.invoked_subcommand))

    return callback


user_app.callback()(_audited_as("user"))
token_app.callback()(_audited_as("token"))


@user_app.command("add")
def user_add(
    name: str = typer.Argument(..., help="Login name."),
    role: str = typer.Option(..., "--role", help=f"One of {ROLES}."),
    area: list[str] = typer.Option([], "--area", help="Area code of its jurisdiction: a town, community or grid "
                                                      "(repeat for several; not needed for admin)."),
    password: str = typer.Option(None, "--password", help="Its password; - reads it from standard input "
                                                          "(default: a random one, printed once)."),
    no_password: bool = typer.Option(False, "--no-password", help="Integration only: no password, API keys only."),
) -> None:
    """Add a user with a role and the areas it may see and change."""
    from api.auth import accounts

    password = _stdin(password)
    if password is None and not no_password:
        password, shown = accounts.new_password(), True
    else:
        shown = False
    with _service() as conn:
        accounts.add_user(conn, name, None if no_password else password, role, area)
    console.print(f"added user {name} ({role}{': ' + ', '.join(area) if area else ''})")
    if shown:
        console.print(f"password (shown once): {password}", highlight=False)


@user_app.command("list")
def user_list() -> None:
    """List users: name, role, areas, whether disabled."""
    from rich.table import Table

    from api.db.users import list_users

    with _service() as conn:
        rows = list_users(conn)
    table = Table()
    for c in ("name", "role", "areas", "disabled", "created"):
        table.add_column(c)
    for u in rows:
        table.add_row(u.name, u.role, ", ".join(u.areas) or "(everywhere)" if u.role == "admin" else ", ".join(u.areas),
                      "yes" if u.disabled else "", u.created_at.isoformat(timespec="seconds"))
    console.print(table)


@user_app.command("disable")
def user_disable(name: str = typer.Argument(...),
                 enable: bool = typer.Option(False, "--enable", help="Enable the user again instead.")) -> None:
    """Disable a user: its logins, tokens, sessions and API keys stop working at once."""
    from api.auth import accounts

    with _service() as conn:
        accounts.disable_user(conn, name, disabled=not enable)
    console.print(f"{'enabled' if enable else 'disabled'} user {name}")


@user_app.command("passwd")
def user_passwd(name: str = typer.Argument(...),
                password: str = typer.Option(None, "--password", help="The new password; - reads it from standard "
                                                                      "input (default: a random one).")) -> None:
    """Set a user's password; its earlier tokens and sessions end."""
    from api.auth import accounts

    password = _stdin(password)
    shown = password is None
    password = password or accounts.new_password()
    with _service() as conn:
        accounts.change_password(conn, name, password)
    console.print(f"password of {name} changed")
    if shown:
        console.print(f"password (shown once): {password}", highlight=False)


@token_app.command("create")
def token_create(user: str = typer.Argument(..., help="The user the key acts as."),
                 name: str = typer.Option(..., "--name", help="What uses the key, e.g. 12345-hotline."),
                 days: float = typer.Option(None, "--days", min=0.001, help="Expires after this many days (default never).")
                 ) -> None:
    """Create an API key (send it as 'X-API-Key: ...' or 'Authorization: Bearer ...'); printed once."""
    from api.auth import accounts

    with _service() as conn:
        kid, key = accounts.create_key(conn, user, name, days)
    console.print(f"API key {kid} for {user} ({name}), shown once:")
    console.print(key, highlight=False)


@token_app.command("list")
def token_list() -> None:
    """List API keys (never the keys themselves)."""
    from rich.table import Table

    from api.db.users import list_keys

    with _service() as conn:
        rows = list_keys(conn)
    table = Table()
    for c in ("id", "user", "name", "prefix", "created", "expires", "revoked"):
        table.add_column(c)
    iso = lambda t: t.isoformat(timespec="seconds") if t else ""  # noqa: E731
    for k in rows:
        table.add_row(str(k.id), k.user_name, k.name, k.prefix + "…", iso(k.created_at), iso(k.expires_at),
                      iso(k.revoked_at))
    console.print(table)


@token_app.command("revoke")
def token_revoke(key_id: int = typer.Argument(..., help="The key's id (gridmap token list).")) -> None:
    """Revoke an API key: it stops working at once."""
    from api.auth import accounts

    with _service() as conn:
        accounts.revoke_key(conn, key_id)
    console.print(f"revoked API key {key_id}")


def audit(since: str = typer.Option(None, "--since", help="From this time (ISO 8601; no offset: GRIDMAP_TIMEZONE)."),
          table: str = typer.Option(None, "--table", help="Only changes of this table."),
          actor: str = typer.Option(None, "--actor", help="Only changes by this actor (user name, cli:<user>, system)."),
          limit: int = typer.Option(50, "--limit", min=1, max=100_000)) -> None:
    """The audit log, newest first: when, who, what request or command, which row, what changed."""
    import json
    from datetime import datetime

    from rich.table import Table

    from api.db.users import audit_rows
    from api.incidents.times import zone_instant
    from api.settings import get_settings

    try:
        parsed = datetime.fromisoformat(since) if since else None
    except ValueError:
        raise typer.BadParameter(f"{since!r} is not an ISO 8601 time (e.g. 2025-03-01 or 2025-03-01T08:00)",
                                 param_hint="--since") from None
    try:  # any offset Python reads (PostgreSQL refuses beyond 15:59), years geo.validate.YEARS
        when = zone_instant(parsed, get_settings().timezone)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--since") from None
    with _service() as conn:
        total, rows = audit_rows(conn, since=when, table=table, actor=actor, limit=limit)
    out = Table(title=f"{len(rows)} of {total} audit row(s)")
    for c in ("at", "actor", "request", "operation", "table", "key", "changed"):
        out.add_column(c)
    for r in rows:
        before, after = r["before"] or {}, r["after"] or {}
        changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
        if r["before_geom"] != r["after_geom"]:
            changed.append("geom")
        if r["operation"] != "update":
            changed = []
        out.add_row(r["at"], r["actor"], r["request"] or "", r["operation"], r["table_name"], r["row_key"] or "",
                    json.dumps(changed, ensure_ascii=False) if changed else "")
    console.print(out)


def register(app: typer.Typer) -> None:
    app.add_typer(user_app, name="user")
    app.add_typer(token_app, name="token")
    app.command(name="audit")(audit)
