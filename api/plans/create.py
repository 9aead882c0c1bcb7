"""Making a plan: redraw communities with :func:`geo.zoning.solve_county` and store the drafts.

One plan per region: the communities a request names (one community, a town's, or all in scope)
are grouped by their region, each group read in one snapshot (its inputs and the base fingerprint
agree), solved (communities in parallel worker processes, ``GRIDMAP_PLAN_WORKERS``), then written
in one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from sqlalchemy import Engine

from api.db import idempotency
from api.errors import NotFound, ValidationFailed
from api.jurisdiction import Jurisdiction
from api.db import plans as store
from api.plans.inputs import community_codes, fingerprint, read_inputs
from api.settings import Settings
from geo.errors import Problem

__all__ = ["PlanSpec", "create_plans", "targets"]


@dataclass(frozen=True)
class PlanSpec:
    """What to redraw and how: exactly one of ``community``, ``town``, ``all``; engine parameters.

    ``lock``: codes of current grids that must not change.  ``n_grids``: grids per community
    (default derived from the households).  ``micro``: also draw micro-grids (10-30 households,
    :data:`geo.zoning.MICRO_PARAMS`) inside each grid.
    """

    community: str | None = None
    town: str | None = None
    all: bool = False
    target: int = 300
    band: float = 0.15
    min_households: int | None = None
    max_households: int | None = None
    n_grids: int | None = None
    stay_close: bool = False
    lock: tuple[str, ...] = field(default_factory=tuple)
    seed_method: str = "metis"
    micro: bool = False
    author: str = "system"

    @classmethod
    def from_dict(cls, body: dict) -> "PlanSpec":
        """From a request body; unknown members are refused (422 naming them)."""
        if not isinstance(body, dict):
            raise ValidationFailed("The body must be a JSON object.", [Problem("expected an object", field="body")])
        known = cls.__dataclass_fields__
        wrong = [k for k in body if k not in known]
        if wrong:
            raise ValidationFailed(f"Unknown members: {', '.join(wrong)}.",
                                   [Problem(f"not one of {', '.join(known)}", field=k) for k in wrong])
        vals = dict(body)
        if "lock" in vals:
            lock = vals["lock"]
            vals["lock"] = tuple(x.strip() for x in (lock.split(",") if isinstance(lock, str) else lock or ()) if x.strip())
        return cls(**vals)

    def zoning(self):
        from geo.zoning import ZoningParams

        return ZoningParams(target_households=self.target, band=self.band, min_households=self.min_households,
                            max_households=self.max_households, n_grids=self.n_grids, locked=self.lock,
                            stay_close=self.stay_close, seed_method=self.seed_method)


def targets(conn, scope: Jurisdiction, spec: PlanSpec) -> dict[str, list[str]]:
    """The communities ``spec`` names in ``scope``, by region: ``{region_code: [code, ...]}``.

    Raises
    ------
    ValidationFailed
        Not exactly one of community, town, all.
    NotFound
        No community with a boundary there.
    """
    chosen = [x for x in (spec.community, spec.town) if x] + (["all"] if spec.all else [])
    if len(chosen) != 1:
        raise ValidationFailed("Name exactly one of community, town or all.",
                               [Problem("give exactly one of community, town, all", field="community")])
    pairs = community_codes(conn, scope, community=spec.community, town=spec.town)
    if not pairs:
        what = f"community {spec.community}" if spec.community else f"town {spec.town}" if spec.town else "scope"
        raise NotFound(f"No community with a boundary in {what} (import the areas first).")
    out: dict[str, list[str]] = {}
    for region, code in pairs:
        out.setdefault(region, []).append(code)
    return out


def _cut_lines(inp, locked) -> "gpd.GeoDataFrame":
    """The streets, plus the outlines of the locked grids: units are cut along them too, so a
    locked grid is exactly a union of units and stays as it is (its outline then counts as a cut
    along a street in the metrics)."""
    import geopandas as gpd
    import pandas as pd

    if not locked:
        return inp.streets
    lk = inp.grids[inp.grids["code"].astype(str).isin(set(locked))]
    lines = gpd.GeoDataFrame({"source_id": [f"lock:{c}" for c in lk["code"]], "road_class": "grid_boundary"},
                             geometry=lk.geometry.boundary.to_numpy(), crs=inp.streets.crs or 4326)
    return pd.concat([inp.streets, lines.explode(index_parts=False)], ignore_index=True)


def create_plans(engine: Engine, settings: Settings, scope: Jurisdiction, spec: PlanSpec, *,
                 key: str | None = None, path: str = "/plans", body: object = None,
                 progress: Callable[[str, int, int], None] | None = None,
                 timings: dict | None = None) -> tuple[int, object, bool]:
    """Redraw and store; returns ``(status, answer, replayed)``.

    The answer is ``{"plans": [summary, ...]}`` (one summary a region, :func:`api.plans.answers.summary`).
    With ``key`` (``Idempotency-Key``) a retry returns the stored answer and redraws nothing.
    ``progress(region, done, total)`` is called after each community.  ``timings``, when given, gets
    the seconds spent reading the inputs (``read_s``), in the engine (``solve_s``) and writing the
    plans (``write_s``): the benchmark prints them.
    """
    import time

    from geo.zoning import solve_county

    from api.plans.answers import summary

    body = body if body is not None else spec.__dict__
    params = spec.zoning()  # 422 on bad parameters before anything runs
    if key is not None:
        with engine.begin() as conn:
            replay = idempotency.begin(conn, key, "POST", path, body)
            if replay:
                return replay.status_code, replay.body, True
    clock = {"t": time.perf_counter()}

    def lap(name):
        now = time.perf_counter()
        if timings is not None:
            timings[name] = timings.get(name, 0.0) + now - clock["t"]
        clock["t"] = now

    with engine.connect().execution_options(isolation_level="REPEATABLE READ") as conn:
        with conn.begin():
            named = targets(conn, scope, spec)
            read = {r: (read_inputs(conn, r, codes), fingerprint(conn, r, codes)) for r, codes in named.items()}
    lap("read_s")
    known = {c for inp, _ in read.values() for c in inp.grids["code"].astype(str)}
    unknown = [c for c in params.locked if c not in known]
    if unknown:
        raise ValidationFailed(f"Locked grids must be current grids of the communities redrawn: {', '.join(unknown)}.",
                               [Problem(f"{c!r} is not a current grid of these communities", field="lock")
                                for c in unknown])
    solved = {}
    for region, (inp, base) in read.items():
        cb = (lambda d, t, r=region: progress(r, d, t)) if progress else None
        county = solve_county(inp.areas.assign(level="community"), _cut_lines(inp, params.locked), inp.dwellings,
                              inp.grids if len(inp.grids) else None, params=params, workers=settings.plan_workers,
                              progress=cb, micro=spec.micro or None)
        solved[region] = (county, base)
    lap("solve_s")
    with engine.begin() as conn:
        if key is not None:
            replay = idempotency.begin(conn, key, "POST", path, body)
            if replay:
                return replay.status_code, replay.body, True
        ids = []
        for region, (county, base) in solved.items():
            first = next(iter(county.communities.values()))
            crs = first.units.crs.to_wkt()
            pid = store.insert_plan(conn, region_code=region, communities=sorted(county.communities),
                                    params=store.jsonable(params.as_dict()), author=spec.author, crs=crs, base=base)
            store.write_communities(conn, region, pid, [county.communities[c] for c in sorted(county.communities)],
                                    set(params.locked))
            store.touch(conn, region, pid, metrics=store.jsonable(county.metrics()),
                        reasons=[store.jsonable(r.as_dict()) for r in county.reasons()])
            ids.append((region, pid))
        answer = {"plans": [summary(conn, store.plan_row(conn, pid, scope)) for _, pid in ids]}
        answer = store.jsonable(answer)
        idempotency.save(conn, key, "POST", path, body, 201, answer)
    lap("write_s")
    return 201, answer, False
