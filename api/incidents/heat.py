"""The heatmap's data: incidents of a window as numpy arrays, binned into frames of a time slider.

One query reads the window's incidents (longitude, latitude, report time) through a binary
``COPY`` straight into numpy (~40 bytes an incident, no Python object per row); the frame of each
incident (its week or month in the settings' ``timezone``) is found with
``np.searchsorted`` against the period starts, and the binning into square metric cells is
:mod:`geo.incidents.density`'s.  Up to ``settings.heatmap_max_points`` incidents the heat layers carry the
points themselves; above it, weighted cell centres whose cell size keeps at most
:data:`POINT_BUDGET` of them over all frames (and :data:`STATIC_BUDGET` for the whole-window
layer), whatever the number of incidents.
"""

from __future__ import annotations

import io
from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
from sqlalchemy import Connection, text

from api.incidents.filters import IncidentFilter, pyformat
from api.incidents.stats import no_jit
from api.jurisdiction import Jurisdiction
from api.settings import Settings
from geo.incidents import bin_points, choose_cell_size, project

POINT_BUDGET = 30_000  # weighted points over all frames of the time-slider layer
STATIC_BUDGET = 6_000  # weighted points of the whole-window layer
MIN_CELL_M = 100.0  # finest cell the server bins incidents into

#: One row of ``COPY (SELECT geom::point, reported_at ...) TO STDOUT (FORMAT binary)``: field count,
#: then each field's length and value, big-endian; a ``point`` is two float8, a ``timestamptz``
#: an int8 of microseconds since 2000-01-01 UTC.
_ROW = np.dtype([("n", ">i2"), ("l1", ">i4"), ("lon", ">f8"), ("lat", ">f8"), ("l2", ">i4"), ("t", ">i8")])
_HEADER = 19  # PGCOPY signature (11) + flags (4) + header extension length (4, zero)
_PG_EPOCH = 946_684_800  # 2000-01-01 in Unix seconds


def periods(conn: Connection, start: datetime, end: datetime, period: str, tz: str) -> list[datetime]:
    """Starts of the weeks or months (midnight in ``tz``, an IANA zone) that ``[start, end)`` touches."""
    return list(conn.execute(text(
        "SELECT t AT TIME ZONE :tz FROM generate_series(date_trunc(:p, CAST(:s AS timestamptz) AT TIME ZONE :tz), "
        "CAST(:e AS timestamptz) AT TIME ZONE :tz, CAST('1 ' || :p AS interval)) AS t"),
        {"p": period, "s": start, "e": end, "tz": tz}).scalars())


def incident_points(conn: Connection, scope: Jurisdiction, flt: IncidentFilter = IncidentFilter()
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Longitude, latitude (degrees, EPSG:4326) and report time (seconds since 1970, UTC) of the
    incidents in scope that ``flt`` keeps, as three float64 arrays (binary ``COPY``).

    ``COPY`` takes no server-side parameters: the filter's values are bound by psycopg2
    (``mogrify``, its escaping), never pasted into the SQL text by hand."""
    params: dict = {}
    # geom::point is the cheapest way out of PostGIS (ST_X + ST_Y cost ~15% more)
    sql = "SELECT incidents.geom::point, incidents.reported_at FROM incidents WHERE " \
        + flt.where(scope, params, ph=pyformat)
    raw = conn.connection.dbapi_connection
    buf = io.BytesIO()
    with raw.cursor() as cur:
        query = cur.mogrify(sql, params).decode()
        cur.copy_expert(f"COPY ({query}) TO STDOUT (FORMAT binary)", buf)
    data = buf.getbuffer()
    n = (len(data) - _HEADER - 2) // _ROW.itemsize
    rows = np.frombuffer(data, dtype=_ROW, count=n, offset=_HEADER)
    if n and not ((rows["n"] == 2).all() and (rows["l1"] == 16).all() and (rows["l2"] == 8).all()):
        raise RuntimeError("unexpected binary COPY layout for incident points")
    return (rows["lon"].astype(np.float64), rows["lat"].astype(np.float64),
            rows["t"].astype(np.float64) / 1e6 + _PG_EPOCH)


def heat_frames(conn: Connection, settings: Settings, scope: Jurisdiction, flt: IncidentFilter, *,
                period: str) -> dict:
    """The heat layers' data for ``flt``'s incidents (its window required: ``start`` and ``end``
    set): frames of ``[lat, lon]`` (raw) or ``[lat, lon, weight]`` (binned, weights scaled to
    (0, 1]); one frame a week or month in ``settings.timezone``.

    Returns a dict with ``mode`` ("raw", "binned" or "empty"), ``n`` (incidents), ``cell_m``
    (binned only), ``labels`` (one a frame), ``frames`` and ``window`` (the whole-window
    layer's points).
    """
    no_jit(conn)
    starts = periods(conn, flt.start, flt.end, period, settings.timezone)
    local = [p.astimezone(ZoneInfo(settings.timezone)) for p in starts]
    labels = [p.strftime("%Y-%m-%d") if period == "week" else p.strftime("%Y-%m") for p in local]
    lon, lat, t = incident_points(conn, scope, flt)
    n = len(lon)
    out = {"n": n, "labels": labels, "frames": [[] for _ in starts], "window": [], "cell_m": None,
           "mode": "empty" if n == 0 else ("raw" if n <= settings.heatmap_max_points else "binned")}
    if n == 0:
        return out
    bounds = np.array([p.timestamp() for p in starts])
    fr = np.clip(np.searchsorted(bounds, t, side="right") - 1, 0, len(starts) - 1)
    if out["mode"] == "raw":
        la, lo = np.round(lat, 5).tolist(), np.round(lon, 5).tolist()
        frames = [[] for _ in starts]
        for a, b, f in zip(la, lo, fr.tolist()):
            frames[f].append([a, b])
        out.update(frames=frames, window=[list(p) for p in zip(la, lo)])
        return out
    # The smallest cell (MIN_CELL_M x sqrt(2)^k) whose occupied (frame, cell) pairs fit the budget;
    # the points are projected once for every step.
    x, y, crs = project(lon, lat)
    budget = max(POINT_BUDGET, len(starts))
    cell = choose_cell_size(lon, lat, budget=budget, frame=fr, start_m=MIN_CELL_M, factor=np.sqrt(2),
                            crs=crs, xy=(x, y))
    b = bin_points(lon, lat, cell_m=cell, frame=fr, crs=crs, xy=(x, y))
    out["frames"] = _per_frame(b, len(starts))
    cell_w = choose_cell_size(lon, lat, budget=STATIC_BUDGET, start_m=cell, factor=np.sqrt(2), crs=crs, xy=(x, y))
    out["window"] = _per_frame(bin_points(lon, lat, cell_m=cell_w, crs=crs, xy=(x, y)), 1)[0]
    out["cell_m"] = int(round(cell))
    return out


def _per_frame(b, n_frames: int) -> list[list[list[float]]]:
    """``[lat, lon, weight]`` rows of each frame (bins come sorted by frame), weights scaled to
    (0, 1] by the heaviest cell, coordinates to 5 decimals (~1 m)."""
    if len(b) == 0:
        return [[] for _ in range(n_frames)]
    rows = np.column_stack([np.round(b.lat, 5), np.round(b.lon, 5),
                            np.maximum(np.round(b.weight / b.weight.max(), 3), 0.001)])
    cuts = np.searchsorted(b.frame, np.arange(1, n_frames))
    return [part.tolist() for part in np.split(rows, cuts)]
