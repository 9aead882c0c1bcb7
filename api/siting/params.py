"""The siting question (:class:`SitingParams`): how many sites, which model, where they may go.

One object for the routes, the CLI, the jobs and the notebooks: built with :meth:`SitingParams.asked`
(the settings' default budget, kinds as text or a list), checked once in ``__post_init__`` (a
:class:`api.errors.ValidationFailed` naming the field), stored with a job as :meth:`SitingParams.as_dict`
and read back with :meth:`SitingParams.from_dict`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace

from api.coverage.params import CoverageParams, parse_kinds
from api.errors import ValidationFailed
from geo.errors import Problem

#: The models: maximal covering, set covering, p-median.
MODELS = ("mclp", "lscp", "pmedian")
#: Where candidate sites come from (a file is given as a frame, ``candidates="file"``).
CANDIDATES = ("gaps", "streets", "osm", "file")
METHODS = ("exact", "greedy")
#: Most new sites one question may ask for (the gain curve has one row per site).
MAX_K = 200
#: Most stations one question may close.
MAX_CLOSE = 200
#: p-median searches this many times the budget (pairs beyond it keep the fallback time).
PMEDIAN_LIMIT_FACTOR = 2.0


def _invalid(field: str, detail: str) -> ValidationFailed:
    return ValidationFailed(detail, [Problem(detail, field=field)])


@dataclass(frozen=True)
class SitingParams:
    """A siting question.

    Attributes
    ----------
    k : int
        New sites to open (MCLP, p-median); ignored by LSCP, which finds the fewest.
    model : {"mclp", "lscp", "pmedian"}
    minutes, mode, kinds, at, region
        The coverage question the proposal starts from (:class:`api.coverage.CoverageParams`):
        budget in minutes, travel mode, station kinds that count, the day, one county.
    area : str, optional
        A town, community or grid code: candidates only inside it (the demand stays the whole scope:
        a site near the edge also serves the neighbours).
    candidates : {"gaps", "streets", "osm", "file"}
        ``gaps``: every street node from which an uncovered household is within the budget (for
        MCLP and LSCP with the stations kept this loses nothing: any other node adds nobody);
        ``streets``: every street node; ``osm``: stored stations of an ``osm_*`` kind that do not
        count (amenities from ``gridmap import osm``); ``file``: points the caller gives.
    target : float, optional
        LSCP: share of households (0-1) to reach (default every household a candidate can reach).
    close : int
        Existing stations to close (chosen by the model, least loss first); 0 keeps them all.
    method : {"exact", "greedy"}
        Exact (HiGHS, with a certified gap) or the greedy preview.
    time_limit_s : float
        Solver time limit, seconds.
    curve : bool
        Also the marginal-gain curve for 1..k sites (MCLP).
    """

    k: int = 1
    model: str = "mclp"
    minutes: float = 8.0
    mode: str = "walk"
    kinds: tuple[str, ...] | None = None
    at: dt.date | None = None
    region: str | None = None
    area: str | None = None
    candidates: str = "gaps"
    target: float | None = None
    close: int = 0
    method: str = "exact"
    time_limit_s: float = 60.0
    curve: bool = True

    def __post_init__(self):
        if self.model not in MODELS:
            raise _invalid("model", f"model must be one of {', '.join(MODELS)}")
        if self.candidates not in CANDIDATES:
            raise _invalid("candidates", f"candidates must be one of {', '.join(CANDIDATES)} (or a file)")
        if self.method not in METHODS:
            raise _invalid("method", f"method must be one of {', '.join(METHODS)}")
        if isinstance(self.k, bool) or not isinstance(self.k, int) or not 0 <= self.k <= MAX_K:
            raise _invalid("k", f"k (sites to add) must be a whole number from 0 to {MAX_K}")
        if isinstance(self.close, bool) or not isinstance(self.close, int) or not 0 <= self.close <= MAX_CLOSE:
            raise _invalid("close", f"close must be a whole number from 0 to {MAX_CLOSE}")
        if self.model == "mclp" and self.k == 0 and self.close == 0:
            raise _invalid("k", "add at least one site (k >= 1), or close some (close >= 1)")
        if self.model == "pmedian" and self.k == 0:
            raise _invalid("k", "p-median needs k >= 1 new sites")
        if self.model != "mclp" and self.close:
            raise _invalid("close", "closing stations is a maximal-covering (mclp) question")
        if self.target is not None and not (self.model == "lscp" and 0 < float(self.target) <= 1):
            raise _invalid("target", "target is a share of households between 0 and 1, for lscp")
        if not (0 < float(self.time_limit_s) <= 3600):
            raise _invalid("time_limit_s", "time_limit_s must be between 0 and 3600 seconds")
        if self.area is not None and not str(self.area).strip():
            raise _invalid("area", "area must be a town, community or grid code")
        self.coverage  # checks minutes, mode, kinds, region

    @classmethod
    def asked(cls, *, default_minutes: float, minutes: float | None = None, kinds=None, at: dt.date | None = None,
              **kw) -> "SitingParams":
        """The question as a request or a command gives it (``minutes`` None: the setting; ``kinds`` as
        text or a list; ``at`` None: today)."""
        m = float(minutes if minutes is not None else default_minutes)
        return cls(minutes=m, kinds=parse_kinds(kinds), at=at or dt.date.today(), **kw)

    @property
    def coverage(self) -> CoverageParams:
        """The coverage question the proposal starts from."""
        return CoverageParams(minutes=float(self.minutes), mode=self.mode, kinds=self.kinds, at=self.at,
                              region=self.region)

    @property
    def budget_s(self) -> float:
        return float(self.minutes) * 60.0

    @property
    def limit_s(self) -> float:
        """Search limit of the siting matrix, seconds (p-median looks beyond the budget)."""
        return self.budget_s * (PMEDIAN_LIMIT_FACTOR if self.model == "pmedian" else 1.0)

    def with_(self, **kw) -> "SitingParams":
        return replace(self, **kw)

    def as_dict(self) -> dict:
        return {"k": self.k, "model": self.model, "minutes": float(self.minutes), "mode": self.mode,
                "kinds": sorted(self.kinds) if self.kinds else None, "at": self.at.isoformat() if self.at else None,
                "region": self.region, "area": self.area, "candidates": self.candidates, "target": self.target,
                "close": self.close, "method": self.method, "time_limit_s": float(self.time_limit_s),
                "curve": self.curve}

    @classmethod
    def from_dict(cls, d: dict) -> "SitingParams":
        d = dict(d)
        if d.get("at"):
            d["at"] = dt.date.fromisoformat(d["at"])
        if d.get("kinds") is not None:
            d["kinds"] = tuple(d["kinds"]) or None
        return cls(**d)
