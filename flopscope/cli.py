"""The ``flopscope`` command: parse options -> load -> analyse -> render -> exit code.

Exit codes: 0 ok, 1 budget exceeded, 2 unusable input or usage. Errors are one line on
stderr; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from flopscope.errors import FlopscopeError

FORMATS = ("text", "markdown", "json", "csv")


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors and exit code 2."""

    def error(self, message: str) -> NoReturn:
        raise FlopscopeError(f"{message} (see '{self.prog} --help')")


def parse_shape(text: str) -> tuple[int, ...]:
    """``"1x3x224x224"`` -> ``(1, 3, 224, 224)``; ``"scalar"`` or ``""`` -> ``()``."""
    if text in ("", "scalar"):
        return ()
    try:
        dims = tuple(int(d) for d in text.lower().replace(",", "x").split("x"))
    except ValueError:
        raise FlopscopeError(f"bad shape '{text}': write sizes joined by x, e.g. 1x3x224x224") from None
    if any(d < 0 for d in dims):
        raise FlopscopeError(f"bad shape '{text}': sizes must be >= 0")
    return dims


def parse_input_shapes(items: Sequence[str] | None) -> dict[str, tuple[int, ...]]:
    """``["x=1x3x8x8", "1x3"]`` -> ``{"x": (1, 3, 8, 8), "": (1, 3)}``."""
    shapes: dict[str, tuple[int, ...]] = {}
    for item in items or ():
        name, sep, dims = item.rpartition("=")
        shapes[name if sep else ""] = parse_shape(dims)
    return shapes


def parse_dims(items: Sequence[str] | None) -> dict[str, int]:
    """``["N=8"]`` -> ``{"N": 8}``."""
    dims: dict[str, int] = {}
    for item in items or ():
        name, sep, value = item.partition("=")
        try:
            dims[name] = int(value)
        except ValueError:
            raise FlopscopeError(f"bad --dim '{item}': write NAME=SIZE, e.g. N=8") from None
        if not sep or not name or dims[name] < 0:
            raise FlopscopeError(f"bad --dim '{item}': write NAME=SIZE, e.g. N=8")
    return dims


def _model_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="an .onnx file, a reference architecture name (resnet50) "
                                 "or path/to/file.py:factory")
    p.add_argument("--input-shape", action="append", metavar="[NAME=]1x3x224x224",
                   help="bind an input's shape (repeatable)")
    p.add_argument("--dim", action="append", metavar="NAME=SIZE",
                   help="bind a symbolic dimension, e.g. N=8 (repeatable)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="flopscope", description="Static complexity profiler for PyTorch "
                     "and ONNX models: MACs, FLOPs, parameters, memory, latency.")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)

    report = sub.add_parser("report", help="count MACs, FLOPs, parameters and memory")
    _model_options(report)
    report.add_argument("--format", choices=FORMATS, default="text")
    report.add_argument("--depth", type=int, metavar="K", help="roll layers up by module path")
    report.add_argument("--top", type=int, metavar="K", help="only the K heaviest layers")
    report.add_argument("--convention", choices=("flopscope", "2mac"), default="flopscope",
                        help="flopscope (default) or 2mac: FLOPs = 2 x MACs")
    report.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")
    report.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)
    return parser


def _cmd_report(args: argparse.Namespace) -> int:
    from flopscope.analysis import analyze
    from flopscope.render import render

    for flag in ("depth", "top"):
        value = getattr(args, flag)
        if value is not None and value < 0:
            raise FlopscopeError(f"--{flag} must be >= 0")
    report = analyze(resolve_model(args.model), input_shapes=parse_input_shapes(args.input_shape),
                     dims=parse_dims(args.dim), convention=args.convention)
    text = render(report, args.format, depth=args.depth, top=args.top)
    _emit(text, args.output)
    return 0


def resolve_model(spec: str) -> Any:
    """What an ``analyze`` call takes for a CLI MODEL argument (checked, not loaded)."""
    return spec


def _emit(text: str, output: str | None) -> None:
    if output:
        try:
            with open(output, "w", encoding="utf-8") as f:
                f.write(text)
        except OSError as exc:
            raise FlopscopeError(f"cannot write {output}: {exc.strerror or exc}") from None
    else:
        sys.stdout.write(text)


COMMANDS = {"report": _cmd_report}


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    try:
        args = build_parser().parse_args(argv)
        if args.version:
            from flopscope import __version__
            print(f"flopscope {__version__}")
            return 0
        if args.command is None:
            build_parser().print_help()
            return 2
        return COMMANDS[args.command](args)
    except FlopscopeError as exc:
        if debug:
            raise
        print(f"flopscope: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("flopscope: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:  # a bug or an input we did not foresee: one line, exit 2
        if debug:
            raise
        message = " ".join(str(exc).split())[:300]
        print(f"flopscope: error: {type(exc).__name__}: {message} (rerun with --debug for "
              "the traceback)", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
