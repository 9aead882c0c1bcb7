"""The ``gridmap`` command.  Each module in ``api/cli`` adds its commands through ``register(app)``."""

from __future__ import annotations

import importlib
import pkgutil

import typer

app = typer.Typer(
    name="gridmap",
    help="gridmap: community grids, households, 8-minute service circles and incidents on PostGIS.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

for _mod in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
    _module = importlib.import_module(f"{__name__}.{_mod.name}")
    if hasattr(_module, "register"):
        _module.register(app)
