"""Who may do what: the roles, the actions, the one permission table, and each route's action.

The table is the whole policy.  :func:`api.auth.caller.authorize` (a dependency of every route)
looks up the route's action in :data:`ROUTE_ACTIONS` (``GET``/``HEAD`` routes not listed are
``read``), refuses a caller whose role lacks it (403), and :data:`PUBLIC_ROUTES` need no
credentials at all.  A write route nobody listed is ``admin`` only, so a new route is closed until
it is given its action here; ``tests/api/auth/test_auth_scope.py`` fails on such a route.

Where a caller may act is its jurisdiction (``api.auth.caller``): its areas' codes, everywhere for
an admin.  A grid worker reads its grids' communities but updates cases only in its own grids
(:data:`OWN_GRIDS_ONLY`).
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["Role", "Action", "PERMISSIONS", "PERSONAL_ROLES", "OWN_GRIDS_ONLY", "ROUTE_ACTIONS",
           "PUBLIC_ROUTES", "UNSCOPED_ROUTES", "action_for", "allowed"]


class Role(StrEnum):
    ADMIN = "admin"
    PLANNER = "planner"
    OFFICIAL = "official"
    GRID_WORKER = "grid_worker"
    ANALYST = "analyst"
    INTEGRATION = "integration"


class Action(StrEnum):
    SIGNED_IN = "signed_in"        # who am I, the category list: anyone with credentials
    READ = "read"                  # every GET: lists, maps, statistics, coverage, exports
    REPORT = "report_incident"     # POST /incidents, /incidents/bulk
    HANDLE = "handle_case"         # workflow transitions of a case
    EDIT_MAP = "edit_map"          # stations, grids (boundaries), plans
    ADMIN = "admin"                # users, keys, the audit log


#: The one permission table: role -> the actions it may take.
PERMISSIONS: dict[Role, frozenset[Action]] = {
    Role.ADMIN: frozenset(Action),
    Role.PLANNER: frozenset({Action.SIGNED_IN, Action.READ, Action.EDIT_MAP}),
    Role.OFFICIAL: frozenset({Action.SIGNED_IN, Action.READ, Action.REPORT, Action.HANDLE}),
    Role.GRID_WORKER: frozenset({Action.SIGNED_IN, Action.READ, Action.REPORT, Action.HANDLE}),
    Role.ANALYST: frozenset({Action.SIGNED_IN, Action.READ}),
    Role.INTEGRATION: frozenset({Action.SIGNED_IN, Action.REPORT}),
}

#: Roles that see personal fields (grid workers' phones, dwelling addresses); for the others they
#: are dropped from every answer (``api.jurisdiction.PERSONAL_FIELDS``).
PERSONAL_ROLES: frozenset[Role] = frozenset({Role.ADMIN, Role.OFFICIAL, Role.GRID_WORKER})

#: Roles whose case updates are limited to the grids they were given (not their whole community).
OWN_GRIDS_ONLY: frozenset[Role] = frozenset({Role.GRID_WORKER})

#: Each route that is not a plain read: ``"METHOD /path"`` (the route's path template) -> action.
ROUTE_ACTIONS: dict[str, Action] = {
    "GET /me": Action.SIGNED_IN,
    "GET /incidents/categories": Action.SIGNED_IN,  # what an integration needs to report
    # the OGC API (api/routes/ogc.py, tipg's routes): the definitions are for anyone signed in, the
    # collections are reads of scoped data (each one's isolation case in tests/api/auth/test_auth_scope.py)
    "GET /conformance": Action.SIGNED_IN,
    "GET /tileMatrixSets": Action.SIGNED_IN,
    "GET /tileMatrixSets/{tileMatrixSetId}": Action.SIGNED_IN,
    "GET /collections": Action.READ,
    "GET /collections/{collectionId}": Action.READ,
    "GET /collections/{collectionId}/queryables": Action.READ,
    "GET /collections/{collectionId}/items": Action.READ,
    "GET /collections/{collectionId}/items/{itemId}": Action.READ,
    "GET /collections/{collectionId}/tiles": Action.READ,
    "GET /collections/{collectionId}/tiles/{tileMatrixSetId}": Action.READ,
    "GET /collections/{collectionId}/tiles/{tileMatrixSetId}/{z}/{x}/{y}": Action.READ,
    "GET /collections/{collectionId}/tiles/{tileMatrixSetId}/tilejson.json": Action.READ,
    "GET /collections/{collectionId}/tiles/{tileMatrixSetId}/style.json": Action.READ,
    "POST /coverage/what-if": Action.READ,  # a question about stations that do not exist: writes nothing
    "POST /siting": Action.READ,  # a planning question (its job row is no data): proposes, changes nothing
    "POST /incidents": Action.REPORT,
    "POST /incidents/bulk": Action.REPORT,
    "POST /incidents/{incident_id:int}/transitions": Action.HANDLE,
    "POST /stations": Action.EDIT_MAP,
    "PUT /stations/{fid}": Action.EDIT_MAP,
    "DELETE /stations/{fid}": Action.EDIT_MAP,
    "POST /grids": Action.EDIT_MAP,
    "PUT /grids/{fid}": Action.EDIT_MAP,
    "DELETE /grids/{fid}": Action.EDIT_MAP,
    "POST /plans": Action.EDIT_MAP,
    "POST /plans/{plan_id}/moves": Action.EDIT_MAP,
    "POST /plans/{plan_id}/lock": Action.EDIT_MAP,
    "POST /plans/{plan_id}/balance": Action.EDIT_MAP,
    "POST /plans/{plan_id}/split": Action.EDIT_MAP,
    "POST /plans/{plan_id}/merge": Action.EDIT_MAP,
    "POST /plans/{plan_id}/publish": Action.EDIT_MAP,
    "DELETE /plans/{plan_id}": Action.EDIT_MAP,
    "GET /audit": Action.ADMIN,
}

#: Routes anyone may call without credentials (the login itself, liveness, documentation, assets).
PUBLIC_ROUTES: frozenset[str] = frozenset({
    "/health", "/token", "/login", "/logout", "/docs", "/openapi.json", "/favicon.ico", "/static",
})

#: Routes that need credentials but read nothing bound to an area (no jurisdiction to apply).
UNSCOPED_ROUTES: frozenset[str] = frozenset({
    "/conformance", "/tileMatrixSets", "/tileMatrixSets/{tileMatrixSetId}", "/incidents/categories", "/me", "/audit",
})


def action_for(method: str, path: str) -> Action:
    """The action a request of ``method`` on the route ``path`` takes (unlisted writes: admin)."""
    method = "GET" if method == "HEAD" else method
    found = ROUTE_ACTIONS.get(f"{method} {path}")
    if found is not None:
        return found
    return Action.READ if method == "GET" else Action.ADMIN


def allowed(role: Role | str, action: Action) -> bool:
    return action in PERMISSIONS[Role(role)]
