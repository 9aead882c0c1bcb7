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


def translate_help(app: typer.Typer, lang: str) -> None:
    """Put the help of every command, group, argument and option of ``app`` in ``lang``
    (:func:`api.i18n.text`; a text the catalogue lacks stays English), and rich's panel titles."""
    import inspect

    from typer.models import ParameterInfo

    from api import i18n

    tr = lambda s: i18n.text(s, lang) if s else s  # noqa: E731

    def walk(t: typer.Typer) -> None:
        t.info.help = tr(t.info.help if isinstance(t.info.help, str) else None)
        for c in t.registered_commands:
            c.help = tr(c.help or inspect.getdoc(c.callback))
            for p in inspect.signature(c.callback).parameters.values():
                if isinstance(p.default, ParameterInfo) and p.default.help:
                    p.default.help = tr(p.default.help)
        for g in t.registered_groups:
            g.help = tr(g.help or (g.typer_instance.info.help if g.typer_instance else None))
            if g.typer_instance is not None:
                walk(g.typer_instance)

    walk(app)
    try:
        from typer import rich_utils
    except ImportError:  # typer without rich: plain help, titles stay click's
        return
    for name, title in (("OPTIONS_PANEL_TITLE", "Options"), ("ARGUMENTS_PANEL_TITLE", "Arguments"),
                        ("COMMANDS_PANEL_TITLE", "Commands")):
        if hasattr(rich_utils, name):
            setattr(rich_utils, name, tr(title))


def _language() -> None:
    from api import i18n

    lang = i18n.cli_lang()
    if lang != "en":
        translate_help(app, lang)


_language()
