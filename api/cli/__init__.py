"""The ``gridmap`` command.  Each module in ``api/cli`` adds its commands through ``register(app)``.

Importing this package (and so answering ``--help``) loads only typer, rich and the standard
library: each command imports what it needs (geopandas, the database layer, the app) when it runs.
Python warnings are printed as one short line (:func:`api.cli.common.route_warnings`).
"""

from __future__ import annotations

import importlib
import pkgutil

import typer

from api.cli.common import route_warnings

__all__ = ["app"]

app = typer.Typer(
    name="gridmap",
    help="gridmap: community grids, households, 8-minute service circles and incidents on PostGIS.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _entry(ctx: typer.Context) -> None:
    route_warnings()
    from api.db import audit  # standard library only until an engine is made

    audit.set_context(*audit.cli_context(ctx.invoked_subcommand))  # who and what its writes are audited as


for _mod in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
    if _mod.name.startswith("_"):
        continue
    _module = importlib.import_module(f"{__name__}.{_mod.name}")
    if hasattr(_module, "register"):
        _module.register(app)
