"""geo.zoning.rebalance: auto-balance of a draft (all its free grids, or the chosen ones only),
checked on a lattice against networkx (contiguity) and plain counts."""

from __future__ import annotations

import networkx as nx
import numpy as np

from geo.zoning import Partition, ZoningParams, rebalance

from tests.support.zoning_cases import lattice_units

ROWS, COLS = 6, 8
PARAMS = ZoningParams(target_households=300, band=0.15)


def _draft(locked=()):
    """Four grids by columns: 0-1 (600 households), 2 (300), 3 (300), 4-7 (1,200)."""
    _, units = lattice_units(ROWS, COLS, np.full(ROWS * COLS, 50))
    # each unit's column, read from its centre
    xs = units.xy[:, 0]
    col = np.floor((xs - xs.min()) / 100.0 + 1e-6).astype(int)
    a = np.select([col <= 1, col == 2, col == 3], [0, 1, 2], 3)
    labels = ["C-01", "C-02", "C-03", "C-04"]
    home = a.copy()
    return Partition(units, a, labels, PARAMS.bounds, locked=locked, home=home)


def _contiguous(p, g):
    nb = p.graph.lists()[0]
    members = set(np.flatnonzero(p.assignment == g).tolist())
    G = nx.Graph()
    G.add_nodes_from(members)
    G.add_edges_from((u, v) for u in members for v in nb[u] if v in members)
    return nx.is_connected(G)


def _by_label(p):
    return {p.labels[g]: set(p.units.ids[p.assignment == g].tolist()) for g in range(len(p.labels))}


def test_rebalance_only_the_chosen_grids():
    p = _draft()
    before = _by_label(p)
    plan = rebalance(p, PARAMS, code="C", grids=["C-01"])
    q = plan.partition
    after = _by_label(q)
    for lab in ("C-02", "C-03", "C-04"):  # not chosen: exactly as they were
        assert after[lab] == before[lab]
    new = [lab for lab in after if lab not in ("C-02", "C-03", "C-04")]
    assert len(new) == 2 and set().union(*(after[x] for x in new)) == before["C-01"]
    lo, hi = PARAMS.bounds
    hh = dict(zip(q.units.ids.tolist(), q.units.households.tolist()))
    for lab in new:
        assert lo <= sum(hh[u] for u in after[lab]) <= hi
        assert _contiguous(q, q.labels.index(lab))
    # households moved still count against the published grids (the draft's home)
    moved = int(q.moved_households().sum())
    assert moved == sum(hh[u] for lab in new if lab != "C-01" for u in after[lab])


def test_rebalance_keeps_locked_grids():
    p = _draft(locked=["C-03"])
    before = _by_label(p)
    plan = rebalance(p, PARAMS, code="C")
    q = plan.partition
    after = _by_label(q)
    assert after["C-03"] == before["C-03"] and q.labels.index("C-03") in q.locked
    lo, hi = PARAMS.bounds
    hh = q.households
    assert all(lo <= hh[g] <= hi for g in range(len(q.labels)))
    assert all(_contiguous(q, g) for g in range(len(q.labels)))
    assert sum(hh) == 50 * ROWS * COLS and len(q.labels) == 8


def test_split_along_a_line_follows_the_units():
    """A line drawn across a grid (not on a street) splits it along the unit boundaries nearest it."""
    import shapely
    import pytest

    from geo.zoning import MoveRefused

    from tests.support.zoning_cases import X0, Y0

    _, units = lattice_units(2, 4, [10, 20, 30, 40, 50, 60, 70, 80])
    p = Partition(units, np.zeros(8, np.int64), ["C-01"], (1, 1000))
    xs = units.xy[:, 0]
    # a slanted line near x = 200 m: the two west columns on one side, the east ones on the other
    res = p.split("C-01", shapely.LineString([(X0 + 190, Y0 - 10), (X0 + 215, Y0 + 210)]), "C-02")
    west = set(units.ids[xs < X0 + 200].tolist())
    east = set(units.ids[xs > X0 + 200].tolist())
    moved = set(res.moved)
    assert moved in (west, east)
    hh = dict(zip(units.ids.tolist(), units.households.tolist()))
    assert sum(hh[u] for u in moved) == min(sum(hh[u] for u in west), sum(hh[u] for u in east))  # the lighter side
    assert [g.label for g in res.grids] == ["C-01", "C-02"] and all(g.contiguous for g in res.grids)
    assert sum(g.households for g in res.grids) == 360
    # a line that stays inside one unit, or misses, changes nothing
    with pytest.raises(MoveRefused) as e:
        p.split("C-01", shapely.LineString([(X0 + 10, Y0 + 10), (X0 + 20, Y0 + 20)]), "C-03")
    assert e.value.code == "line_misses" and p.labels == ["C-01", "C-02"]
    # a zigzag through the east grid cuts it into three pieces
    zig = shapely.LineString([(X0 + 250, Y0 - 10), (X0 + 250, Y0 + 210), (X0 + 350, Y0 + 210), (X0 + 350, Y0 - 10)])
    target = "C-02" if east == moved else "C-01"
    with pytest.raises(MoveRefused) as e:
        p.split(target, zig, "C-03")
    assert e.value.code == "line_crosses_twice"


def test_merge_undoes_a_split_and_refuses_grids_that_do_not_touch():
    """Partition.merge: a split grid merged back holds every unit and household again (the
    source left empty); grids that do not touch are refused unless allowed, locked ones always."""
    import shapely
    import pytest

    from geo.zoning import MoveRefused

    from tests.support.zoning_cases import X0, Y0

    _, units = lattice_units(2, 4, [10, 20, 30, 40, 50, 60, 70, 80])
    xs = units.xy[:, 0]
    # three grids in columns: west (x < 200 m), middle (200-300 m), east (> 300 m)
    asg = np.where(xs < X0 + 200, 0, np.where(xs < X0 + 300, 1, 2)).astype(np.int64)
    p = Partition(units, asg, ["C-01", "C-02", "C-03"], (1, 1000))
    with pytest.raises(MoveRefused) as e:
        p.merge("C-01", "C-03")  # two columns apart: merged they would be two pieces
    assert e.value.code == "detached" and p.grid_units[0] == int((asg == 0).sum())
    res = p.split("C-01", shapely.LineString([(X0 + 90, Y0 - 10), (X0 + 115, Y0 + 210)]), "C-04")
    moved = set(res.moved)
    back = p.merge("C-04", "C-01")
    assert set(back.moved) == moved and back.grids[0].label == "C-01" and back.grids[0].contiguous
    assert back.grids[0].households == int(units.households[asg == 0].sum())
    assert p.grid_units[p.grid_index("C-04")] == 0 and p.grid_households[p.grid_index("C-04")] == 0
    p.locked = {p.grid_index("C-02")}
    with pytest.raises(MoveRefused) as e:
        p.merge("C-02", "C-01")
    assert e.value.code == "locked"
    p.locked = set()
    apart = p.merge("C-01", "C-03", allow_split=True)
    assert not apart.grids[0].contiguous and apart.grids[0].households == int(units.households[asg != 1].sum())
