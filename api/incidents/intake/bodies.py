"""Turning incident intake requests into frames and writing them: the HTTP side of
:mod:`api.incidents.intake.frames` for ``POST /incidents`` and ``POST /incidents/bulk``.

Bodies are GeoJSON Features or flat objects with ``lon``/``lat``; bulk bodies a JSON array, a
FeatureCollection or NDJSON (read as a stream; a line that is not JSON is that row's error).
Shape faults (not an object, no point, unknown fields) are reported by 1-based row with the
validation faults of the same batch.
"""

from __future__ import annotations

import json
import math
from contextlib import nullcontext
from typing import Any

import geopandas as gpd
from fastapi import Request
from shapely.geometry import Point
from sqlalchemy import Connection, Engine

from api.errors import Forbidden, PayloadTooLarge, UnsupportedMedia, ValidationFailed
from api.incidents.intake.frames import ingest_frame, known_categories, validate_incidents
from api.incidents.intake.retry import differences
from api.jurisdiction import EVERYWHERE, Jurisdiction
from api.settings import Settings
from geo.errors import InvalidInput, Problem
from geo.layers import LAYERS

_FIELDS = {c.name for c in LAYERS["incidents"].columns}

INTAKE_DOC = """
Each incident is a GeoJSON Feature (Point geometry, the incident's fields in `properties`) or a flat
object with `lon` and `lat` (WGS84 degrees).  Required: `external_id` (the reporter's own id),
`category` (see `/incidents/categories`), `reported_at` (ISO 8601; a time without a UTC offset is
local time in `GRIDMAP_TIMEZONE`, default Asia/Shanghai; not in the future; `closed_at` likewise).
A point at exactly (0, 0) is refused as a missing position.  Optional: `description`, `reporter_kind`, `region_code`, and for historical records
`status`, `closed_at`, `close_reason`, `escalation_level`.

The incident is attributed to the grid version valid at `reported_at` by point-in-polygon; one
outside every grid is kept with `outside_grid: true`.  Idempotent on `external_id` within a county
(the same `external_id` in another county is another incident): a retry returns the existing incident (`duplicate: true`) and writes nothing.  If the retry's content
is not the stored one, `differs` names the fields that differ (e.g. `["category", "geometry"]`;
`category`, `reported_at` as an instant and `geometry` always compared, the optional fields when the
retry gives them): the stored record was NOT changed.
"""

BULK_DOC = INTAKE_DOC + """
**Body**: a JSON array (`application/json`) or one incident a line (`application/x-ndjson`, read as a
stream).  At most `GRIDMAP_MAX_BULK_INCIDENTS` incidents (413 above).

**mode** (the caller's choice):
- `all_or_nothing` (default): if any row is bad nothing is written and the answer is 422
  problem+json whose `errors` list every bad row (`row` is 1-based, with `field` and `reason`).
- `partial`: the good rows are written and the answer is 200 with `rejected` listing each bad row
  by `row` (1-based index in the batch), `field` and `reason`.

Either way `duplicates`/`duplicate_ids` report rows whose `external_id` already existed (retries),
which are not written again; `differing` lists those whose content differs from the stored record
(`external_id`, `row`, `differs`).  An NDJSON line that is not JSON is that row's error (listed in
`errors` or `rejected` like any bad row), not the whole request's.
"""


class _Unreadable:
    """An NDJSON line that is not JSON: that row's fault, not the whole request's."""

    def __init__(self, reason: str):
        self.reason = reason


def _to_frame(items: list[Any]) -> tuple[gpd.GeoDataFrame, list[Problem]]:
    """Rows (GeoJSON Features or flat objects) -> EPSG:4326 frame, plus shape problems."""
    records, geoms, problems = [], [], []
    for i, it in enumerate(items, start=1):
        if isinstance(it, _Unreadable):
            problems.append(Problem(it.reason, row=i))
            records.append({})
            geoms.append(None)
            continue
        if not isinstance(it, dict):
            problems.append(Problem("each incident must be a JSON object", row=i))
            records.append({})
            geoms.append(None)
            continue
        if it.get("type") == "Feature":
            props = dict(it.get("properties") or {})
            g = it.get("geometry") or {}
            coords = g.get("coordinates") if g.get("type") == "Point" else None
            if not (isinstance(coords, list) and len(coords) >= 2):
                problems.append(Problem("geometry must be a GeoJSON Point [lon, lat]", row=i, field="geometry",
                                        feature_id=props.get("external_id")))
                coords = None
        else:
            props = {k: v for k, v in it.items() if k not in ("lon", "lat")}
            coords = [it.get("lon"), it.get("lat")] if ("lon" in it or "lat" in it) else None
        for k, v in props.items():
            if k in _FIELDS and v is not None and not isinstance(v, (str, int, float, bool)):
                problems.append(Problem(f"{k} must be a string, number, boolean or null, not a JSON "
                                        f"{'array' if isinstance(v, list) else 'object'}", row=i, field=k))
        unknown = sorted(set(props) - _FIELDS)
        if unknown:
            problems.append(Problem(f"unknown field(s) {', '.join(unknown)}", row=i, field=unknown[0],
                                    feature_id=props.get("external_id")))
        pt = None
        if coords is not None:
            try:
                if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in coords[:2]):
                    raise TypeError  # "120.1" or [120.1]: not a number as JSON sends one
                x, y = float(coords[0]), float(coords[1])
                if math.isfinite(x) and math.isfinite(y):
                    pt = Point(x, y)
                else:
                    raise ValueError
            except (TypeError, ValueError):
                problems.append(Problem(f"coordinates {coords[:2]!r} are not numbers", row=i, field="geometry",
                                        feature_id=props.get("external_id")))
        records.append({k: v for k, v in props.items() if k in _FIELDS})
        geoms.append(pt)
    frame = gpd.GeoDataFrame(records, geometry=geoms, crs=4326) if records else \
        gpd.GeoDataFrame({"external_id": []}, geometry=[], crs=4326)
    return frame, problems


def _outside(conn, incident_ids: list[int], scope: Jurisdiction) -> list[str]:
    """external_ids of the batch's incidents (new or duplicate, by id) that lie outside ``scope``."""
    from sqlalchemy import text

    from api.incidents.filters import scope_condition

    if not incident_ids:
        return []
    p: dict = {"ids": incident_ids}
    cond = scope_condition(scope, "incidents", p)
    return list(conn.execute(text(
        "SELECT external_id FROM incidents WHERE id = ANY(:ids) "
        f"AND NOT ({cond}) ORDER BY external_id LIMIT 20"), p).scalars())


def ingest_items(engine: Engine, settings: Settings, items: list, *, all_or_nothing: bool, actor: str,
                 scope: Jurisdiction = EVERYWHERE, conn: Connection | None = None):
    """Write the rows; returns ``(IngestReport, differing)``: ``differing`` lists the duplicates
    (``external_id``, 1-based ``row``, ``differs``: fields whose sent value is not the stored one).

    An incident that lands outside the caller's ``scope`` (by the grid it is attributed to) makes
    the whole request :class:`~api.errors.Forbidden`, and nothing is written.  ``conn``: write in
    that transaction (the caller's, e.g. with its ``Idempotency-Key``) instead of a new one."""
    frame, shape_problems = _to_frame(items)
    if shape_problems and all_or_nothing:
        # report the shape faults together with every other fault of the batch, write nothing
        with engine.connect() as conn:
            _, others = validate_incidents(frame, known_categories(conn), tz=settings.timezone)
        seen = {(p.row, p.field) for p in shape_problems}
        problems = sorted(shape_problems + [p for p in others if (p.row, p.field) not in seen],
                          key=lambda p: (p.row or 0, p.field or ""))
        raise InvalidInput(f"{len({p.row for p in problems})} of {len(items)} incidents are invalid; "
                           "nothing was written", problems)
    bad_rows = {p.row for p in shape_problems}
    if bad_rows:
        keep = [i for i in range(len(frame)) if i + 1 not in bad_rows]
        sub = frame.iloc[keep].copy()
    else:
        keep, sub = list(range(len(frame))), frame
    with (nullcontext(conn) if conn is not None else engine.begin()) as conn:
        rep = ingest_frame(conn, sub, actor=actor, all_or_nothing=all_or_nothing,
                           default_region=settings.region_code, timezone=settings.timezone)
        if not scope.everywhere:
            outside = _outside(conn, sorted(rep.incident_ids.values()), scope)
            if outside:  # raised inside the transaction: nothing of the batch is written
                raise Forbidden(f"{len(outside)} incident(s) lie outside your jurisdiction, e.g. "
                                f"{', '.join(outside[:5])}; nothing was written.", outside=outside)
        differing = differences(conn, sub, rep.duplicate_rows, tz=settings.timezone)
    for d in differing:  # row of the sub-frame -> the caller's numbering
        d["row"] = keep[d["row"] - 1] + 1
    if bad_rows:  # map rows of the sub-frame back to the caller's numbering
        rep.rejected = sorted(
            [Problem(p.reason, keep[p.row - 1] + 1, p.field, p.feature_id) for p in rep.rejected] + shape_problems,
            key=lambda p: (p.row or 0, p.field or ""))
    return rep, differing



async def read_bulk(request: Request, limit: int) -> list:
    ctype = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if ctype in ("application/x-ndjson", "application/ndjson", "application/jsonl", "application/geo+json-seq"):
        items: list = []
        buf = b""
        line_no = 0

        def take(line: bytes) -> None:
            nonlocal line_no
            line = line.strip().lstrip(b"\x1e")
            if not line:
                return
            line_no += 1
            if len(items) >= limit:
                raise PayloadTooLarge(f"more than {limit} incidents in one request (GRIDMAP_MAX_BULK_INCIDENTS); "
                                      "split the batch")
            try:
                items.append(json.loads(line))
            except ValueError as exc:  # that row's error, listed with the others (both modes)
                items.append(_Unreadable(f"line {line_no} is not JSON: {exc}"))
            except RecursionError:
                items.append(_Unreadable(f"line {line_no} is JSON nested too deep to read"))

        async for chunk in request.stream():
            buf += chunk
            *lines, buf = buf.split(b"\n")
            for ln in lines:
                take(ln)
        take(buf)
        return items
    if ctype not in ("application/json", "application/geo+json"):
        raise UnsupportedMedia(f"send application/json (an array) or application/x-ndjson, not {ctype}")
    try:
        data = json.loads(await request.body())
    except ValueError as exc:  # UnicodeDecodeError included: it says which byte
        why = f"the body is not JSON: {exc}"
        raise ValidationFailed(why, [Problem(why, field="body")]) from None
    except RecursionError:
        why = "the body's JSON is nested too deep (arrays or objects inside each other beyond what gridmap reads)"
        raise ValidationFailed(why, [Problem(why, field="body")]) from None
    if isinstance(data, dict) and data.get("type") == "FeatureCollection":
        data = data.get("features") or []
    if not isinstance(data, list):
        why = "the body must be a JSON array of incidents (or a FeatureCollection, or NDJSON)"
        raise ValidationFailed(why, [Problem(why, field="body")])
    if len(data) > limit:
        raise PayloadTooLarge(f"{len(data)} incidents in one request; the limit is {limit} "
                              "(GRIDMAP_MAX_BULK_INCIDENTS); split the batch")
    return data
