"""The CLI's subcommands, one module each: ``register(subparsers)`` and ``run(args) -> int``.

Command modules import only the standard library at import time, so ``flopscope --help``
stays fast; each ``run`` imports what it needs.
"""

from __future__ import annotations

#: subcommand name -> module under flopscope.commands, in help order
COMMANDS = {
    "report": "report",
    "bench": "bench",
    "check": "check",
    "baseline": "baseline",
    "diff": "diff",
    "models": "models",
    "zoo": "zoo",
}
