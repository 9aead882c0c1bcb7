"""Editing a draft: the live partitions (one per plan and community, kept in memory per app) and
the moves and locks that change them.

Auto-balance (:func:`balance_plan`) runs the engine on the draft itself
(:func:`geo.zoning.rebalance`: the plan's locked grids, and the grids not chosen, stay as they are)
and stores the result as a new draft beside it: the proposal, accepted by opening it (and
discarding the old draft) or discarded.

A grid that had micro-grids gets them redrawn after a move changed it (:func:`geo.zoning.micro_grids`
on the community's dwellings and streets, read once per plan).

A move is checked by :meth:`geo.zoning.Partition.move` (refused when it would split a grid, give
it a detached piece, empty it, or touch a locked grid, unless the split is allowed), then the units
and the changed grids are saved in the move's transaction.  :class:`LivePlans` keeps the
partitions between requests (``app.state.plans``) and rebuilds one from the database when it is
missing; a move whose transaction fails drops the plan's partitions, so memory never runs ahead of
the database.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from sqlalchemy import Connection, Engine, select, text

from api.db import idempotency
from api.db.models import plan_grids
from api.errors import MoveRefused, PlanClosed, ValidationFailed
from api.jurisdiction import Jurisdiction
from api.db import plans as store
from geo.errors import Problem

__all__ = ["LivePlans", "move_units", "lock_grids", "balance_plan", "split_grid"]


class LivePlans:
    """Live partitions by ``(plan id, community code)``, the ``max_plans`` most recently used plans."""

    def __init__(self, max_plans: int = 16):
        self.max_plans = max_plans
        self._parts: OrderedDict = OrderedDict()
        self._micro: dict = {}
        self._lock = threading.RLock()

    def get(self, conn: Connection, row, community_code: str):
        """The partition of ``community_code`` in plan ``row`` (rebuilt from the database when it is
        missing, or when the plan changed elsewhere: its ``updated_at`` is not the one this app's
        last edit left)."""
        with self._lock:
            entry = self._parts.get(row.id)
            if entry is not None and entry["stamp"] != row.updated_at:
                entry = None
                self._parts.pop(row.id, None)  # edited by another process (the CLI, another server)
            if entry is not None and community_code in entry["parts"]:
                self._parts.move_to_end(row.id)
                return entry["parts"][community_code]
        p = store.rebuild_partition(conn, row, community_code)
        with self._lock:
            entry = self._parts.setdefault(row.id, {"stamp": row.updated_at, "parts": {}})
            entry["parts"][community_code] = p
            self._parts.move_to_end(row.id)
            while len(self._parts) > self.max_plans:
                self._parts.popitem(last=False)
        return p

    def micro_inputs(self, conn: Connection, row, community_code: str, crs):
        """The community's streets and dwellings in ``crs`` (metric) for redrawing micro-grids:
        ``(lines, xy, households, ids)``, read once per plan and community."""
        k = (row.id, community_code)
        with self._lock:
            hit = self._micro.get(k)
        if hit is not None:
            return hit
        import shapely

        from api.plans.inputs import read_inputs
        from geo.zoning.units import to_metric_geoms

        inp = read_inputs(conn, row.region_code, [community_code])
        lines = to_metric_geoms(inp.streets.geometry.to_numpy(), crs)
        pts = to_metric_geoms(inp.dwellings.geometry.to_numpy(), crs)
        out = (lines, shapely.get_coordinates(pts).reshape(-1, 2), inp.dwellings["households"].to_numpy().astype("int64"),
               inp.dwellings["source_id"].to_numpy().astype(object))
        with self._lock:
            self._micro[k] = out
            while len(self._micro) > self.max_plans:
                self._micro.pop(next(iter(self._micro)))
        return out

    def stamp(self, plan_id: int, updated_at) -> None:
        """Record the plan's ``updated_at`` after this app's edit (its partitions are up to date)."""
        with self._lock:
            if plan_id in self._parts:
                self._parts[plan_id]["stamp"] = updated_at

    def drop(self, plan_id: int) -> None:
        with self._lock:
            self._parts.pop(plan_id, None)
            for k in [k for k in self._micro if k[0] == plan_id]:
                self._micro.pop(k)

    def lock(self):
        """The lock serialising moves (a partition is not safe for concurrent moves)."""
        return self._lock


def _draft(conn: Connection, plan_id: int, scope: Jurisdiction):
    row = store.plan_row(conn, plan_id, scope, lock=True)
    if row.status != "draft":
        raise PlanClosed(f"Plan {plan_id} is {row.status}; only a draft can change.")
    return row


def _community_of(conn: Connection, row, code: str, field: str) -> str:
    comm = conn.execute(select(plan_grids.c.community_code).where(
        plan_grids.c.region_code == row.region_code, plan_grids.c.plan_id == row.id,
        plan_grids.c.code == code)).scalar_one_or_none()
    if comm is None:
        raise ValidationFailed(f"Plan {row.id} has no grid {code!r}.", [Problem(f"no grid {code!r} in this plan",
                                                                               field=field)])
    return comm


def move_units(engine: Engine, live: LivePlans, scope: Jurisdiction, plan_id: int, units, to: str, *,
               allow_split: bool = False, key: str | None = None, path: str = "", body: object = None
               ) -> tuple[int, dict, bool]:
    """Move ``units`` (unit ids of the community of grid ``to``) into grid ``to``.

    Returns ``(status, answer, replayed)``; the answer is ``moved`` (unit ids), ``grids`` (each
    changed grid's ``label``, ``households``, ``status``, ``contiguous``, ``polsby_popper``,
    ``units``) and ``community_code`` (the plan's totals follow in its summary).

    Raises
    ------
    api.errors.MoveRefused
        The move would split a grid (unless ``allow_split``), detach a piece, empty a grid or touch
        a locked one; ``unit`` and ``grid`` name them (409).
    api.errors.ValidationFailed
        An unknown unit or grid (422 naming ``units`` / ``to``).
    """
    from geo.zoning import MoveRefused as EngineRefused

    ids = [units] if isinstance(units, str) else list(units or [])
    if not ids or not all(isinstance(u, str) and u for u in ids):
        raise ValidationFailed("Name at least one unit.", [Problem("a list of unit ids", field="units")])
    body = body if body is not None else {"units": ids, "to": to, "allow_split": allow_split}
    try:
        with engine.begin() as conn, live.lock():
            replay = idempotency.begin(conn, key, "POST", path, body)
            if replay:
                return replay.status_code, replay.body, True
            row = _draft(conn, plan_id, scope)
            comm = _community_of(conn, row, to, "to")
            p = live.get(conn, row, comm)
            try:
                res = p.move(ids, to, allow_split=allow_split)
            except EngineRefused as exc:
                if exc.code == "unknown_unit":
                    raise ValidationFailed(f"Community {comm} of plan {plan_id} has no unit {exc.unit!r}.",
                                           [Problem(str(exc), field="units")]) from None
                raise _refused(exc) from None
            changed = [p.grid_index(g.label) for g in res.grids]
            had_micro = store.grids_with_micro(conn, row.region_code, row.id, [g.label for g in res.grids])
            store.save_units(conn, row.region_code, row.id, comm, res.moved, to)
            store.save_grids(conn, row.region_code, row.id, comm, p, changed)
            if had_micro:  # the changed grids' micro-grids are redrawn by the engine
                from geo.zoning import micro_grids

                redraw = [lab for lab in had_micro if len(p.members(p.grid_index(lab)))]
                if redraw:
                    lines, xy, hh, ids = live.micro_inputs(conn, row, comm, p.units.crs)
                    store.save_micro(conn, row.region_code, row.id,
                                     micro_grids(p, lines, xy, hh, ids, community=comm, grids=redraw))
            live.stamp(row.id, store.touch(conn, row.region_code, row.id))
            answer = store.jsonable({"plan": int(row.id), "community_code": comm, **res.as_dict()})
            idempotency.save(conn, key, "POST", path, body, 200, answer)
    except Exception as exc:
        if not isinstance(exc, (ValidationFailed, PlanClosed, MoveRefused)):
            live.drop(plan_id)  # the database did not take the move: rebuild from it next time
        raise
    return 200, answer, False


def lock_grids(engine: Engine, live: LivePlans, scope: Jurisdiction, plan_id: int, grids, *, locked: bool = True,
               key: str | None = None, path: str = "", body: object = None) -> tuple[int, dict, bool]:
    """Lock (or unlock) grids of a draft: a locked grid neither gives nor takes units."""
    codes = [grids] if isinstance(grids, str) else list(grids or [])
    if not codes:
        raise ValidationFailed("Name at least one grid.", [Problem("a list of grid codes", field="grids")])
    body = body if body is not None else {"grids": codes, "locked": locked}
    with engine.begin() as conn, live.lock():
        replay = idempotency.begin(conn, key, "POST", path, body)
        if replay:
            return replay.status_code, replay.body, True
        row = _draft(conn, plan_id, scope)
        comms = {c: _community_of(conn, row, c, "grids") for c in codes}
        parts = {code: live.get(conn, row, comm) for code, comm in comms.items()}
        store.set_locked(conn, row.region_code, row.id, codes, locked)
        live.stamp(row.id, store.touch(conn, row.region_code, row.id))
        for code, p in parts.items():
            g = p.grid_index(code)
            (p.locked.add if locked else p.locked.discard)(g)
        answer = {"plan": int(row.id), "grids": codes, "locked": locked}
        idempotency.save(conn, key, "POST", path, body, 200, answer)
    return 200, answer, False


def balance_plan(engine: Engine, live: LivePlans, scope: Jurisdiction, plan_id: int, grids=None, *,
                 author: str | None = None, key: str | None = None, path: str = "", body: object = None
                 ) -> tuple[int, dict, bool]:
    """Auto-balance a draft: a new draft (the proposal) in which the grids ``grids`` (default:
    every unlocked grid of every community of the plan) are redrawn by the engine; the plan's
    locked grids and the grids not named stay exactly as they are, the draft is not changed.

    Returns ``(201, answer, replayed)``: the proposal's summary (:func:`api.plans.answers.summary`)
    with ``source`` (this plan's id) and ``grids`` (the labels redrawn).

    Raises
    ------
    api.errors.ValidationFailed
        A grid the plan does not have (422 naming ``grids``).
    """
    from geo.zoning import CommunityPlan, CountyPlan, rebalance

    from api.plans.answers import summary

    codes = None if grids is None else ([grids] if isinstance(grids, str) else list(grids))
    if codes is not None and (not codes or not all(isinstance(c, str) and c for c in codes)):
        raise ValidationFailed("Name at least one grid, or none to balance them all.",
                               [Problem("a list of grid codes", field="grids")])
    body = body if body is not None else {"grids": codes}
    with engine.begin() as conn, live.lock():
        replay = idempotency.begin(conn, key, "POST", path, body)
        if replay:
            return replay.status_code, replay.body, True
        row = _draft(conn, plan_id, scope)
        chosen: dict[str, list[str]] = {}
        if codes is not None:
            for c in codes:
                chosen.setdefault(_community_of(conn, row, c, "grids"), []).append(c)
        params = store.zoning_params(row)
        comms = {}
        for comm in row.community_codes:
            p = live.get(conn, row, comm)
            if codes is None or comm in chosen:
                comms[comm] = rebalance(p, params, code=comm, grids=chosen.get(comm))
            else:  # not touched: copied as it is
                comms[comm] = CommunityPlan(comm, p)
        locked = {lab for c in comms.values() for lab in (c.partition.labels[g] for g in c.partition.locked)}
        pid = store.insert_plan(conn, region_code=row.region_code, communities=list(row.community_codes),
                                params=row.params, author=author or row.author, crs=row.crs, base=row.base)
        for comm in row.community_codes:
            store.write_community(conn, row.region_code, pid, comms[comm], locked)
        store.copy_home_codes(conn, row.region_code, row.id, pid)
        county = CountyPlan(comms, params)
        store.touch(conn, row.region_code, pid, metrics=store.jsonable(county.metrics()),
                    reasons=[store.jsonable(r.as_dict()) for r in county.reasons()])
        answer = store.jsonable({**summary(conn, store.plan_row(conn, pid, scope)), "source": int(row.id),
                                 "grids": None if codes is None else sorted(codes)})
        idempotency.save(conn, key, "POST", path, body, 201, answer)
    return 201, answer, False


def _refused(exc) -> MoveRefused:
    """The API's 409 for an edit the engine refused (:class:`geo.zoning.MoveRefused`): its message,
    unit, grid and reason code."""
    return MoveRefused(str(exc), unit=exc.unit, grid=exc.grid, reason=exc.code)


def _next_label(conn: Connection, row, community_code: str, taken) -> str:
    """A grid code for a new grid of the community: ``{community}-NN`` after the highest number
    used by the plan or by any version of the community's stored grids (a code names one grid)."""
    import re

    stored = conn.execute(text("SELECT DISTINCT code FROM grids WHERE region_code = :r AND community_code = :c"),
                          {"r": row.region_code, "c": community_code}).scalars().all()
    nums = [int(m.group(1)) for c in [*taken, *stored]
            if (m := re.fullmatch(re.escape(community_code) + r"-(\d+)", str(c)))]
    return f"{community_code}-{max(nums, default=0) + 1:02d}"


def split_grid(engine: Engine, live: LivePlans, scope: Jurisdiction, plan_id: int, grid: str, line, *,
               allow_split: bool = False, key: str | None = None, path: str = "", body: object = None
               ) -> tuple[int, dict, bool]:
    """Split grid ``grid`` of a draft in two along ``line`` (GeoJSON LineString coordinates,
    lon/lat): :meth:`geo.zoning.Partition.split`; the lighter side becomes a new grid.

    Returns ``(200, answer, replayed)``: ``grid`` (the new grid's code), ``moved`` (its units) and
    ``grids`` (both grids' states), like a move's answer.

    Raises
    ------
    api.errors.MoveRefused
        The line does not cut the grid in two (``line_misses``), cuts it into more pieces
        (``line_crosses_twice``), the grid is locked, or a side is not one piece (409).
    api.errors.ValidationFailed
        Not a line of at least two lon/lat points, or an unknown grid (422).
    """
    import shapely
    import shapely.errors

    from geo.zoning import MoveRefused as EngineRefused
    from geo.zoning.units import to_metric_geoms

    coords = line.get("coordinates") if isinstance(line, dict) else line
    try:
        pts = [(float(x), float(y)) for x, y in coords]
        ok = len(pts) >= 2 and all(-180 <= x <= 180 and -90 <= y <= 90 for x, y in pts)
        geom = shapely.LineString(pts) if ok else None
        ok = ok and geom.length > 0
    except (TypeError, ValueError, shapely.errors.GEOSException):
        ok = False
    if not ok:
        raise ValidationFailed("The line must be at least two distinct [lon, lat] points.",
                               [Problem("a GeoJSON LineString (lon/lat)", field="line")])
    body = body if body is not None else {"grid": grid, "line": coords, "allow_split": allow_split}
    try:
        with engine.begin() as conn, live.lock():
            replay = idempotency.begin(conn, key, "POST", path, body)
            if replay:
                return replay.status_code, replay.body, True
            row = _draft(conn, plan_id, scope)
            comm = _community_of(conn, row, grid, "grid")
            p = live.get(conn, row, comm)
            new = _next_label(conn, row, comm, p.labels)
            try:
                res = p.split(grid, to_metric_geoms([geom], p.units.crs)[0], new, allow_split=allow_split)
            except EngineRefused as exc:
                raise _refused(exc) from None
            store.save_units(conn, row.region_code, row.id, comm, res.moved, new)
            store.save_grids(conn, row.region_code, row.id, comm, p, [p.grid_index(new)], new=True)
            store.save_grids(conn, row.region_code, row.id, comm, p, [p.grid_index(grid)])
            live.stamp(row.id, store.touch(conn, row.region_code, row.id))
            answer = store.jsonable({"plan": int(row.id), "community_code": comm, "grid": new, **res.as_dict()})
            idempotency.save(conn, key, "POST", path, body, 200, answer)
    except Exception as exc:
        if not isinstance(exc, (ValidationFailed, PlanClosed, MoveRefused)):
            live.drop(plan_id)  # the database did not take the split: rebuild from it next time
        raise
    return 200, answer, False


def merge_grid(engine: Engine, live: LivePlans, scope: Jurisdiction, plan_id: int, grid: str, into: str, *,
               allow_split: bool = False, key: str | None = None, path: str = "", body: object = None
               ) -> tuple[int, dict, bool]:
    """Merge grid ``grid`` of a draft into grid ``into`` (:meth:`geo.zoning.Partition.merge`; the
    workbench's undo of a split): ``grid``'s units join ``into`` and ``grid`` leaves the plan.

    Returns ``(200, answer, replayed)``: ``grid`` (the grid removed), ``into``, ``moved`` (the units
    that joined it) and ``grids`` (its state), like a move's answer.

    Raises
    ------
    api.errors.MoveRefused
        Either grid is locked, or, unless ``allow_split``, the two do not touch (``detached``, 409).
    api.errors.ValidationFailed
        An unknown grid, or grids of different communities (422).
    """
    from geo.zoning import MoveRefused as EngineRefused

    body = body if body is not None else {"grid": grid, "into": into, "allow_split": allow_split}
    try:
        with engine.begin() as conn, live.lock():
            replay = idempotency.begin(conn, key, "POST", path, body)
            if replay:
                return replay.status_code, replay.body, True
            row = _draft(conn, plan_id, scope)
            comm = _community_of(conn, row, grid, "grid")
            if _community_of(conn, row, into, "into") != comm:
                raise ValidationFailed(f"Grids {grid} and {into} are in different communities.",
                                       [Problem("a grid of the same community", field="into")])
            p = live.get(conn, row, comm)
            try:
                res = p.merge(grid, into, allow_split=allow_split)
            except EngineRefused as exc:
                raise _refused(exc) from None
            store.save_units(conn, row.region_code, row.id, comm, res.moved, into)
            store.save_grids(conn, row.region_code, row.id, comm, p, [p.grid_index(into)])
            store.delete_grid(conn, row.region_code, row.id, grid)
            store.touch(conn, row.region_code, row.id)
            answer = store.jsonable({"plan": int(row.id), "community_code": comm, "grid": grid, "into": into,
                                     **res.as_dict()})
            idempotency.save(conn, key, "POST", path, body, 200, answer)
    finally:
        live.drop(plan_id)  # the partition still holds the emptied grid: rebuilt from the database next time
    return 200, answer, False
