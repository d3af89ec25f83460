"""The ``flopscope`` command: parse options -> load -> analyse -> render -> exit code.

Exit codes: 0 ok, 1 budget exceeded, 2 unusable input or usage. Errors are one line on
stderr; ``--debug`` shows the traceback. Subcommands live in ``flopscope.commands``.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import sys
from collections.abc import Sequence
from typing import NoReturn

from flopscope.commands import COMMANDS
from flopscope.errors import MESSAGE_LIMIT, FlopscopeError, cli_spelling, one_line


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors and exit code 2."""

    def error(self, message: str) -> NoReturn:
        raise FlopscopeError(f"{message} (see '{self.prog} --help')")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="flopscope", description="Static complexity profiler for PyTorch and "
                     "ONNX models: MACs, FLOPs, parameters, memory, latency, budgets.")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser, metavar="COMMAND")
    for module in COMMANDS.values():
        importlib.import_module(f"flopscope.commands.{module}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    if debug:
        argv.remove("--debug")
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if args.version:
            from flopscope import __version__
            print(f"flopscope {__version__}")
            return 0
        if args.command is None:
            parser.print_help(sys.stderr)
            return 2
        command = importlib.import_module(f"flopscope.commands.{COMMANDS[args.command]}")
        with cli_spelling():                  # messages name flags, not Python arguments
            return command.run(args)
    except FlopscopeError as exc:
        if debug:
            raise
        print(f"flopscope: error: {one_line(exc, MESSAGE_LIMIT)}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("flopscope: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:  # a bug or an input nobody foresaw: still one line, exit 2
        if debug:
            raise
        print(f"flopscope: error: {one_line(exc, named=True)} (rerun with "
              "--debug for the traceback)", file=sys.stderr)
        return 2


def console() -> NoReturn:
    """The console entry point (``flopscope`` and ``python -m flopscope``): :func:`main` in a
    short-lived process. Such a process builds one large, acyclic object graph, so the cyclic
    garbage collector would spend a quarter of a 100k-node analysis finding nothing to free:
    it is switched off here, for this process only, never by :func:`main`, which tests and
    other programs call in-process."""
    gc.disable()
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    console()
