"""The database side of access control: users, their API keys, and reading the audit log.

Plain reads and writes inside the caller's connection (the service, :mod:`api.auth.accounts`,
validates and hashes first).  The audit log itself is written by the triggers of migration
``0007_auth``, never here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, cast, func, insert, select, text, update
from sqlalchemy.dialects.postgresql import JSON

from api.db.models import api_tokens, audit_log, users

__all__ = ["UserRow", "KeyRow", "any_users", "user_by_id", "user_by_name", "list_users", "add_user",
           "set_disabled", "set_password", "add_key", "user_by_key", "revoke_key", "list_keys", "audit_rows"]


@dataclass(frozen=True)
class UserRow:
    id: int
    name: str
    password_hash: str | None
    role: str
    areas: tuple[str, ...]
    disabled: bool
    tokens_valid_after: datetime
    created_at: datetime


@dataclass(frozen=True)
class KeyRow:
    id: int
    user_id: int
    user_name: str
    name: str
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None


def _user(row) -> UserRow | None:
    if row is None:
        return None
    m = row._mapping
    return UserRow(m["id"], m["name"], m["password_hash"], m["role"], tuple(m["areas"] or ()), m["disabled"],
                   m["tokens_valid_after"], m["created_at"])


def any_users(conn: Connection) -> bool:
    """Whether at least one user exists (disabled ones count): without any, gridmap is open."""
    return bool(conn.execute(text("SELECT EXISTS (SELECT 1 FROM users)")).scalar())


def user_by_id(conn: Connection, user_id: int) -> UserRow | None:
    return _user(conn.execute(select(users).where(users.c.id == user_id)).first())


def user_by_name(conn: Connection, name: str) -> UserRow | None:
    return _user(conn.execute(select(users).where(users.c.name == name)).first())


def list_users(conn: Connection) -> list[UserRow]:
    return [_user(r) for r in conn.execute(select(users).order_by(users.c.name))]


def add_user(conn: Connection, name: str, password_hash: str | None, role: str, areas: list[str]) -> int:
    return conn.execute(insert(users).values(name=name, password_hash=password_hash, role=role,
                                             areas=list(areas)).returning(users.c.id)).scalar_one()


def set_disabled(conn: Connection, name: str, disabled: bool) -> bool:
    """Disable (or enable) a user; disabling also ends its tokens and sessions.  Whether it exists."""
    values: dict = {"disabled": disabled}
    if disabled:
        values["tokens_valid_after"] = func.now()
    return conn.execute(update(users).where(users.c.name == name).values(**values)).rowcount > 0


def set_password(conn: Connection, name: str, password_hash: str) -> bool:
    """New password hash; the tokens and sessions issued before end.  Whether the user exists."""
    return conn.execute(update(users).where(users.c.name == name).values(
        password_hash=password_hash, tokens_valid_after=func.now())).rowcount > 0


def add_key(conn: Connection, user_id: int, name: str, token_hash: str, prefix: str,
            expires_at: datetime | None) -> int:
    return conn.execute(insert(api_tokens).values(
        user_id=user_id, name=name, token_hash=token_hash, prefix=prefix, expires_at=expires_at,
    ).returning(api_tokens.c.id)).scalar_one()


def user_by_key(conn: Connection, token_hash: str) -> tuple[UserRow, str] | None:
    """The user of an API key that is neither revoked nor expired, and the key's name."""
    row = conn.execute(
        select(users, api_tokens.c.name.label("key_name"))
        .join(api_tokens, api_tokens.c.user_id == users.c.id)
        .where(api_tokens.c.token_hash == token_hash, api_tokens.c.revoked_at.is_(None),
               (api_tokens.c.expires_at.is_(None)) | (api_tokens.c.expires_at > func.now()))
    ).first()
    return None if row is None else (_user(row), row.key_name)


def revoke_key(conn: Connection, key_id: int) -> bool:
    """Revoke key ``key_id``; whether a key that was not yet revoked was."""
    return conn.execute(update(api_tokens).where(api_tokens.c.id == key_id, api_tokens.c.revoked_at.is_(None))
                        .values(revoked_at=func.now())).rowcount > 0


def list_keys(conn: Connection) -> list[KeyRow]:
    rows = conn.execute(
        select(api_tokens, users.c.name.label("user_name")).join(users, users.c.id == api_tokens.c.user_id)
        .order_by(api_tokens.c.id))
    return [KeyRow(r.id, r.user_id, r.user_name, r.name, r.prefix, r.created_at, r.expires_at, r.revoked_at)
            for r in rows]


def audit_rows(conn: Connection, *, since: datetime | None = None, table: str | None = None,
               actor: str | None = None, limit: int = 100, offset: int = 0) -> tuple[int, list[dict]]:
    """Audit rows (newest first) at or after ``since``, of ``table``, by ``actor``: ``(number matched, page)``;
    the geometries before and after as GeoJSON objects."""
    conds = []
    if since is not None:
        conds.append(audit_log.c.at >= since)
    if table is not None:
        conds.append(audit_log.c.table_name == table)
    if actor is not None:
        conds.append(audit_log.c.actor == actor)
    total = conn.execute(select(func.count()).select_from(audit_log).where(*conds)).scalar_one()
    geo = {"before_geom", "after_geom"}
    cols = [c for c in audit_log.c if c.name not in geo] + [
        cast(func.ST_AsGeoJSON(audit_log.c[g], 7), JSON).label(g) for g in sorted(geo)]
    rows = conn.execute(select(*cols).where(*conds).order_by(audit_log.c.id.desc())
                        .limit(limit).offset(offset)).mappings()
    return total, [{**r, "at": r["at"].isoformat()} for r in rows]
