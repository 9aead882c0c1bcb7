"""Token signing without a database: the secret (setting, else generated once into the data
directory, owner-only), expiry, tampering; password hashing."""

from __future__ import annotations

import os
import stat

from api.auth import passwords, tokens
from api.settings import Settings


def test_secret_generated_once_owner_only(tmp_path):
    s = Settings(home=tmp_path, _env_file=None)
    first = tokens.secret(s)
    path = tmp_path / tokens.SECRET_FILE
    assert len(first) >= 48 and stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert tokens.secret(s) == first  # reused, not regenerated
    token, life_s = tokens.issue(s, 7, minutes=5)
    assert life_s == 300 and tokens.decode(s, token).user_id == 7
    other = Settings(home=tmp_path, auth_secret="x" * 40, _env_file=None)  # the setting wins
    assert tokens.secret(other) == "x" * 40 and tokens.decode(other, token) is None


def test_tampered_and_expired_tokens_are_refused(tmp_path):
    s = Settings(home=tmp_path, _env_file=None)
    token, _ = tokens.issue(s, 3)
    head, body, sig = token.split(".")
    assert tokens.decode(s, f"{head}.{body}.{sig[:-2]}AA") is None
    assert tokens.decode(s, tokens.issue(s, 3, minutes=-0.1)[0]) is None
    assert tokens.decode(s, token, "session") is None and tokens.decode(s, token, "access") is not None
    assert tokens.decode(s, "garbage") is None


def test_passwords_hashed_with_argon2id():
    h = passwords.hash_password("long enough 1")
    assert h.startswith("$argon2id$") and "long enough 1" not in h
    assert passwords.verify_password(h, "long enough 1")
    assert not passwords.verify_password(h, "long enough 2")
    assert not passwords.verify_password(None, "anything")
    assert passwords.hash_password("long enough 1") != h  # salted
    key = tokens.new_api_key()
    assert key.startswith("gm_") and len(key) > 40 and tokens.key_hash(key) != key and len(tokens.key_hash(key)) == 64

