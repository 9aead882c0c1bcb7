"""Password hashing: argon2id through ``argon2-cffi`` (its default, RFC 9106 low-memory profile).

Only the hash is stored (``users.password_hash``).  :func:`verify` spends the same time on a user
that does not exist (a dummy hash), so a login's timing does not tell which names exist.
"""

from __future__ import annotations

from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

__all__ = ["hash_password", "verify_password", "needs_rehash", "MIN_LENGTH"]

#: Shortest password accepted by ``gridmap user add`` / ``passwd``.
MIN_LENGTH = 8

_HASHER = PasswordHasher()


@lru_cache(maxsize=1)
def _dummy() -> str:
    return _HASHER.hash("gridmap-no-such-user")


def hash_password(password: str) -> str:
    """The argon2id hash (PHC string, salt included) of ``password``."""
    return _HASHER.hash(password)


def verify_password(hashed: str | None, password: str) -> bool:
    """Whether ``password`` matches ``hashed``; ``hashed=None`` (no such user, or a user without a
    password) is checked against a dummy hash and is always False."""
    try:
        return _HASHER.verify(hashed or _dummy(), password) and hashed is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(hashed: str) -> bool:
    """Whether ``hashed`` was made with older parameters than today's (rehash at the next login)."""
    return _HASHER.check_needs_rehash(hashed)
