"""Users and API keys as a service: checked, hashed and resolved here, stored by :mod:`api.db.users`.

Both the CLI (``gridmap user``, ``gridmap token``, ``gridmap demo``) and the login routes call these.
A user's areas are codes of towns, communities, grids or counties, each resolved with
:func:`api.db.areas.resolve_area` when the user is added (an unknown code is refused) and again
whenever the user's jurisdiction is built (:func:`jurisdiction_of`), so a town's new communities
are in it at once.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta, timezone

from sqlalchemy import Connection, text

from api.auth import passwords, tokens
from api.auth.roles import OWN_GRIDS_ONLY, PERSONAL_ROLES, Role
from api.db import users as udb
from api.db.areas import resolve_area, unit_codes
from api.errors import Conflict, NotFound, ValidationFailed
from api.jurisdiction import EVERYWHERE, Jurisdiction
from geo.errors import Problem

__all__ = ["add_user", "authenticate", "change_password", "disable_user", "create_key", "revoke_key",
           "jurisdiction_of", "jurisdictions_of", "new_password"]


def _bad(field: str, why: str) -> ValidationFailed:
    return ValidationFailed(why, [Problem(why, field=field)])


def _check_password(password: str) -> None:
    if len(password) < passwords.MIN_LENGTH:
        raise _bad("password", f"the password must have at least {passwords.MIN_LENGTH} characters")


def new_password() -> str:
    """A random password to print once (``gridmap demo``, ``user add`` without ``--password``)."""
    return secrets.token_urlsafe(12)


def add_user(conn: Connection, name: str, password: str | None, role: str, areas: list[str]) -> int:
    """Create a user; returns its id.

    Raises
    ------
    ValidationFailed
        Unknown role, a short password, no areas for a role other than admin, an unknown area code.
    Conflict
        A user of that name exists.
    """
    name = name.strip()
    if not name or len(name) > 64:
        raise _bad("name", "a user name has 1 to 64 characters")
    try:
        role = Role(role).value
    except ValueError:
        raise _bad("role", f"unknown role {role!r}; one of {', '.join(r.value for r in Role)}") from None
    if password is not None:
        _check_password(password)
    elif role != Role.INTEGRATION:
        raise _bad("password", "only an integration may have no password (it uses API keys)")
    areas = [a.strip() for a in areas if a.strip()]
    if role != Role.ADMIN and not areas:
        raise _bad("areas", f"a {role} needs the codes of its areas (towns, communities or grids)")
    for code in areas:
        try:
            resolve_area(conn, code, EVERYWHERE)
        except NotFound:
            raise _bad("areas", f"no town, community, grid or county {code!r} in the data") from None
    if udb.user_by_name(conn, name) is not None:
        raise Conflict(f"a user {name!r} exists already")
    return udb.add_user(conn, name, passwords.hash_password(password) if password else None, role, areas)


def authenticate(conn: Connection, name: str, password: str) -> udb.UserRow | None:
    """The enabled user ``name`` if ``password`` is right, else None (same time either way)."""
    user = udb.user_by_name(conn, name)
    ok = passwords.verify_password(user.password_hash if user else None, password)
    if not ok or user is None or user.disabled:
        return None
    if passwords.needs_rehash(user.password_hash):
        conn.execute(text("UPDATE users SET password_hash = :h WHERE id = :i"),
                     {"h": passwords.hash_password(password), "i": user.id})
    return user


def change_password(conn: Connection, name: str, password: str) -> None:
    _check_password(password)
    if not udb.set_password(conn, name, passwords.hash_password(password)):
        raise NotFound(f"no user {name!r}")


def disable_user(conn: Connection, name: str, disabled: bool = True) -> None:
    if not udb.set_disabled(conn, name, disabled):
        raise NotFound(f"no user {name!r}")


def create_key(conn: Connection, user_name: str, key_name: str, days: float | None = None) -> tuple[int, str]:
    """A new API key for ``user_name``: ``(id, key)``; the key is shown once and stored hashed."""
    user = udb.user_by_name(conn, user_name)
    if user is None:
        raise NotFound(f"no user {user_name!r}")
    if not key_name.strip():
        raise _bad("name", "an API key needs a name (what uses it)")
    key = tokens.new_api_key()
    expires = datetime.now(timezone.utc) + timedelta(days=days) if days else None
    kid = udb.add_key(conn, user.id, key_name.strip(), tokens.key_hash(key), key[:10], expires)
    return kid, key


def revoke_key(conn: Connection, key_id: int) -> None:
    if not udb.revoke_key(conn, key_id):
        raise NotFound(f"no API key {key_id} that is still valid")


def jurisdiction_of(conn: Connection, role: str, areas: tuple[str, ...], *,
                    handling: bool = False) -> Jurisdiction:
    """The jurisdiction of a user of ``role`` given ``areas`` (``handling``: where it updates
    cases); see :func:`jurisdictions_of`."""
    return jurisdictions_of(conn, role, areas)[1 if handling else 0]


_CACHE: dict[tuple, tuple[Jurisdiction, Jurisdiction]] = {}
_CACHE_MAX = 4096


def jurisdictions_of(conn: Connection, role: str, areas: tuple[str, ...]) -> tuple[Jurisdiction, Jurisdiction]:
    """``(scope, handling)`` of a user of ``role`` given ``areas``.

    An admin's are everywhere.  Otherwise ``scope`` holds the codes of each area and of what it
    contains: a county's code; a town's code and its communities'; a community's code; a grid's
    community (a grid worker reads its community).  ``handling``, where the user updates cases, is
    the same, narrowed to its own grids for :data:`~api.auth.roles.OWN_GRIDS_ONLY` roles.  Personal
    fields only for :data:`~api.auth.roles.PERSONAL_ROLES`.  Computed once per set of areas and
    version of the areas and grids layers (a request costs one small query then).
    """
    role = Role(role)
    if role == Role.ADMIN:
        return EVERYWHERE, EVERYWHERE
    versions = tuple(conn.execute(text(
        "SELECT layer, version, changed_at FROM data_versions WHERE layer IN ('areas', 'grids') ORDER BY layer")).all())
    key = (conn.engine.url.render_as_string(hide_password=True), role, tuple(sorted(areas)), versions)
    hit = _CACHE.get(key)
    if hit is not None:
        return hit
    personal = role in PERSONAL_ROLES
    codes: set[str] = set()
    grids: set[str] = set()
    for code in areas:
        try:
            area = resolve_area(conn, code, EVERYWHERE)
        except NotFound:  # an area since removed from the data: it no longer grants anything
            continue
        if area.level == "grid":
            codes.add(area.community_code or area.code)
            grids.add(area.code)
        elif area.level == "town":
            codes.add(code)
            codes.update(unit_codes(conn, Jurisdiction(frozenset({code})), "community"))
        else:
            codes.add(code)
    scope = Jurisdiction(frozenset(codes), personal=personal)
    narrow = frozenset(grids) if grids and role in OWN_GRIDS_ONLY else None
    out = scope, Jurisdiction(frozenset(codes), grids=narrow, personal=personal)
    if len(_CACHE) >= _CACHE_MAX:
        _CACHE.clear()
    _CACHE[key] = out
    return out
