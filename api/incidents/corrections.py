"""Applying a reporter's corrections to stored incidents (``gridmap import incidents FILE --update``).

Intake is idempotent on ``(region_code, external_id)``: a row whose ``external_id`` is known
writes nothing (:mod:`api.incidents.intake.retry` names the fields that differ).  When the file is a
correction (swapped coordinates, a wrong time or category), :func:`apply_corrections` updates the
fields a reporter may correct, :data:`CORRECTABLE`, never the workflow state (status, escalation,
closure: those move through ``/incidents/{id}/transitions``).  For each changed incident, in the
caller's transaction:

- the corrected fields are written; ``due_at`` is recomputed (``reported_at`` + the category's SLA);
- the incident is attributed again by the intake rule (``api.db.load.attribution``: the grid
  version containing the point at ``reported_at``), so a moved point changes grid;
- one ``incident_events`` row (action ``correct``, status unchanged) records what changed, with the
  values before and after, as JSON in ``note``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import geopandas as gpd
import pandas as pd
from sqlalchemy import Connection, text

from api.db.load import INCIDENT_PLACE_COLUMNS, incident_place_joins
from api.incidents.intake import differences, known_categories, validate_incidents

__all__ = ["CORRECTABLE", "CORRECT_ACTION", "CorrectionReport", "apply_corrections", "pending_corrections"]

#: Fields a correction may change (``geometry`` is the point).  Workflow state is not among them.
CORRECTABLE = ("category", "reported_at", "geometry", "description", "reporter_kind")
#: The event action recorded for a correction.
CORRECT_ACTION = "correct"


@dataclass
class CorrectionReport:
    """Duplicates of an import that differ from the stored records.

    Attributes
    ----------
    differing : list of dict
        ``{"external_id", "row", "differs"}`` for every duplicate whose content differs.
    correctable : list of dict
        Those of ``differing`` with fields in :data:`CORRECTABLE` (``differs`` narrowed to them).
    updated : int
        Incidents changed (:func:`apply_corrections` only).
    regridded : int
        Of the updated, how many changed grid.
    """

    differing: list[dict] = field(default_factory=list)
    correctable: list[dict] = field(default_factory=list)
    updated: int = 0
    regridded: int = 0

    @property
    def fields(self) -> list[str]:
        """Every field that differs in some record, in :data:`api.incidents.intake.ALWAYS` + ``WHEN_GIVEN`` order."""
        seen: list[str] = []
        for d in self.differing:
            seen += [f for f in d["differs"] if f not in seen]
        return seen

    @property
    def workflow_only(self) -> list[str]:
        """Differing fields that ``--update`` does not apply (workflow state)."""
        return [f for f in self.fields if f not in CORRECTABLE]


def pending_corrections(conn: Connection, frame: gpd.GeoDataFrame, duplicate_rows: dict[int, int], *,
                        tz: str) -> CorrectionReport:
    """Which duplicates of an import of ``frame`` (``IngestReport.duplicate_rows``: row -> stored
    incident id) differ from the stored incidents."""
    diff = [d for d in differences(conn, frame, duplicate_rows, tz=tz) if d["differs"]]
    corr = [{**d, "differs": [f for f in d["differs"] if f in CORRECTABLE]} for d in diff]
    return CorrectionReport(differing=diff, correctable=[d for d in corr if d["differs"]])


_STORED = """
SELECT i.id, i.region_code, i.category, i.description, i.reporter_kind, i.reported_at, i.status,
       i.escalation_level, i.grid_code, ST_X(i.geom) AS lon, ST_Y(i.geom) AS lat
FROM incidents i WHERE i.id = :id FOR UPDATE
"""

_UPDATE = f"""
UPDATE incidents i SET category = :category, description = :description, reporter_kind = :reporter_kind,
       reported_at = s.at, geom = s.pt, due_at = s.at + c.sla_hours * interval '1 hour',
       grid_id = p.grid_id, grid_code = p.grid_code, community_code = COALESCE(p.g_comm, p.o_comm),
       town_code = COALESCE(p.g_town, p.o_town), outside_grid = p.grid_id IS NULL
FROM (SELECT ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) AS pt, CAST(:at AS timestamptz) AS at) s
CROSS JOIN LATERAL (SELECT {INCIDENT_PLACE_COLUMNS} FROM (SELECT 1) one{incident_place_joins("s.pt", "s.at")}) p
JOIN incident_categories c ON c.code = :category
WHERE i.id = :id
RETURNING i.grid_code
"""

_EVENT = """
INSERT INTO incident_events (region_code, incident_id, at, actor, action, from_status, to_status,
                             escalation_level, note)
VALUES (:r, :id, now(), :actor, :action, :status, :status, :level, :note)
"""


def _iso(v):
    return v.isoformat() if hasattr(v, "isoformat") else v


def apply_corrections(conn: Connection, frame: gpd.GeoDataFrame, duplicate_rows: dict[int, int], *,
                      tz: str, actor: str = "import") -> CorrectionReport:
    """Write the :data:`CORRECTABLE` fields of the duplicates of ``frame`` that differ from the
    stored incidents, re-attribute them and record one ``correct`` event each (module docstring),
    in the caller's transaction.

    Parameters
    ----------
    frame : GeoDataFrame
        The imported rows (EPSG:4326 points), as given to ``ingest_frame``.
    duplicate_rows : dict of int to int
        ``IngestReport.duplicate_rows`` of that import (row -> the stored incident, in its county).
    tz : str
        IANA zone of times without an offset (the settings' ``timezone``).
    """
    rep = pending_corrections(conn, frame, duplicate_rows, tz=tz)
    if not rep.correctable:
        return rep
    clean, _ = validate_incidents(frame, known_categories(conn), tz=tz)
    by_row = {int(r.row_no): r for r in clean.itertuples(index=False)}
    for d in rep.correctable:
        new = by_row[d["row"]]
        old = conn.execute(text(_STORED), {"id": duplicate_rows[d["row"]]}).one()
        at = pd.Timestamp(int(new.reported_us), unit="us", tz="UTC").to_pydatetime()
        after = {"category": new.category, "reported_at": at, "geometry": [float(new.lon), float(new.lat)],
                 "description": new.description, "reporter_kind": new.reporter_kind}
        before = {"category": old.category, "reported_at": old.reported_at, "geometry": [old.lon, old.lat],
                  "description": old.description, "reporter_kind": old.reporter_kind}
        values = {k: (after[k] if k in d["differs"] else before[k]) for k in CORRECTABLE}
        lon, lat = values["geometry"]
        grid = conn.execute(text(_UPDATE), {
            "id": old.id, "category": values["category"], "description": values["description"],
            "reporter_kind": values["reporter_kind"], "at": values["reported_at"], "lon": lon, "lat": lat}).scalar_one()
        changed = {k: {"before": _iso(before[k]), "after": _iso(after[k])} for k in d["differs"]}
        if grid != old.grid_code:
            changed["grid_code"] = {"before": old.grid_code, "after": grid}
            rep.regridded += 1
        conn.execute(text(_EVENT), {"r": old.region_code, "id": old.id, "actor": actor, "action": CORRECT_ACTION,
                                    "status": old.status, "level": old.escalation_level,
                                    "note": json.dumps({"corrected": changed}, ensure_ascii=False)})
        rep.updated += 1
    return rep
