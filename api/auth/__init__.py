"""Access control: users, passwords, tokens and API keys, roles and the caller of a request.

- :mod:`~api.auth.roles`: the roles, actions, the one permission table and each route's action
- :mod:`~api.auth.passwords`: argon2id hashing
- :mod:`~api.auth.tokens`: signed expiring tokens (JWT) and API keys
- :mod:`~api.auth.accounts`: users and keys as a service (CLI and login routes), a user's jurisdiction
- :mod:`~api.auth.caller`: :func:`authorize`, the dependency of every route that builds the
  :class:`Caller` (user, role, jurisdiction); :func:`install` puts it on the app

The audit log is written by database triggers (migration ``0007_auth``) with the actor that
:mod:`api.db.audit` carries onto each connection.
"""

from api.auth.caller import OPEN, SESSION_COOKIE, Caller, LoginRequired, authorize, install, is_public
from api.auth.roles import (
    OWN_GRIDS_ONLY,
    PERMISSIONS,
    PERSONAL_ROLES,
    PUBLIC_ROUTES,
    ROUTE_ACTIONS,
    UNSCOPED_ROUTES,
    Action,
    Role,
    action_for,
    allowed,
)

__all__ = [
    "Action", "Caller", "LoginRequired", "OPEN", "OWN_GRIDS_ONLY", "PERMISSIONS", "PERSONAL_ROLES",
    "PUBLIC_ROUTES", "ROUTE_ACTIONS", "Role", "SESSION_COOKIE", "UNSCOPED_ROUTES", "action_for", "allowed",
    "authorize", "install", "is_public",
]
