"""What a retried incident changes: intake is idempotent on ``(region_code, external_id)``, so a
second report with an ``external_id`` known in its county writes nothing and returns the stored record
(``duplicate: true``).  A caller who is correcting data rather than retrying must learn that the
correction was not applied: :func:`differences` names the fields whose sent value differs from the
stored one.

Compared: ``category``, ``reported_at`` (as an instant: ``08:00+08:00`` equals ``00:00Z``) and
``geometry`` (lon/lat equal to 1e-9 degrees, about 0.1 mm) always; ``description``,
``reporter_kind``, ``status``, ``escalation_level``, ``close_reason`` and ``closed_at`` only when
the retry gives them (a retry that leaves them out does not claim they changed; the stored
``status`` moves on through the workflow).
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
from sqlalchemy import Connection, text

from api.incidents.intake.frames import known_categories, validate_incidents

#: Fields compared whatever the retry gives, then those compared only when given.
ALWAYS = ("category", "reported_at", "geometry")
WHEN_GIVEN = ("description", "reporter_kind", "status", "escalation_level", "close_reason", "closed_at")
GEOMETRY_TOLERANCE_DEG = 1e-9

_STORED = """
SELECT id, category, description, reporter_kind, status, escalation_level,
       close_reason, (extract(epoch FROM reported_at) * 1e6)::bigint AS reported_us,
       (extract(epoch FROM closed_at) * 1e6)::bigint AS closed_us, ST_X(geom) AS lon, ST_Y(geom) AS lat
FROM incidents WHERE id = ANY(:ids)
"""


def differences(conn: Connection, frame: gpd.GeoDataFrame, duplicate_rows: dict[int, int], *,
                tz: str | None = None) -> list[dict]:
    """For each duplicate, the fields whose sent value differs from the stored incident.

    Parameters
    ----------
    frame : GeoDataFrame
        The rows as sent (EPSG:4326 points), as given to ``ingest_frame``.
    duplicate_rows : dict of int to int
        ``IngestReport.duplicate_rows``: 1-based row of ``frame`` -> the stored incident it repeats
        (in its own county: one ``external_id`` may exist in several counties).
    tz : str, optional
        Zone of times without an offset (the settings' ``timezone`` when omitted).

    Returns
    -------
    list of dict
        ``{"external_id", "row" (1-based position in frame), "differs" (field names, in
        :data:`ALWAYS` + :data:`WHEN_GIVEN` order; empty when the retry is identical)}``, one per
        duplicate, in row order.
    """
    if not duplicate_rows:
        return []
    clean, _ = validate_incidents(frame, known_categories(conn), tz=tz)
    clean = clean[clean["row_no"].isin(list(duplicate_rows))]
    stored = {r.id: r for r in conn.execute(text(_STORED), {"ids": sorted(set(duplicate_rows.values()))})}
    out = []
    for row in clean.itertuples(index=False):
        s = stored.get(duplicate_rows[int(row.row_no)])
        if s is None:
            continue
        pos = int(row.row_no) - 1
        diff = []
        if row.category != s.category:
            diff.append("category")
        if int(row.reported_us) != int(s.reported_us):
            diff.append("reported_at")
        if abs(row.lon - s.lon) > GEOMETRY_TOLERANCE_DEG or abs(row.lat - s.lat) > GEOMETRY_TOLERANCE_DEG:
            diff.append("geometry")
        for f in WHEN_GIVEN:
            if not _given(frame, f, pos):
                continue
            if f == "closed_at":
                sent, have = row.closed_us, s.closed_us
                same = (pd.isna(sent) and have is None) or (not pd.isna(sent) and have is not None
                                                            and int(sent) == int(have))
            else:
                same = getattr(row, f) == getattr(s, f)
            if not same:
                diff.append(f)
        out.append({"external_id": row.external_id, "row": pos + 1, "differs": diff})
    return out


def _given(frame: pd.DataFrame, col: str, pos: int) -> bool:
    if col not in frame.columns:
        return False
    v = frame[col].iloc[pos]
    if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NaT:
        return False
    return str(v).strip() != ""
