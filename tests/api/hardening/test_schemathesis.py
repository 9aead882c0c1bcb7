"""Schemathesis against the app's own OpenAPI document, on a real uvicorn server and the test PostGIS
with a sample district loaded, as the administrator (logged in through ``POST /token``).

Every operation is fuzzed (schemathesis' fuzzing phase, Hypothesis-derandomized so CI runs the same
cases) with all of schemathesis' default checks: no 5xx, the status code, media type, headers and
body as documented (every 4xx/5xx is an RFC 9457 problem: ``api/openapi.py`` declares the
``Problem`` schema for them and the check validates the body against it), ``Allow`` on 405s,
schema-violating requests refused, auth enforced (probes without and with bad credentials).

Left out, with the reason:

- ``positive_data_acceptance`` (a schema-valid request must not be refused): gridmap checks much
  that JSON Schema cannot say (a known category, a station within 2 km of its community, a grid
  inside its community, an existing code, a target share for one model only), so 422 is the right
  answer to many schema-valid bodies and parameters;
- the ``examples`` and ``coverage`` phases: both build their cases while pytest collects, before
  the server and its administrator exist, and the coverage phase's boundary cases took 5 minutes
  here (the fuzzing phase reaches the same kinds of input, at random);
- stateful runs (links between operations): FastAPI's document declares no OpenAPI links, and the
  CI budget has no room for a state machine over 52 operations; the id-taking operations are
  fuzzed against a database that holds ids 1..n of every table, so many cases hit real rows.

``MAX_EXAMPLES`` per operation is bounded by the time CI gives this file: on this 2-core machine
shared with other work (load 15-22) 52 operations x 10 examples took 176 s, x 8 139 s, x 5 165 s
(noisy: the load moved more than the count), far from the ~50 per operation the issue hoped for.
"""

from __future__ import annotations

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings as hsettings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from api.app import create_app
from api.imports import import_frame
from api.settings import Settings
from geo.sample import make_district
from tests.api.hardening.servers import free_port, serving
from tests.support.db import truncate

MAX_EXAMPLES = 5
PASSWORD = "correct horse 1"
PORT = free_port()  # the server the fixture starts (schemathesis takes the base URL at collection)
BASE = f"http://127.0.0.1:{PORT}"
ADMIN: dict[str, str] = {}  # the caller's headers, set by the fixture once the server runs

# the app's document, as /openapi.json serves it (building it needs no database)
schema = schemathesis.openapi.from_dict(
    create_app(Settings(_env_file=None, database_url="postgresql://unused@127.0.0.1:1/unused")).openapi())
schema.config.update(base_url=BASE, request_timeout=60)  # the first hotspot request imports esda: slow on a busy machine
schema.config.phases.coverage.enabled = False
schema.config.phases.examples.enabled = False


@schema.auth()
class Admin:
    """The admin's bearer token.  An auth provider also keeps schemathesis from generating random
    credentials for the declared security schemes (an ``X-API-Key`` beside the token is refused)."""

    def get(self, case, context):
        return ADMIN["Authorization"]

    def set(self, case, data, context):
        case.headers = {**(case.headers or {}), "Authorization": data}


@pytest.fixture(scope="module")
def server(engine, pg_url, tmp_path_factory):
    """A uvicorn server on the emptied test database holding one sample district (incidents too)
    and the administrator ``root``; the write rate limit is lifted (429s would hide the answers)."""
    from api.auth import accounts

    settings = Settings(home=tmp_path_factory.mktemp("schemathesis"), database_url=pg_url, _env_file=None,
                        write_rate_per_s=1e6, write_burst=10**6)
    truncate(engine)
    layers = make_district(300, seed=1, incidents=40)
    with engine.begin() as conn:
        for layer in ("areas", "grids", "streets", "stations", "dwellings", "incidents"):
            import_frame(conn, layer, layers[layer], settings)
        accounts.add_user(conn, "root", PASSWORD, "admin", [])
    with serving(settings, port=PORT) as port:
        r = requests.post(f"{BASE}/token", data={"username": "root", "password": PASSWORD}, timeout=30)
        r.raise_for_status()  # the OAuth2 password flow, as a client logs in
        ADMIN["Authorization"] = f"Bearer {r.json()['access_token']}"
        yield port
    truncate(engine)


@schema.parametrize()
@hsettings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_every_operation(case, server):
    response = case.call(headers=ADMIN)
    case.validate_response(response, headers=ADMIN, excluded_checks=[positive_data_acceptance])
