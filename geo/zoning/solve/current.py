"""What the current (published) grids give a redraw: each unit's home grid, and the codes the
redrawn grids keep (the current grid each shares most households with; new ones in reading order)."""

from __future__ import annotations

import numpy as np
import shapely
from scipy.optimize import linear_sum_assignment

from geo.zoning.partition import Partition
from geo.zoning.units import Units

__all__ = ["home_grids", "relabel"]


def home_grids(units: Units, grids_m, labels) -> np.ndarray:
    """Index (into ``labels``) of the grid covering most of each unit's area (-1: none covers it)."""
    out = np.full(len(units), -1, np.int64)
    if len(grids_m) == 0 or len(units) == 0:
        return out
    tree = shapely.STRtree(np.asarray(grids_m, dtype=object))
    ui, gi = tree.query(units.geometry, predicate="intersects")
    if len(ui) == 0:
        return out
    inter = shapely.area(shapely.intersection(units.geometry[ui], np.asarray(grids_m, dtype=object)[gi]))
    keep = inter > 0
    ui, gi, inter = ui[keep], gi[keep], inter[keep]
    order = np.lexsort((gi, -inter, ui))  # per unit, the largest overlap first (lowest grid on ties)
    ui, gi = ui[order], gi[order]
    first = np.r_[True, ui[1:] != ui[:-1]]
    out[ui[first]] = gi[first]
    return out


def relabel(p: Partition, code: str, cur_labels: list, stay_close: bool, locked_codes: list,
             label_format: str) -> Partition:
    """Drop empty grids and give new grids their labels (reading order: north-west first)."""
    n = len(p.labels)
    live = [g for g in range(n) if p.grid_units[g] > 0]
    keep_label = {}
    for g in live:
        lab = p.labels[g]
        if lab in locked_codes or (stay_close and lab in cur_labels):
            keep_label[g] = lab
    new = [g for g in live if g not in keep_label]
    if new and cur_labels and (p.home >= 0).any():  # a redrawn grid keeps the code of the current grid it
        free_cur = [c for c in range(len(cur_labels)) if cur_labels[c] not in keep_label.values()]  # shares most with
        if free_cur:
            a = p.assignment
            hh = p.units.households + 1e-3  # empty units break ties by their count
            m = np.zeros((len(new), len(free_cur)))
            col = {c: j for j, c in enumerate(free_cur)}
            row = {g: i for i, g in enumerate(new)}
            for u in np.flatnonzero(p.home >= 0):
                g, c = int(a[u]), int(p.home[u])
                if g in row and c in col:
                    m[row[g], col[c]] += hh[u]
            ri, ci = linear_sum_assignment(-m)
            for i, j in zip(ri, ci):
                if m[i, j] > 0:
                    keep_label[new[i]] = cur_labels[free_cur[j]]
            new = [g for g in new if g not in keep_label]
    if new:
        xy = p.units.xy
        a = p.assignment
        cen = np.array([xy[a == g].mean(axis=0) for g in new])
        order = np.lexsort((np.round(cen[:, 0], 1), -np.round(cen[:, 1], 1)))
        used = set(keep_label.values())
        nxt = 1
        for i in order:
            while label_format.format(code=code, n=nxt) in used:
                nxt += 1
            keep_label[new[i]] = label_format.format(code=code, n=nxt)
            used.add(keep_label[new[i]])
    final = sorted(live, key=lambda g: keep_label[g])
    index = {g: i for i, g in enumerate(final)}
    a = np.array([index[g] for g in p.grid_of], dtype=np.int64)
    labels = [keep_label[g] for g in final]
    home = np.array([labels.index(cur_labels[h]) if h >= 0 and cur_labels[h] in labels else -2 for h in p.home])
    if (p.home < 0).all():
        home = np.full(len(a), -1, np.int64)
    q = Partition(p.units, a, labels, p.bounds, locked=[x for x in labels if x in locked_codes], graph=p.graph,
                  home=home)
    return q
