"""Incident intake: a frame validated, attributed to its grid and inserted in bulk, idempotently.

- :mod:`.frames`: :func:`validate_incidents` (every fault by 1-based row), :func:`ingest_frame` (COPY,
  one ``INSERT ... SELECT`` attributing each point to the grid version valid when it was reported),
  :class:`IngestReport`, :func:`known_categories`, :data:`CLOCK_SKEW`
- :mod:`.retry`: :func:`differences`, the fields in which a retried (duplicate) incident differs from
  the stored one
- :mod:`.bodies`: the HTTP side, request bodies (one incident, a JSON array, a FeatureCollection,
  NDJSON) read into a frame and written (:func:`read_bulk`, :func:`ingest_items`, the OpenAPI texts)

``gridmap import incidents`` reaches :func:`ingest_frame` through :func:`api.imports.import_frame`;
``POST /incidents`` and ``/incidents/bulk`` through :func:`ingest_items`.
"""

from __future__ import annotations

from api.incidents.intake.frames import CLOCK_SKEW, IngestReport, ingest_frame, known_categories, validate_incidents
from api.incidents.intake.retry import ALWAYS, WHEN_GIVEN, differences
from api.incidents.intake.bodies import BULK_DOC, INTAKE_DOC, ingest_items, read_bulk

__all__ = [
    "ALWAYS", "BULK_DOC", "CLOCK_SKEW", "INTAKE_DOC", "WHEN_GIVEN", "IngestReport", "differences",
    "ingest_frame", "ingest_items", "known_categories", "read_bulk", "validate_incidents",
]
