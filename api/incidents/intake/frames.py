"""Bulk incident intake: validate a frame, attribute every incident to the grid version valid when
it was reported, and insert idempotently, all in SQL in bulk.

One call: rows are checked in pandas (every fault listed with its 1-based row), the good rows are
COPYed into a temporary table and one ``INSERT ... SELECT`` attributes them by point-in-polygon
(GiST index on ``grids.geom``) against the grid version with ``valid_from <= reported_at <
valid_to`` (or ``valid_to`` null), writes ``incidents`` with ``ON CONFLICT (region_code,
external_id) DO NOTHING`` (a retried batch never duplicates) and the ``incident_events`` that
record each case's path, in the caller's transaction.

Attribution rules
-----------------
The SQL is :func:`api.db.load.incident_place_joins`, shared with the re-attribution
after a grid change (:mod:`api.db.load.reattribute`), so the two never disagree:

- grid, community: the grid version containing the point at ``reported_at`` (a point on a border
  shared by two grids goes to the grid whose code sorts first);
- town: the grid's ``town_code``, else the parent of its community in ``areas``;
- outside every grid: kept with ``outside_grid = true``; community and town from ``areas`` when
  the point lies in one;
- region_code: the grid's, else the row's own ``region_code``, else the enclosing community's,
  else the ``region_code`` argument, else the settings' default;
- ``due_at`` = ``reported_at`` + the category's SLA hours.

Times without a UTC offset are wall-clock times in ``GRIDMAP_TIMEZONE`` (default Asia/Shanghai;
:mod:`api.incidents.times`).  A point at exactly (0, 0) is refused (a missing position written as
zeros).  ``reported_at`` may be at most
:data:`CLOCK_SKEW` in the future.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from datetime import timedelta

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from sqlalchemy import Connection, text

from api.db.load.partitions import ensure_staged_partitions
from api.db.load import INCIDENT_PLACE_COLUMNS, incident_place_joins
from api.incidents.categories import ADD_COMMAND
from api.incidents.times import column_times, local_zone
from api.incidents.workflow import CLOSED_STATUSES, PATH_TO
from geo.errors import InvalidInput, Problem
from geo.layers import CLOSE_REASONS, ESCALATION_LEVELS, INCIDENT_STATUSES, REPORTER_KINDS
from geo.validate import YEARS, shown, text_faults

CLOCK_SKEW = timedelta(minutes=5)
_REGION = re.compile(r"^[0-9]{6}$")
_TEXT_COLS = ("region_code", "external_id", "category", "description", "reporter_kind", "status",
              "escalation_level", "close_reason")


@dataclass
class IngestReport:
    """What an intake did.

    Attributes
    ----------
    inserted : int
        New incidents written.
    duplicates : int
        Rows whose ``(region_code, external_id)`` already existed (nothing written for them): the
        key is per county, so one ``external_id`` may name one incident in each county.
    rejected : list of Problem
        Rows refused, each with its 1-based ``row``, ``field`` and reason.
    outside_grid : int
        Of the inserted, how many lie outside every grid valid at their ``reported_at``.
    duplicate_ids : list of str
        The ``external_id`` of each duplicate.
    incident_ids : dict of int to int
        1-based row of the frame given to :func:`ingest_frame` -> the id of its incident (new, or
        the stored one of its county for a duplicate), for every row written or found.
    duplicate_rows : dict of int to int
        The same for the duplicates only: the stored incident each duplicate row names.  Every
        later look-up of a row's incident (retry differences, scope, the answer) goes by these
        ids, never by ``external_id`` alone: the same ``external_id`` may exist in several counties.
    """

    inserted: int = 0
    duplicates: int = 0
    rejected: list[Problem] = field(default_factory=list)
    outside_grid: int = 0
    duplicate_ids: list[str] = field(default_factory=list)
    incident_ids: dict[int, int] = field(default_factory=dict)
    duplicate_rows: dict[int, int] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {
            "inserted": self.inserted,
            "duplicates": self.duplicates,
            "outside_grid": self.outside_grid,
            "rejected": [p.as_dict() for p in self.rejected],
            "duplicate_ids": self.duplicate_ids,
        }


def known_categories(conn: Connection) -> dict[str, int]:
    """Category code -> SLA hours, from ``incident_categories``."""
    return dict(conn.execute(text("SELECT code, sla_hours FROM incident_categories ORDER BY code")).all())


def _text(frame: pd.DataFrame, col: str) -> pd.Series:
    """Column as stripped strings (object dtype), ``None`` where missing or blank."""
    if col not in frame.columns:
        return pd.Series([None] * len(frame), index=frame.index, dtype=object)
    raw = frame[col]
    missing = raw.isna().to_numpy()
    s = np.array(raw.astype(str).str.strip().to_numpy(), dtype=object)
    s[missing | (s == "")] = None
    return pd.Series(s, index=frame.index, dtype=object)


def validate_incidents(frame: gpd.GeoDataFrame, categories: dict[str, int], now: pd.Timestamp | None = None,
                       tz: str | None = None, row_offset: int = 1) -> tuple[pd.DataFrame, list[Problem]]:
    """Check every row of an incident frame (EPSG:4326 points); times without an offset are read in
    ``tz`` (default: the settings' ``timezone``).  Problems name row ``i + row_offset`` for the
    frame's ``i``-th row (2 for a spreadsheet, whose header is row 1).

    Returns
    -------
    (clean, problems)
        ``clean`` holds the good rows in the temporary table's shape (``row_no`` 1-based, times as
        UTC microseconds since the epoch, ``lon``/``lat`` in degrees); ``problems`` every fault.
    """
    now = now or pd.Timestamp.now(tz="UTC")
    tz = local_zone(tz)
    n = len(frame)
    if frame.crs is not None and frame.crs.to_epsg() != 4326 and n:
        frame = frame.to_crs(4326)
    problems: list[Problem] = []
    bad = np.zeros(n, dtype=bool)
    t = {c: _text(frame, c).to_numpy() for c in _TEXT_COLS}
    ids = t["external_id"]
    shown_ids = np.array([shown(v) for v in ids], dtype=object)

    def flag(mask: np.ndarray, fld: str, reason) -> None:
        for i in np.flatnonzero(mask):
            problems.append(Problem(reason(i) if callable(reason) else reason, row=int(i) + row_offset, field=fld,
                                    feature_id=shown_ids[i]))
        bad[mask] = True

    # text the database can store: no NUL / control characters / lone surrogates, within its length
    for col in _TEXT_COLS:
        faults = text_faults(t[col], col)
        for i, why in faults:
            flag(np.arange(n) == i, col, why)
        if faults:
            t[col] = t[col].copy()
            t[col][[i for i, _ in faults]] = "\ufffd"  # neither quoted nor checked further

    # geometry: a non-empty point in lon/lat range
    has_geom = isinstance(frame, gpd.GeoDataFrame) and frame.active_geometry_name in frame.columns
    geom = frame.geometry if has_geom else gpd.GeoSeries([None] * n, index=frame.index)
    gv = np.asarray(geom.to_numpy(), dtype=object)
    is_point = (shapely.get_type_id(gv) == 0) & ~shapely.is_empty(gv) & ~shapely.is_missing(gv)
    lon = np.full(n, np.nan)
    lat = np.full(n, np.nan)
    if is_point.any():
        lon[is_point] = geom[is_point].x.to_numpy()
        lat[is_point] = geom[is_point].y.to_numpy()
    flag(~is_point, "geometry", "a point (lon, lat) is required")
    finite = np.isfinite(lon) & np.isfinite(lat)
    out = is_point & (~finite | (np.abs(lon) > 180) | (np.abs(lat) > 90))
    flag(out, "geometry", lambda i: (
        f"coordinates ({lon[i]}, {lat[i]}) are not a longitude/latitude pair in range "
        "(lon -180..180, lat -90..90; order is lon, lat)"))
    flag(is_point & (lon == 0) & (lat == 0), "geometry",
         "coordinates (0, 0) are a missing position written as zeros ('Null Island'), not a place")

    no_id = pd.isna(ids).astype(bool)
    flag(no_id, "external_id", "external_id is required")
    # an external_id is unique per county: a repeat is the same id with the same region_code as given
    # (rows attributed to one county by their grid and repeating an id are duplicates in _INSERT)
    keys = pd.Series([(r, e) for r, e in zip(t["region_code"], ids)], dtype=object)
    rep = (keys.duplicated(keep="first") & ~no_id).to_numpy()
    first_pos = {}
    if rep.any():
        firsts = keys[~keys.duplicated(keep="first") & ~no_id]
        first_pos = dict(zip(firsts.to_numpy(), firsts.index))
    flag(rep, "external_id", lambda i: f"external_id repeats row {first_pos[keys[i]] + row_offset} of this batch")

    cat = t["category"]
    known = ", ".join(sorted(categories))
    flag(~pd.Series(cat).isin(list(categories)).to_numpy(), "category",
         lambda i: (f"unknown category {cat[i]!r}; known categories: {known} (add one with `{ADD_COMMAND}`)"
                    if cat[i] is not None else f"category is required; known categories: {known}"))

    def vocab(col: str, values, default) -> None:
        v = t[col]
        missing = pd.isna(v).astype(bool)
        wrong = ~missing & ~pd.Series(v).isin(list(values)).to_numpy()
        flag(wrong, col, lambda i: f"{col} {v[i]!r} is not one of {', '.join(values)}")
        v = v.copy()
        v[missing] = default
        t[col] = v

    vocab("status", INCIDENT_STATUSES, "reported")
    vocab("escalation_level", ESCALATION_LEVELS, "grid")
    vocab("reporter_kind", REPORTER_KINDS, "other")
    vocab("close_reason", CLOSE_REASONS, None)
    reg = t["region_code"]
    flag(~pd.isna(reg).astype(bool) & ~pd.Series(reg, dtype=object).astype(str).str.fullmatch(r"[0-9]{6}").to_numpy(),
         "region_code",
         lambda i: f"region_code {reg[i]!r} is not a 6-digit county code")

    reported, unreadable = column_times(frame, "reported_at", tz)
    flag(unreadable.to_numpy(), "reported_at", "reported_at is not a readable time (ISO 8601)")
    flag((reported.isna() & ~unreadable).to_numpy(), "reported_at", "reported_at is required")
    limit = now + CLOCK_SKEW
    flag((reported > limit).to_numpy(), "reported_at",
         lambda i: f"reported_at {reported.iloc[i].isoformat()} is in the future (now {now.isoformat()})")
    for col, when in (("reported_at", reported), ("closed_at", column_times(frame, "closed_at", tz)[0])):
        years = when.dt.year.to_numpy(dtype=float, na_value=np.nan)
        flag((years < YEARS[0]) | (years > YEARS[1]), col,
             lambda i, when=when, col=col: f"{col} {when.iloc[i].isoformat()} is outside the years "
                                           f"{YEARS[0]}-{YEARS[1]}")
    closed, unreadable_c = column_times(frame, "closed_at", tz)
    flag(unreadable_c.to_numpy(), "closed_at", "closed_at is not a readable time (ISO 8601)")
    flag((closed > limit).to_numpy(), "closed_at", "closed_at is in the future")
    flag((closed < reported).to_numpy(), "closed_at", "closed_at is before reported_at")

    st, cr = t["status"], t["close_reason"]
    is_closed = np.isin(st.astype(str), CLOSED_STATUSES)
    flag(is_closed & closed.isna().to_numpy() & ~unreadable_c.to_numpy(), "closed_at",
         lambda i: f"closed_at is required for status {st[i]}")
    flag(~is_closed & closed.notna().to_numpy(), "closed_at",
         lambda i: f"closed_at must be empty for an open incident (status {st[i]})")
    cr_missing = pd.isna(cr).astype(bool)
    flag((st == "closed_other") & cr_missing, "close_reason",
         f"close_reason is required for status closed_other: one of {', '.join(CLOSE_REASONS)}")
    flag((st != "closed_other") & ~cr_missing, "close_reason",
         "close_reason is only for status closed_other")

    problems.sort(key=lambda p: (p.row or 0, p.field or ""))
    keep = ~bad
    epoch = pd.Timestamp("1970-01-01", tz="UTC")
    clean = pd.DataFrame({
        "row_no": np.arange(1, n + 1)[keep],
        "region_code": reg[keep],
        "external_id": ids[keep],
        "category": cat[keep],
        "description": t["description"][keep],
        "reported_us": ((reported[keep] - epoch) // pd.Timedelta(microseconds=1)).astype("int64").to_numpy(),
        "reporter_kind": t["reporter_kind"][keep],
        "status": st[keep],
        "escalation_level": t["escalation_level"][keep],
        "closed_us": ((closed[keep] - epoch) // pd.Timedelta(microseconds=1)).astype("Int64").array,
        "close_reason": cr[keep],
        "lon": lon[keep],
        "lat": lat[keep],
    })
    return clean, problems


_TEMP = """
DROP TABLE IF EXISTS _incident_in;
CREATE TEMP TABLE _incident_in (
    row_no integer, region_code text, external_id text, category text, description text,
    reported_us bigint, reporter_kind text, status text, escalation_level text, closed_us bigint,
    close_reason text, lon double precision, lat double precision
) ON COMMIT DROP;
"""

_COLUMNS = ("row_no", "region_code", "external_id", "category", "description", "reported_us",
            "reporter_kind", "status", "escalation_level", "closed_us", "close_reason", "lon", "lat")


def _paths_sql() -> str:
    """VALUES list of the reconstructed steps of each historical status (after ``report``)."""
    rows = []
    for status, steps in PATH_TO.items():
        for k, (action, frm, to) in enumerate(steps, start=1):
            final = to in CLOSED_STATUSES
            rows.append(f"('{status}', {k}, '{action}', '{frm}', '{to}', {str(final).lower()})")
    return "VALUES " + ", ".join(rows)


def _levels_sql() -> str:
    return "VALUES " + ", ".join(f"('{lvl}', {i})" for i, lvl in enumerate(ESCALATION_LEVELS))


_INSERT = f"""
WITH src AS (
    SELECT i.*, ST_SetSRID(ST_MakePoint(i.lon, i.lat), 4326) AS pt,
           timestamptz 'epoch' + i.reported_us * interval '1 microsecond' AS reported_at,
           timestamptz 'epoch' + i.closed_us * interval '1 microsecond' AS closed_at
    FROM _incident_in i
), att AS (
    SELECT s.*, {INCIDENT_PLACE_COLUMNS}
    FROM src s{incident_place_joins("s.pt", "s.reported_at")}
), keyed AS (
    SELECT a.row_no, COALESCE(a.grid_region, a.region_code, a.o_region, :region) AS region_code, a.external_id,
           row_number() OVER (PARTITION BY COALESCE(a.grid_region, a.region_code, a.o_region, :region),
                              a.external_id ORDER BY a.row_no) AS nth
    FROM att a
), ins AS (
    INSERT INTO incidents (region_code, external_id, category, description, reported_at, reporter_kind,
                           status, close_reason, escalation_level, grid_id, grid_code, community_code,
                           town_code, outside_grid, due_at, closed_at, geom)
    SELECT k.region_code, a.external_id, a.category,
           a.description, a.reported_at, a.reporter_kind, a.status, a.close_reason, a.escalation_level,
           a.grid_id, a.grid_code, COALESCE(a.g_comm, a.o_comm), COALESCE(a.g_town, a.o_town),
           a.grid_id IS NULL, a.reported_at + c.sla_hours * interval '1 hour', a.closed_at, a.pt
    FROM att a JOIN keyed k ON k.row_no = a.row_no JOIN incident_categories c ON c.code = a.category
    WHERE k.nth = 1
    ORDER BY a.row_no
    ON CONFLICT (region_code, external_id) DO NOTHING
    RETURNING id, region_code, external_id, status, escalation_level, reported_at, closed_at, outside_grid
), paths (status, step, action, from_status, to_status, final) AS ({_paths_sql()}
), levels (level, idx) AS ({_levels_sql()}
), ev AS (
    INSERT INTO incident_events (region_code, incident_id, at, actor, action, from_status, to_status,
                                 escalation_level, note)
    SELECT region_code, id, reported_at, :actor, 'report', NULL, 'reported', 'grid', NULL FROM ins
    UNION ALL
    SELECT ins.region_code, ins.id, ins.reported_at, :actor, 'escalate', NULL, NULL, l.level,
           'reconstructed on import: escalation time unknown'
    FROM ins JOIN levels cur ON cur.level = ins.escalation_level
             JOIN levels l ON l.idx BETWEEN 1 AND cur.idx
    UNION ALL
    SELECT ins.region_code, ins.id, CASE WHEN p.final THEN ins.closed_at ELSE ins.reported_at END,
           :actor, p.action, p.from_status, p.to_status, ins.escalation_level,
           CASE WHEN p.final THEN 'reconstructed on import'
                ELSE 'reconstructed on import: step time unknown' END
    FROM ins JOIN paths p ON p.status = ins.status
    RETURNING 1
)
SELECT k.row_no, COALESCE(ins.id, old.id) AS id, (ins.id IS NULL OR k.nth > 1) AS duplicate,
       COALESCE(ins.outside_grid AND k.nth = 1, false) AS outside, k.region_code, k.external_id
FROM keyed k
LEFT JOIN ins ON ins.region_code = k.region_code AND ins.external_id = k.external_id
LEFT JOIN incidents old ON ins.id IS NULL AND old.region_code = k.region_code AND old.external_id = k.external_id
ORDER BY k.row_no
"""

#: The incidents of duplicates that a concurrent transaction committed while _INSERT ran (its
#: ON CONFLICT waited for them, its snapshot predates them): read in a new statement's snapshot.
_LATE = """
SELECT k.r AS region_code, k.e AS external_id, i.id
FROM unnest(CAST(:r AS text[]), CAST(:e AS text[])) AS k(r, e)
JOIN incidents i ON i.region_code = k.r AND i.external_id = k.e
"""


def _copy(conn: Connection, clean: pd.DataFrame) -> None:
    buf = io.StringIO()
    clean.loc[:, list(_COLUMNS)].to_csv(buf, index=False, header=False, na_rep="")
    buf.seek(0)
    raw = conn.connection.dbapi_connection
    with raw.cursor() as cur:
        cur.copy_expert(f"COPY _incident_in ({', '.join(_COLUMNS)}) FROM STDIN WITH (FORMAT csv)", buf)


def ingest_frame(conn: Connection, frame: gpd.GeoDataFrame, *, region_code: str | None = None,
                 actor: str = "import", all_or_nothing: bool = True,
                 default_region: str | None = None, timezone: str | None = None,
                 row_offset: int | None = None) -> IngestReport:
    """Validate, attribute and insert incidents, inside the caller's transaction.

    Parameters
    ----------
    conn : sqlalchemy.Connection
        An open connection in a transaction (``engine.begin()``); nothing is committed here.
    frame : GeoDataFrame
        Points in EPSG:4326 (lon, lat) with the ``incidents`` layer's columns
        (``geo.layers.LAYERS["incidents"]``): ``external_id``, ``category``, ``reported_at``
        required; ``status``/``closed_at``/``close_reason``/``escalation_level`` for historical
        imports.
    region_code : str, optional
        County code for rows that fall in no grid and carry none.
    actor : str
        Recorded as the actor of the events written.
    all_or_nothing : bool
        True: any bad row raises :class:`geo.errors.InvalidInput` listing every bad row and nothing
        is written.  False: good rows are written and the bad ones listed in ``rejected``.
    default_region : str, optional
        Last fallback for ``region_code``; the settings' ``region_code`` when omitted.
    timezone : str, optional
        IANA zone of times given without a UTC offset; the settings' ``timezone`` when omitted.
    row_offset : int, optional
        The row number of the frame's first row in problems; default ``frame.attrs["row_offset"]``
        (2 for a spreadsheet read by ``geo.io.read_layer``: its header is row 1), else 1.

    Returns
    -------
    IngestReport
    """
    if default_region is None and region_code is None:
        from api.settings import get_settings

        default_region = get_settings().region_code
    region = region_code or default_region
    if region is not None and not _REGION.match(region):
        raise InvalidInput("bad region_code", [Problem(f"{region!r} is not a 6-digit county code",
                                                       field="region_code")])
    categories = known_categories(conn)
    offset = int(row_offset if row_offset is not None else frame.attrs.get("row_offset", 1))
    clean, problems = validate_incidents(frame, categories, tz=timezone, row_offset=offset)
    if problems and all_or_nothing:
        raise InvalidInput(
            f"{len({p.row for p in problems})} of {len(frame)} incidents are invalid; nothing was written",
            problems,
        )
    report = IngestReport(rejected=problems)
    if clean.empty:
        return report
    conn.execute(text("SET LOCAL jit = off"))  # JIT compiling this statement costs more than it saves
    conn.execute(text(_TEMP))
    _copy(conn, clean)
    conn.execute(text("ANALYZE _incident_in"))
    ensure_staged_partitions(conn, "_incident_in", (region,))  # a county's first incidents make its partitions
    rows = conn.execute(text(_INSERT), {"region": region, "actor": actor}).all()
    late = [r for r in rows if r.id is None]
    found = {}
    if late:
        found = {(r.region_code, r.external_id): r.id for r in conn.execute(text(_LATE), {
            "r": [r.region_code for r in late], "e": [r.external_id for r in late]})}
    for row in rows:
        inc = row.id if row.id is not None else found[(row.region_code, row.external_id)]
        report.incident_ids[int(row.row_no)] = int(inc)
        if row.duplicate:
            report.duplicate_rows[int(row.row_no)] = int(inc)
            report.duplicate_ids.append(row.external_id)
        else:
            report.inserted += 1
            report.outside_grid += bool(row.outside)
    report.duplicates = len(report.duplicate_ids)
    conn.execute(text("DROP TABLE IF EXISTS _incident_in"))
    return report
