"""The limits of the coverage questions and of every request's input, written once.

HTTP validation (:mod:`api.deps`, the coverage routes), the CLI (:mod:`api.cli.coverage`) and the
coverage service (:mod:`api.coverage.params`) check against these names, and every option's
``--help`` / OpenAPI description states its limit by formatting them.  Plain constants only: the CLI
imports this module before parsing its arguments, so it imports nothing heavy.
"""

from __future__ import annotations

#: Largest time budget or break, minutes (a walk of two hours is already far beyond a service circle).
MAX_MINUTES = 120.0

#: Most breaks (budgets) of one request: service areas, a station's reach, covered households per
#: break.  The engine's own limit, ``geo.service_area.MAX_BREAKS``, is the same number (a test checks).
MAX_BREAKS = 4

#: Above this many counted stations the coverage map draws station service areas only for one area
#: (``?area=CODE``): the whole 500k-household sample city's are ~117 MB of GeoJSON.
MAX_PAGE_STATIONS = 400

#: Dwellings the coverage map asks ``/coverage/dwellings`` for (an even sample above it).
PAGE_DWELLINGS = 20_000

#: Default and largest ``limit`` of ``GET /coverage/dwellings`` (an even sample above it).
DWELLINGS_DEFAULT, MAX_DWELLINGS = 20_000, 1_000_000

#: Default and largest ``limit`` of ``GET /coverage/gaps``, gap polygons.
GAPS_DEFAULT, MAX_GAPS = 1000, 100_000

#: Default and largest distance that links uncovered dwellings into one gap, metres.
LINK_DEFAULT_M, MAX_LINK_M = 100.0, 2000.0


# --- input limits of every request (issue 16, hardening) ---
#
# Text per column (characters) is limited where layers are validated, geo.validate.text:
# codes 32, source_id / external_id 200, description / note 10,000, other text 1,000; NUL, other
# control characters and lone surrogates are refused in any text and any query parameter.

#: Largest ``offset`` of a paged list (PostgreSQL's OFFSET is a bigint).
MAX_OFFSET = 2**63 - 1

# Dates and times (filters, reported_at, closed_at, valid_from, opened_on...) lie in the years
# geo.validate.YEARS (1900-2199).  A feature has at most geo.validate.MAX_VERTICES (100,000)
# vertices.

#: A station farther than this from the community it names (outside its boundary) is refused, metres.
MAX_STATION_FROM_COMMUNITY_M = 2_000.0


def minutes_help() -> str:
    """The limit of a time budget, as the option descriptions say it."""
    return f"0 < minutes ≤ {MAX_MINUTES:g}"


def breaks_help() -> str:
    """The limit of a list of breaks, as the option descriptions say it."""
    return f"1-{MAX_BREAKS} breaks, each ≤ {MAX_MINUTES:g} min"

#: Most new sites, and most closed stations, one ``POST /coverage/what-if`` changes together (a siting
#: proposal checked whole: ``api.siting.params.MAX_K`` new sites and ``MAX_CLOSE`` closures fit).
MAX_WHATIF_SITES = 200
