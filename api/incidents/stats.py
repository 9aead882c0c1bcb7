"""Incident statistics per grid, community or town, computed in SQL.

For a time window on ``reported_at`` (``[start, end)``) and an optional category and area filter:
count, rate per 100 households (households summed from ``dwellings``), closure rate (resolved +
closed for another reason), resolution rate (resolved only: a closure that is not a fix is kept
apart), median and 90th percentile hours from report to close, overdue count (open and past
``due_at`` at ``as_of``), and a trend by week or month (weeks and months in the zone the caller passes: the settings'
``timezone``, ``GRIDMAP_TIMEZONE``).
Rankings (by rate per 100 households) are given only to areas with at least ``min_count``
incidents: a grid with 2 incidents and 5 households is not "the worst grid".

Every function takes ``scope: Jurisdiction`` and keeps to it, and an
:class:`~api.incidents.filters.IncidentFilter` checked at the edge; all SQL takes bound parameters.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone

import pandas as pd
from sqlalchemy import Connection, text

from api.db.areas import unit_codes, unit_names
from api.db.load import covers_sql, precedence_sql
from api.errors import ValidationFailed
from api.incidents.filters import IncidentFilter, scope_condition
from api.jurisdiction import Jurisdiction
from geo.errors import Problem

LEVELS: dict[str, str] = {"grid": "grid_code", "community": "community_code", "town": "town_code"}
PERIODS = ("week", "month")
OPEN = "('reported', 'dispatched', 'accepted', 'in_progress')"
CLOSED = "('resolved', 'closed_other')"

COLUMNS = ["code", "name", "incidents", "households", "rate_per_100_households", "closed", "resolved",
           "closed_other", "closure_rate", "resolution_rate", "median_hours_to_close",
           "p90_hours_to_close", "median_hours_to_resolve", "overdue", "closed_late", "rank"]


@dataclass
class Stats:
    """Result of :func:`area_stats`: one row an area, the totals of the window, the trend."""

    level: str
    rows: pd.DataFrame
    totals: dict
    trend: pd.DataFrame = field(default_factory=pd.DataFrame)

    def as_dict(self) -> dict:
        return {"level": self.level, "totals": self.totals, "rows": records(self.rows),
                "trend": records(self.trend)}


def _plain(v):
    """A cell as JSON: missing (None, NaN, NA, NaT) as None, times as ISO 8601, numbers as they are."""
    if v is None or v is pd.NA or v is pd.NaT or (isinstance(v, float) and v != v):
        return None
    if isinstance(v, (pd.Timestamp, datetime)):
        return v.isoformat()
    return v


def records(df: pd.DataFrame) -> list[dict]:
    """``df``'s rows as dicts of plain Python values (:func:`_plain`), column by column: the trend of a
    county is ~20,000 rows, where ``astype(object).to_dict("records")`` took most of the request."""
    cols = [str(c) for c in df.columns]
    values = []
    for c in df.columns:
        col = df[c].tolist()
        if pd.api.types.is_datetime64_any_dtype(df[c].dtype):  # a trend has a few dozen distinct times
            memo = {v: _plain(v) for v in set(col)}
            values.append([memo[v] for v in col])
        else:
            values.append([_plain(v) for v in col])
    return [dict(zip(cols, row)) for row in zip(*values)] if cols else [{} for _ in range(len(df))]


def no_jit(conn: Connection) -> None:
    """Turn PostgreSQL's JIT off for the rest of the caller's transaction: compiling these
    aggregates took ~0.8 s, far more than running them (measured in benchmarks/incidents.py)."""
    conn.execute(text("SET LOCAL jit = off"))


def check_level(level: str, period: str | None = None, levels=LEVELS) -> str:
    """The incident column of ``level`` (``grid_code``, ...); :class:`ValidationFailed` (422, field
    named) for a level or period that is not one of :data:`LEVELS` / :data:`PERIODS`."""
    if level not in levels:
        why = f"level must be one of {', '.join(levels)}, not {level!r}"
        raise ValidationFailed(why, [Problem(why, field="level")])
    if period is not None and period not in PERIODS:
        why = f"period must be one of {', '.join(PERIODS)}, not {period!r}"
        raise ValidationFailed(why, [Problem(why, field="period")])
    return LEVELS.get(level, level)


def _households_sql(level: str, scope: Jurisdiction, params: dict) -> str:
    """Households per area code at ``level``: a dwelling's own grid/community codes, else the
    current grid it belongs to by the point-in-grid rule (:mod:`api.db.load.attribution`); towns through the grid's town or the community's parent area."""
    in_scope = scope_condition(scope, "dwellings", params, columns=("region_code", "community_code"))
    return f"""
    hh_raw AS (
        SELECT dwellings.region_code, dwellings.grid_code, dwellings.community_code AS d_comm,
               NULL::varchar AS g_comm, sum(dwellings.households) AS households
        FROM dwellings WHERE dwellings.grid_code IS NOT NULL AND {in_scope}
        GROUP BY 1, 2, 3
        UNION ALL
        SELECT dwellings.region_code, g.code, dwellings.community_code, g.community_code,
               sum(dwellings.households)
        FROM dwellings
        LEFT JOIN LATERAL (
            SELECT cg.code, cg.community_code FROM current_grids cg
            WHERE {covers_sql("cg.geom", "dwellings.geom")} ORDER BY {precedence_sql("cg")} LIMIT 1) g ON true
        WHERE dwellings.grid_code IS NULL AND {in_scope}
        GROUP BY 1, 2, 3, 4
    ), hh_keyed AS (
        SELECT h.households, h.grid_code,
               COALESCE(h.d_comm, h.g_comm, cg.community_code) AS community_code,
               COALESCE(cg.town_code, ca.parent_code) AS town_code
        FROM hh_raw h
        LEFT JOIN current_grids cg ON cg.region_code = h.region_code AND cg.code = h.grid_code
        LEFT JOIN areas ca ON ca.region_code = h.region_code
             AND ca.code = COALESCE(h.d_comm, h.g_comm, cg.community_code)
    ), hh AS (
        SELECT {LEVELS[level]} AS code, sum(households)::bigint AS households
        FROM hh_keyed WHERE {LEVELS[level]} IS NOT NULL GROUP BY 1
    )"""


_HH_CACHE: dict[tuple, dict[str, int]] = {}


def households(conn: Connection, scope: Jurisdiction, level: str) -> dict[str, int]:
    """Households per area code at ``level``, cached per process until ``dwellings``, ``grids``
    or ``areas`` change (their ``data_versions`` are part of the key)."""
    versions = tuple(conn.execute(text(
        "SELECT layer, version FROM data_versions WHERE layer IN ('dwellings', 'grids', 'areas') ORDER BY layer")).all())
    key = (conn.engine.url.render_as_string(hide_password=True), versions, scope.codes, level)
    if key not in _HH_CACHE:
        params: dict = {}
        rows = conn.execute(text(f"WITH {_households_sql(level, scope, params)} SELECT code, households FROM hh"),
                            params).all()
        if len(_HH_CACHE) > 64:
            _HH_CACHE.clear()
        _HH_CACHE[key] = {r.code: int(r.households) for r in rows}
    return _HH_CACHE[key]


_COUNTS = f"""
    count(*) AS incidents,
    count(*) FILTER (WHERE status IN {CLOSED}) AS closed,
    count(*) FILTER (WHERE status = 'resolved') AS resolved,
    count(*) FILTER (WHERE status = 'closed_other') AS closed_other,
    count(*) FILTER (WHERE status IN {OPEN} AND due_at < :as_of) AS overdue,
    count(*) FILTER (WHERE closed_at > due_at) AS closed_late,"""

_AGG = _COUNTS + """
    percentile_cont(0.5) WITHIN GROUP (ORDER BY hours) AS median_hours_to_close,
    percentile_cont(0.9) WITHIN GROUP (ORDER BY hours) AS p90_hours_to_close,
    percentile_cont(0.5) WITHIN GROUP (ORDER BY rhours) AS median_hours_to_resolve"""

_AGG_NO_PCT = _COUNTS + """
    NULL::float8 AS median_hours_to_close, NULL::float8 AS p90_hours_to_close,
    NULL::float8 AS median_hours_to_resolve"""


def _base(where: str, col: str) -> str:
    return f"""
    inc AS (
        SELECT incidents.{col} AS code, incidents.status, incidents.due_at, incidents.closed_at,
               incidents.outside_grid,
               extract(epoch FROM incidents.closed_at - incidents.reported_at) / 3600.0 AS hours,
               CASE WHEN incidents.status = 'resolved'
                    THEN extract(epoch FROM incidents.closed_at - incidents.reported_at) / 3600.0 END AS rhours
        FROM incidents WHERE {where}
    )"""


def area_stats(conn: Connection, scope: Jurisdiction, flt: IncidentFilter = IncidentFilter(), *, tz: str,
               level: str = "grid", min_count: int = 10, period: str | None = "month",
               as_of: datetime | None = None, with_totals: bool = True, percentiles: bool = True) -> Stats:
    """Statistics per area of ``level`` for the incidents of ``flt`` (window ``[start, end)``).

    Parameters
    ----------
    flt : IncidentFilter
        Window (timezone-aware), categories, area, ... (checked by the caller:
        :meth:`IncidentFilter.check`).
    tz : str
        IANA zone of the trend's weeks and months (the settings' ``timezone``).
    level : {"grid", "community", "town"}
    min_count : int
        Areas with fewer incidents get no rank.
    period : {"week", "month"} or None
        Trend bucket (in ``tz``); ``None`` skips the trend.
    as_of : datetime, optional
        "Now" for the overdue count (default: the current time).
    with_totals : bool
        False skips the totals and the trend (pages that need only the rows).
    percentiles : bool
        False leaves the median/p90 hours empty (they need a sort; pages in a hurry skip them).

    Returns
    -------
    Stats
        ``rows`` has :data:`COLUMNS` (rates are fractions 0..1, hours are hours), sorted by rank then
        code, one row for every unit of ``level`` in scope (and in the filter's area), those with no
        incident in the window included (counts 0, rate 0 where they have households; closure
        rates and hours empty); ``totals`` covers every incident in the window, those outside every grid included.
    """
    col = check_level(level, period)
    no_jit(conn)
    params: dict = {"as_of": as_of or datetime.now(timezone.utc)}
    where = flt.where(scope, params)
    counted = ["code", "incidents", "closed", "resolved", "closed_other", "median_hours_to_close",
               "p90_hours_to_close", "median_hours_to_resolve", "overdue", "closed_late"]
    tot = None
    if with_totals and percentiles:
        # the rows and the totals from one scan and one sort (grouping sets (code) and ()): the
        # percentiles' sorts are most of the request's time in PostgreSQL
        res = conn.execute(text(f"""
        WITH {_base(where, col)}
        SELECT code, GROUPING(code) AS whole, {_AGG}, count(*) FILTER (WHERE outside_grid) AS outside_grid
        FROM inc GROUP BY GROUPING SETS ((code), ())"""), params).mappings().all()
        tot = {k: v for k, v in next(r for r in res if r["whole"]).items() if k not in ("code", "whole")}
        per = [r for r in res if not r["whole"] and r["code"] is not None]
    else:
        agg_sql = _AGG if percentiles else _AGG_NO_PCT
        per = conn.execute(text(f"""
        WITH {_base(where, col)}
        SELECT code, {agg_sql} FROM inc WHERE code IS NOT NULL GROUP BY code"""), params).mappings().all()
    got = pd.DataFrame([{c: r[c] for c in counted} for r in per], columns=counted)
    got["closure_rate"] = (got["closed"] / got["incidents"]).astype(float)
    got["resolution_rate"] = (got["resolved"] / got["incidents"]).astype(float)
    got["name"] = None  # named below, after the units without incidents are added
    got = got[[c for c in COLUMNS[:-1] if c not in ("households", "rate_per_100_households")]]
    got = _with_zero_units(conn, scope, level, flt.area, got)
    names = unit_names(conn, level, list(got["code"]))
    got["name"] = got["code"].map(names).astype(object) if len(got) else pd.Series(dtype=object)
    got["name"] = got["name"].where(got["name"].notna(), None)
    hh = households(conn, scope, level)
    got["households"] = got["code"].map(hh).astype("Int64") if len(got) else pd.Series(dtype="Int64")
    hhf = got["households"].astype("Float64")
    got["rate_per_100_households"] = (100.0 * got["incidents"] / hhf.where(hhf > 0)).astype(float)
    rows = got[COLUMNS[:-1]].copy()
    rankable = (rows["incidents"] >= min_count) & rows["rate_per_100_households"].notna()
    rows["rank"] = rows["rate_per_100_households"].where(rankable).rank(ascending=False, method="min")
    rows["rank"] = rows["rank"].astype("Int64")
    rows = rows.sort_values(["rank", "code"], na_position="last", kind="stable").reset_index(drop=True)

    if not with_totals:
        return Stats(level=level, rows=rows, totals={}, trend=pd.DataFrame())
    if tot is None:
        tot = conn.execute(text(f"""
            WITH {_base(where, col)}
            SELECT {_AGG}, count(*) FILTER (WHERE outside_grid) AS outside_grid FROM inc"""), params).mappings().one()
    totals = {k: (float(v) if isinstance(v, float) else v) for k, v in tot.items()}
    n = totals["incidents"]
    totals["closure_rate"] = totals["closed"] / n if n else None
    totals["resolution_rate"] = totals["resolved"] / n if n else None
    totals["min_count"] = min_count
    trend_df = trend(conn, scope, flt, tz=tz, level=level, period=period) if period else pd.DataFrame()
    return Stats(level=level, rows=rows, totals=totals, trend=trend_df)


_ZERO = ("incidents", "closed", "resolved", "closed_other", "overdue", "closed_late")


def _with_zero_units(conn: Connection, scope: Jurisdiction, level: str, area: str | None,
                     got: pd.DataFrame) -> pd.DataFrame:
    """``got`` plus a zero row for every unit of ``level`` (in scope and area) without incidents."""
    missing = sorted(set(unit_codes(conn, scope, level, area)) - set(got["code"]))
    if not missing:
        return got
    zero = pd.DataFrame({"code": missing, "name": [None] * len(missing)})
    for c in _ZERO:
        zero[c] = 0
    out = pd.concat([got, zero.reindex(columns=got.columns)], ignore_index=True) if len(got) else \
        zero.reindex(columns=got.columns)
    for c in _ZERO:
        out[c] = out[c].astype("int64")
    for c in ("closure_rate", "resolution_rate", "median_hours_to_close", "p90_hours_to_close",
              "median_hours_to_resolve"):
        out[c] = out[c].astype(float)
    return out


def trend(conn: Connection, scope: Jurisdiction, flt: IncidentFilter = IncidentFilter(), *, tz: str,
          level: str = "town", period: str = "month") -> pd.DataFrame:
    """Incidents, closures and resolutions per area and week/month of ``flt``'s incidents; a
    bucket starts at midnight in ``tz`` (IANA zone: the settings' ``timezone``)."""
    col = check_level(level, period)
    no_jit(conn)
    params: dict = {"period": period, "tz": tz}
    where = flt.where(scope, params)
    sql = f"""
    SELECT incidents.{col} AS code,
           date_trunc(:period, incidents.reported_at, :tz) AS period_start,
           count(*) AS incidents,
           count(*) FILTER (WHERE incidents.status IN {CLOSED}) AS closed,
           count(*) FILTER (WHERE incidents.status = 'resolved') AS resolved
    FROM incidents WHERE {where} AND incidents.{col} IS NOT NULL
    GROUP BY 1, 2 ORDER BY 1, 2
    """
    # tuples, not mappings: a county's ~20,000 (area, month) rows build the frame 3x faster
    return pd.DataFrame.from_records([tuple(r) for r in conn.execute(text(sql), params)],
                                     columns=["code", "period_start", "incidents", "closed", "resolved"])


HOTSPOT_LEVELS = ("grid", "h3")


def hotspots(conn: Connection, scope: Jurisdiction, flt: IncidentFilter = IncidentFilter(), *,
             level: str = "grid", resolution: int = 8, min_incidents: int = 30, fdr: bool = True):
    """Getis-Ord Gi* hotspots of the counts of ``flt``'s incidents (``geo.incidents.hotspots.gi_star``).

    ``level="grid"``: units are the current grids in scope (and in the filter's area; zeros
    included), neighbours by Queen contiguity of their polygons; ``level="h3"``: H3 cells at
    ``resolution`` holding incidents plus their empty ring-1 neighbours.  Returns ``(DataFrame,
    geometries)``: the frame indexed by unit (``count, z, p, bin, classification``; grids also
    ``name``) and a GeoSeries (EPSG:4326) of the units' shapes.
    """
    import geopandas as gpd
    import h3
    import shapely

    from geo.incidents import h3_counts, hotspots as ghs

    if level not in HOTSPOT_LEVELS:
        why = f"level must be grid or h3, not {level!r}"
        raise ValidationFailed(why, [Problem(why, field="level")])
    no_jit(conn)
    params: dict = {}
    where = flt.where(scope, params)
    if level == "grid":
        gscope = scope_condition(scope, "g", params, grid_column="code")
        garea = ""
        if flt.area is not None:
            garea = " AND (g.code = :f_area OR g.community_code = :f_area OR g.town_code = :f_area " \
                    "OR g.region_code = :f_area)"
        rows = conn.execute(text(f"""
            WITH c AS (SELECT incidents.region_code AS region, incidents.grid_code AS code, count(*) AS n
                       FROM incidents WHERE {where} AND incidents.grid_code IS NOT NULL GROUP BY 1, 2)
            SELECT g.region_code AS region, g.code, g.name, COALESCE(c.n, 0) AS n, ST_AsBinary(g.geom) AS wkb
            FROM current_grids g LEFT JOIN c ON c.region = g.region_code AND c.code = g.code
            WHERE {gscope}{garea} ORDER BY g.region_code, g.code"""), params).all()

        def one_region(rs):
            units = gpd.GeoDataFrame({"code": [r.code for r in rs]},
                                     geometry=shapely.from_wkb([bytes(r.wkb) for r in rs]), crs=4326)
            counts = pd.Series([float(r.n) for r in rs], index=pd.Index(units.code, name="code"))
            nb = ghs.queen_neighbours(units, "code") if len(units) else {}
            res = ghs.gi_star(counts, nb, min_incidents=min_incidents, fdr=fdr)
            res["name"] = pd.Series({r.code: r.name for r in rs}).reindex(res.index)
            return res, gpd.GeoSeries(units.geometry.to_numpy(), index=units.code, crs=4326)

        return _per_region(rows, one_region)
    rows = conn.execute(text(f"""
        SELECT incidents.region_code AS region,
               round(ST_X(incidents.geom)::numeric, 4)::float8 AS lon, round(ST_Y(incidents.geom)::numeric, 4)::float8 AS lat,
               count(*) AS n FROM incidents WHERE {where} GROUP BY 1, 2, 3 ORDER BY 1"""), params).all()

    def one_region(rs):
        df = h3_counts([r.lon for r in rs], [r.lat for r in rs], [float(r.n) for r in rs], resolution=resolution) \
            if rs else pd.DataFrame({"cell": [], "count": []})
        counts = ghs.h3_study_area(pd.Series(df["count"].to_numpy(), index=pd.Index(df["cell"], name="cell")))
        res = ghs.gi_star(counts, ghs.h3_neighbours(counts.index), min_incidents=min_incidents, fdr=fdr)
        geoms = [shapely.Polygon([(lng, lat) for lat, lng in h3.cell_to_boundary(c)]) for c in counts.index]
        return res, gpd.GeoSeries(geoms, index=counts.index, crs=4326)

    return _per_region(rows, one_region)


def _per_region(rows, one_region):
    """Gi* of each county on its own (its units, its mean and variance, its false-discovery
    correction), concatenated: another county's incidents never shift a county's hotspots.  A
    county too small for the analysis is left out (``res.attrs["skipped_regions"]``: code ->
    reason) unless every county is, which raises its error."""
    import geopandas as gpd

    from geo.errors import InvalidInput

    by: dict[str, list] = {}
    for r in rows:
        by.setdefault(r.region, []).append(r)
    if len(by) <= 1:
        return one_region(next(iter(by.values()), []))
    parts, skipped, first_error = [], {}, None
    for code, rs in by.items():
        try:
            parts.append(one_region(rs))
        except InvalidInput as exc:
            first_error = first_error or exc
            skipped[code] = exc.problems[0].reason if exc.problems else str(exc)
    if not parts:
        raise first_error
    res = pd.concat([p[0] for p in parts])
    res.attrs["skipped_regions"] = skipped
    return res, gpd.GeoSeries(pd.concat([p[1] for p in parts]), crs=4326)


def hotspot_frame(res: pd.DataFrame, geoms):
    """:func:`hotspots`' answer as one GeoDataFrame (EPSG:4326), a row a unit: ``unit``, ``name``
    (grids; empty for H3 cells), ``incidents``, ``z``, ``p``, ``bin``, ``classification``, geometry;
    by z descending (hot first), then unit."""
    import geopandas as gpd

    names = res["name"] if "name" in res.columns else pd.Series(None, index=res.index, dtype=object)
    out = gpd.GeoDataFrame({
        "unit": [str(u) for u in res.index],
        "name": [None if pd.isna(v) else str(v) for v in names.reindex(res.index)],
        "incidents": res["count"].astype(int).to_numpy(),
        "z": res["z"].astype(float).to_numpy(), "p": res["p"].astype(float).to_numpy(),
        "bin": res["bin"].astype(int).to_numpy(), "classification": res["classification"].astype(str).to_numpy(),
    }, geometry=list(geoms.reindex(res.index).to_numpy()), crs=4326)
    return out.sort_values(["z", "unit"], ascending=[False, True], na_position="last",
                           kind="stable").reset_index(drop=True)
