"""The question a coverage run answers and the key it is cached and stored under.

:func:`parse_kinds` and :func:`parse_breaks` read the kinds and breaks of a request or a command
(the limits are :mod:`api.limits`).  A run is keyed by :func:`params_hash` (its :class:`CoverageParams`, the caller's scope and the mode
speed) and by :func:`data_versions` (the version of every layer it reads): any write to one of
:data:`LAYERS` moves its version, so no cached or stored run of older data is found again.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from dataclasses import dataclass, replace

from sqlalchemy import Connection, text

from api.errors import ValidationFailed
from api.jurisdiction import Jurisdiction
from api.limits import MAX_BREAKS, MAX_MINUTES, breaks_help
from geo.errors import Problem
from geo.network import MODES

#: Layers a coverage result depends on.
LAYERS = ("streets", "stations", "dwellings", "grids", "areas")


def _invalid(field: str, detail: str) -> ValidationFailed:
    return ValidationFailed(detail, [Problem(detail, field=field)])


def data_versions(conn: Connection) -> dict[str, str]:
    """``{layer: "version@changed_at"}`` for the layers coverage depends on ("0" if never written).

    ``changed_at`` is part of the value so that a table emptied and refilled (its version row
    truncated with it) never repeats an earlier key.
    """
    rows = conn.execute(text("SELECT layer, version, changed_at FROM data_versions WHERE layer = ANY(:l)"),
                        {"l": list(LAYERS)}).all()
    got = {r.layer: f"{r.version}@{r.changed_at.isoformat()}" for r in rows}
    return {layer: got.get(layer, "0") for layer in LAYERS}


@dataclass(frozen=True)
class CoverageParams:
    """The question a run answers.

    Attributes
    ----------
    minutes : float
        The time budget, minutes (the service circle).
    mode : str
        ``walk``, ``bike`` or ``drive``.
    kinds : tuple of str, optional
        Station kinds that count (all when None).
    at : date, optional
        Count the stations open on this date (all stations when None).
    region : str, optional
        One 6-digit county code (all regions in scope when None).
    limit_minutes : float, optional
        Search limit, minutes (>= ``minutes``; needed for larger breaks of area polygons).
    """

    minutes: float = 8.0
    mode: str = "walk"
    kinds: tuple[str, ...] | None = None
    at: dt.date | None = None
    region: str | None = None
    limit_minutes: float | None = None

    def __post_init__(self):
        if not (isinstance(self.minutes, (int, float)) and 0 < self.minutes <= MAX_MINUTES):
            raise _invalid("minutes", f"minutes must be in (0, {MAX_MINUTES:g}]")
        if self.mode not in MODES:
            raise _invalid("mode", f"mode must be one of {', '.join(MODES)}")
        if self.limit_minutes is not None and not (self.minutes <= self.limit_minutes <= MAX_MINUTES):
            raise _invalid("breaks", f"breaks must lie between minutes and {MAX_MINUTES:g}")
        if self.region is not None and not (len(self.region) == 6 and self.region.isdigit()):
            raise _invalid("region", "region must be a 6-digit county code")
        if self.kinds is not None and not isinstance(self.kinds, tuple):
            raise TypeError("CoverageParams.kinds is a tuple of str (parse_kinds) or None")
        if self.kinds == ():
            object.__setattr__(self, "kinds", None)

    @classmethod
    def asked(cls, *, minutes: float | None, default_minutes: float, mode: str = "walk",
              kinds: str | list[str] | tuple[str, ...] | None = None, at: dt.date | None = None,
              region: str | None = None) -> "CoverageParams":
        """The question as a request or a command gives it: ``minutes`` None takes ``default_minutes``
        (the setting), ``kinds`` as text or a list (:func:`parse_kinds`), ``at`` None is today."""
        m = float(minutes if minutes is not None else default_minutes)
        return cls(minutes=m, mode=mode, kinds=parse_kinds(kinds), at=at or dt.date.today(), region=region)

    def searching_to(self, minutes: float) -> "CoverageParams":
        """The same question searched as far as ``minutes`` (the largest break), when beyond the budget."""
        return replace(self, limit_minutes=float(minutes)) if minutes > self.minutes else self

    @property
    def budget_s(self) -> float:
        return float(self.minutes) * 60.0

    @property
    def limit_s(self) -> float:
        return float(self.limit_minutes or self.minutes) * 60.0

    def as_dict(self) -> dict:
        return {"minutes": float(self.minutes), "mode": self.mode,
                "kinds": sorted(self.kinds) if self.kinds else None,
                "at": self.at.isoformat() if self.at else None, "region": self.region,
                "limit_minutes": float(self.limit_minutes or self.minutes)}


def parse_kinds(raw: str | list[str] | tuple[str, ...] | None) -> tuple[str, ...] | None:
    """Station kinds as the service takes them: a sorted tuple without repeats, None for all.

    ``raw`` is the comma-separated text of ``?kinds=`` and ``--kinds``, or a list (a JSON body)."""
    if raw is None:
        return None
    parts = raw.split(",") if isinstance(raw, str) else list(raw)
    kinds = tuple(sorted({str(k).strip() for k in parts if str(k).strip()}))
    return kinds or None


def parse_breaks(raw: str | None, minutes: float) -> tuple[float, ...]:
    """Budgets in minutes, ascending, without repeats; ``(minutes,)`` when none are given.

    Raises
    ------
    ValidationFailed
        ``field="breaks"`` unless there are 1 to :data:`api.limits.MAX_BREAKS` positive numbers up to
        :data:`api.limits.MAX_MINUTES`.
    """
    if raw is None or not raw.strip():
        return (float(minutes),)
    try:
        vals = sorted({float(x) for x in raw.split(",") if x.strip()})
    except ValueError:
        vals = []
    if not 1 <= len(vals) <= MAX_BREAKS or vals[0] <= 0 or vals[-1] > MAX_MINUTES or not all(map(math.isfinite, vals)):
        raise _invalid("breaks", f"breaks must be {breaks_help()}, positive minutes separated by commas, e.g. 5,8,15")
    return tuple(vals)


def params_hash(params: CoverageParams, scope: Jurisdiction, speed_kmh: float | None,
                max_snap_m: float | None = None) -> str:
    """SHA-256 of the parameters, the scope, the mode speed and the maximum snap distance, metres
    (the key of a stored run: every setting that changes its result is part of it)."""
    key = {**params.as_dict(), "scope": sorted(scope.codes) if scope.codes is not None else None,
           "speed_kmh": speed_kmh, "max_snap_m": max_snap_m}
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()
