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
