"""The question a coverage run answers and the key it is cached and stored under.

A run is keyed by :func:`params_hash` (its :class:`CoverageParams`, the caller's scope and the mode
speed) and by :func:`data_versions` (the version of every layer it reads): any write to one of
:data:`LAYERS` moves its version, so no cached or stored run of older data is found again.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass

from sqlalchemy import Connection, text

from api.errors import ValidationFailed
from api.jurisdiction import Jurisdiction
from geo.network import MODES

#: Layers a coverage result depends on.
LAYERS = ("streets", "stations", "dwellings", "grids", "areas")
MAX_MINUTES = 120.0


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
            raise ValidationFailed(f"minutes must be in (0, {MAX_MINUTES:g}]")
        if self.mode not in MODES:
            raise ValidationFailed(f"mode must be one of {', '.join(MODES)}")
        if self.limit_minutes is not None and not (self.minutes <= self.limit_minutes <= MAX_MINUTES):
            raise ValidationFailed(f"breaks must lie between minutes and {MAX_MINUTES:g}")
        if self.region is not None and not (len(self.region) == 6 and self.region.isdigit()):
            raise ValidationFailed("region must be a 6-digit county code")

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


def params_hash(params: CoverageParams, scope: Jurisdiction, speed_kmh: float | None,
                max_snap_m: float | None = None) -> str:
    """SHA-256 of the parameters, the scope, the mode speed and the maximum snap distance, metres
    (the key of a stored run: every setting that changes its result is part of it)."""
    key = {**params.as_dict(), "scope": sorted(scope.codes) if scope.codes is not None else None,
           "speed_kmh": speed_kmh, "max_snap_m": max_snap_m}
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()
