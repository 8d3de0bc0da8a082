"""The `panel` command: parse flags, call the library, show the result.

Each module registers its commands on the one Typer app in common.py; importing them here, in
this order, is what puts every command on `panel` in the order `panel --help` lists them.
"""

# ruff: noqa: F401, I001
from panel.cli import panel_commands
from panel.cli import editor_commands
from panel.cli import output_commands
from panel.cli import batch_command
from panel.cli import serve_command
from panel.cli import eval_command
from panel.cli import setup_commands
from panel.cli.common import app, main

__all__ = ["app", "main"]
