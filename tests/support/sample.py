"""Load a generated sample district into the test database."""

from __future__ import annotations

from api.imports import import_frame
from api.settings import Settings
from geo.sample import make_district

LAYERS = ("areas", "grids", "streets", "stations", "dwellings")


def load_sample(db, households: int, seed: int) -> dict:
    """``geo.sample.make_district(households, seed=seed)`` without incidents, imported through
    :func:`api.imports.import_frame` (one transaction); returns the generated layers."""
    layers = make_district(households, seed=seed, incidents=0)
    settings = Settings()
    with db.begin() as conn:
        for layer in LAYERS:
            import_frame(conn, layer, layers[layer], settings)
    return layers
