"""Reading incidents and moving them through the workflow (database side of ``workflow``)."""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import Connection, text

from api.errors import Conflict, NotFound, ValidationFailed
from api.incidents import workflow
from api.incidents.filters import IncidentFilter, scope_condition
from api.incidents.stats import no_jit
from api.jurisdiction import Jurisdiction
from geo.errors import Problem

_FIELDS = """incidents.id, incidents.region_code, incidents.external_id, incidents.category,
    incidents.description, incidents.reported_at, incidents.reporter_kind, incidents.status,
    incidents.close_reason, incidents.escalation_level, incidents.grid_code, incidents.community_code,
    incidents.town_code, incidents.outside_grid, incidents.due_at, incidents.closed_at,
    ST_X(incidents.geom) AS lon, ST_Y(incidents.geom) AS lat"""


def _out(row, now: datetime) -> dict:
    d = dict(row._mapping)
    d["overdue"] = bool(d["status"] in workflow.OPEN_STATUSES and d["due_at"] is not None and d["due_at"] < now)
    for k in ("reported_at", "due_at", "closed_at"):
        if d[k] is not None:
            d[k] = d[k].isoformat()
    return d


def list_incidents(conn: Connection, scope: Jurisdiction, flt: IncidentFilter = IncidentFilter(), *,
                   limit: int = 100, offset: int = 0, as_of: datetime | None = None) -> tuple[int, list[dict]]:
    """Incidents in scope that ``flt`` keeps (checked by the caller), newest first: ``(number
    matched, page)``.  ``flt.overdue`` is judged at ``as_of`` (default now)."""
    now = as_of or datetime.now(timezone.utc)
    no_jit(conn)
    p: dict = {"as_of": now, "limit": limit, "offset": offset}
    w = flt.where(scope, p)
    total = conn.execute(text(f"SELECT count(*) FROM incidents WHERE {w}"), p).scalar_one()
    rows = conn.execute(text(
        f"SELECT {_FIELDS} FROM incidents WHERE {w} ORDER BY incidents.reported_at DESC, incidents.id DESC "
        "LIMIT :limit OFFSET :offset"), p).all()
    return total, [_out(r, now) for r in rows]


def _events(conn: Connection, region: str, incident_id: int) -> list[dict]:
    rows = conn.execute(text(
        "SELECT id, at, actor, action, from_status, to_status, escalation_level, note FROM incident_events "
        "WHERE region_code = :r AND incident_id = :i ORDER BY at, id"), {"r": region, "i": incident_id}).mappings()
    return [{**r, "at": r["at"].isoformat()} for r in rows]


def get_incident(conn: Connection, scope: Jurisdiction, incident_id: int, *, lock: bool = False) -> dict:
    """One incident in scope with its events (oldest first); :class:`NotFound` otherwise."""
    p: dict = {"id": incident_id}
    row = conn.execute(text(
        f"SELECT {_FIELDS} FROM incidents WHERE incidents.id = :id AND {scope_condition(scope, 'incidents', p)}"
        + (" FOR UPDATE" if lock else "")), p).first()
    if row is None:
        raise NotFound(f"no incident {incident_id}")
    d = _out(row, datetime.now(timezone.utc))
    d["events"] = _events(conn, d["region_code"], incident_id)
    d["allowed_actions"] = workflow.allowed_actions(d["status"], d["escalation_level"])
    return d


def transition(conn: Connection, scope: Jurisdiction, incident_id: int, *, action: str, actor: str,
               note: str | None = None, close_reason: str | None = None) -> dict:
    """Apply a workflow action (row locked), write its event, return the incident with events.

    Raises
    ------
    ValidationFailed
        422 with ``errors`` (field and reason) and ``allowed_values`` when the request is malformed
        (unknown action, missing/unknown/misplaced ``close_reason``), before any lookup.
    Conflict
        409 with ``allowed`` (the actions possible now) when a valid action is not possible now.
    NotFound
    """
    try:
        workflow.check_request(action, close_reason)
    except workflow.InvalidRequest as exc:
        raise ValidationFailed(exc.reason, [Problem(exc.reason, field=exc.field)],
                               allowed_values={exc.field: exc.allowed}) from None
    inc = get_incident(conn, scope, incident_id, lock=True)
    try:
        t = workflow.apply(inc["status"], inc["escalation_level"], action, close_reason)
    except workflow.InvalidTransition as exc:
        raise Conflict(exc.reason, current_status=exc.status, escalation_level=exc.level, allowed=exc.allowed) from None
    now = conn.execute(text("SELECT now()")).scalar_one()
    closed_sql = "closed_at"
    if t.closes:
        closed_sql = ":now"
    elif t.reopens:
        closed_sql = "NULL"
    conn.execute(text(
        f"UPDATE incidents SET status = :s, escalation_level = :l, close_reason = :cr, closed_at = {closed_sql} "
        "WHERE region_code = :r AND id = :id"),
        {"s": t.to_status, "l": t.to_level, "cr": t.close_reason, "now": now, "r": inc["region_code"],
         "id": incident_id})
    conn.execute(text(
        "INSERT INTO incident_events (region_code, incident_id, at, actor, action, from_status, to_status, "
        "escalation_level, note) VALUES (:r, :id, :now, :actor, :a, :f, :t, :l, :note)"),
        {"r": inc["region_code"], "id": incident_id, "now": now, "actor": actor, "a": action,
         "f": t.from_status, "t": t.to_status, "l": t.to_level,
         "note": note if t.close_reason is None else f"[{t.close_reason}] {note or ''}".strip()})
    return get_incident(conn, scope, incident_id)
