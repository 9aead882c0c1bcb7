"""Load a generated sample district into the test database."""

from __future__ import annotations

from api.db.load import load_frame
from geo.sample import make_district
from geo.validate import validate_frame

LAYERS = ("areas", "grids", "streets", "stations", "dwellings")


def load_sample(db, households: int, seed: int) -> dict:
    """``geo.sample.make_district(households, seed=seed)`` without incidents, validated and loaded
    (one transaction); returns the generated layers."""
    layers = make_district(households, seed=seed, incidents=0)
    with db.begin() as conn:
        for layer in LAYERS:
            load_frame(conn, layer, validate_frame(layer, layers[layer]))
    return layers
