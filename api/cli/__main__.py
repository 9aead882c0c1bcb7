"""``python -m api.cli``: the same as the ``gridmap`` command."""

from api.cli import app

app(prog_name="gridmap")
