"""Two towns of one county, for the access-control tests: T1 (``320281001``) and T2 (``320281002``).

Two sample districts (``geo.sample.make_district``), the second moved 0.05 degrees east and
recoded from town ``320281001`` to ``320281002`` (its source ids prefixed ``B-``), imported through
:func:`api.imports.import_frame` with their incidents, in one transaction.  Personal fields are
set on purpose (grid phones, dwelling addresses).  Markers of each town (codes and names that
occur only in it) let a test tell whose data an answer holds.
"""

from __future__ import annotations

from dataclasses import dataclass

from api.imports import import_frame
from api.settings import Settings
from geo.sample import make_district

T1, T2 = "320281001", "320281002"
SHIFT_DEG = 0.05
LAYERS = ("areas", "grids", "streets", "stations", "dwellings", "incidents")
_CODE_COLS = ("code", "parent_code", "community_code", "town_code", "grid_code")
_ID_COLS = ("source_id", "external_id")


@dataclass
class Towns:
    layers: dict[str, dict]          # town code -> layer -> frame (as generated, after recoding)
    markers: dict[str, list[str]]    # town code -> strings only that town's data holds
    min_lon: dict[str, float]        # town code -> westmost longitude of its data


def _recode(layers: dict) -> dict:
    out = {}
    for name, frame in layers.items():
        f = frame.copy()
        for c in _CODE_COLS:
            if c in f:
                f[c] = f[c].map(lambda v: v.replace(T1, T2, 1) if isinstance(v, str) else v)
        for c in _ID_COLS:
            if c in f:
                f[c] = "B-" + f[c].astype(str)
        f["geometry"] = f.geometry.translate(xoff=SHIFT_DEG)
        out[name] = f
    return out


def load_towns(engine, households: int = 600, incidents: int = 60) -> Towns:
    """Write both towns into the (empty) database and describe them."""
    a = make_district(households, seed=1, incidents=incidents)
    b = _recode(make_district(households, seed=2, incidents=incidents))
    settings = Settings(_env_file=None)
    with engine.begin() as conn:
        for layers in (a, b):
            for layer in LAYERS:
                import_frame(conn, layer, layers[layer], settings)
    markers = {}
    for town, layers in ((T1, a), (T2, b)):
        names = list(layers["areas"]["name"]) + list(layers["stations"]["name"][:3])
        markers[town] = [town] + names
    return Towns({T1: a, T2: b}, markers,
                 {T1: float(a["streets"].total_bounds[0]), T2: float(b["streets"].total_bounds[0])})
