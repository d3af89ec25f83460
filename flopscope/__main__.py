"""``python -m flopscope`` runs the CLI."""

from flopscope.cli import console

console()
