"""Reading times that may come without a UTC offset.

A time written with an offset (``2025-03-01T08:30:00+08:00``, ``...Z``) is that instant.  A time
written without one (``2025-03-01 08:30``, ``2025-03-01``), as local offices' spreadsheets do, is
a wall-clock time in the configured zone, ``GRIDMAP_TIMEZONE`` (``Settings.timezone``, default
``Asia/Shanghai``), not UTC.  Used by incident intake (CSV/JSON/GeoPackage), the CLI's ``--from``
/ ``--to`` options and the incident routes' ``from`` / ``to`` query parameters.
"""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

#: A time of day followed by an offset: ``T10:00Z``, `` 10:00:00+08:00``, ``T1000+0800``.  A bare
#: date such as ``2025-01-15`` ends in digits after a minus sign but has no time, so it is naive.
_OFFSET = re.compile(r"[T ]\d{1,2}(?::?\d{2}){0,2}(?:[.,]\d+)?\s*(?:[zZ]|UTC|[+-]\d{2}(?::?\d{2})?)$")


def local_zone(tz: str | None = None) -> str:
    """``tz``, or the configured ``GRIDMAP_TIMEZONE`` when it is None."""
    if tz:
        return tz
    from api.settings import get_settings

    return get_settings().timezone


def aware(t: datetime | None, tz: str | None = None) -> datetime | None:
    """``t`` with its own offset, or read in ``tz`` (default: the configured zone) when it has none."""
    if t is None or t.tzinfo is not None:
        return t
    return t.replace(tzinfo=ZoneInfo(local_zone(tz)))


def zone_instant(t: datetime | None, tz: str | None = None) -> datetime | None:
    """``t`` (read in ``tz`` when it has no offset) as an aware datetime in the configured zone.

    Any offset Python reads is accepted (``-18:42`` too; PostgreSQL refuses offsets beyond
    ±15:59, so a filter is always sent in the zone, whose offset it reads, and a message about
    it shows the time as the office reads it).

    Raises
    ------
    ValueError
        The instant lies outside the years :data:`geo.validate.YEARS`.
    """
    from datetime import timezone

    from geo.validate import YEARS

    MIN_YEAR, MAX_YEAR = YEARS

    if t is None:
        return None
    try:
        u = aware(t, tz).astimezone(timezone.utc)
    except OverflowError:
        u = None
    if u is None or not (MIN_YEAR <= u.year <= MAX_YEAR):
        raise ValueError(f"{t.isoformat()} is outside the years {MIN_YEAR}-{MAX_YEAR}")
    return u.astimezone(ZoneInfo(local_zone(tz)))


def parse_times(raw: pd.Series, tz: str) -> tuple[pd.Series, pd.Series]:
    """Parse a column of times to UTC.

    Parameters
    ----------
    raw : Series
        Strings (ISO 8601, with or without offset), datetimes, or a datetime64 column (naive or
        aware).
    tz : str
        IANA zone of the times that carry no offset.

    Returns
    -------
    (parsed, unreadable)
        ``parsed``: ``datetime64[us, UTC]`` (NaT where missing or unreadable); ``unreadable``:
        mask of values given but not readable as a time.
    """
    given = raw.notna()
    if isinstance(raw.dtype, pd.DatetimeTZDtype):
        parsed = raw.dt.tz_convert("UTC")
    elif pd.api.types.is_datetime64_any_dtype(raw.dtype):
        parsed = _localise(raw, tz)
    else:
        s = raw.astype(str).str.strip()
        given &= s != ""
        has_offset = s.str.contains(_OFFSET) & given
        parsed = pd.Series(pd.NaT, index=raw.index, dtype="datetime64[us, UTC]")
        if has_offset.any():
            parsed[has_offset] = pd.to_datetime(s[has_offset], utc=True, errors="coerce",
                                                format="ISO8601").astype("datetime64[us, UTC]")
        naive = given & ~has_offset
        if naive.any():
            local = pd.to_datetime(s[naive], errors="coerce", format="ISO8601")
            if isinstance(local.dtype, pd.DatetimeTZDtype):  # an offset form the pattern missed
                parsed[naive] = local.dt.tz_convert("UTC").astype("datetime64[us, UTC]")
            else:
                parsed[naive] = _localise(local, tz)
    parsed = parsed.astype("datetime64[us, UTC]")
    return parsed, given & parsed.isna()


def column_times(frame: pd.DataFrame, col: str, tz: str) -> tuple[pd.Series, pd.Series]:
    """:func:`parse_times` of ``frame[col]``; all missing (none unreadable) when there is no such column."""
    if col not in frame.columns:
        empty = pd.Series(pd.NaT, index=frame.index, dtype="datetime64[us, UTC]")
        return empty, pd.Series(False, index=frame.index)
    return parse_times(frame[col], tz)


def _localise(naive: pd.Series, tz: str) -> pd.Series:
    """Naive wall-clock times in ``tz`` -> UTC; an ambiguous hour (DST ending) is read as standard
    time, a skipped one (DST starting) moved forward."""
    ambiguous = np.zeros(len(naive), dtype=bool)
    return naive.dt.tz_localize(tz, ambiguous=ambiguous, nonexistent="shift_forward") \
        .dt.tz_convert("UTC").astype("datetime64[us, UTC]")
