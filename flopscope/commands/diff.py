"""``flopscope diff A B``: two models (or two saved reports) side by side — totals and the
modules that moved."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from flopscope.commands.common import emit, non_negative

if TYPE_CHECKING:
    from flopscope.report import Report

FORMATS = ("text", "markdown", "json")
FIELDS = ("macs", "flops", "params", "output_bytes", "traffic_bytes")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("diff", help="compare two models or saved reports: totals and modules",
                       description="Compare two sources: .onnx files, reference architecture names, "
                                   "path/to/file.py:factory or saved JSON reports (flopscope report "
                                   "--format json, flopscope baseline). Shows every total and the "
                                   "modules whose cost moved most (layers matched by name).")
    p.add_argument("old", metavar="A", help="the first model or saved .json report")
    p.add_argument("new", metavar="B", help="the second model or saved .json report")
    p.add_argument("--input-shape", action="append", metavar="[NAME=]1x3x224x224[:dtype]",
                   help="bind an input's shape for both models (repeatable; not for .json reports)")
    p.add_argument("--dim", action="append", metavar="NAME=SIZE",
                   help="bind a symbolic dimension for both models (repeatable)")
    p.add_argument("--depth", type=int, default=1, metavar="K",
                   help="roll modules up to K parts of their path (default 1; 0: whole paths)")
    p.add_argument("--top", type=int, default=10, metavar="K",
                   help="list the K modules that moved most (default 10; 0: all)")
    p.add_argument("--by", choices=FIELDS, default="macs", help="the per-module figure (default macs)")
    p.add_argument("--convention", choices=("flopscope", "2mac"), default="flopscope")
    p.add_argument("--format", choices=FORMATS, default="text")
    p.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")


def run(args: argparse.Namespace) -> int:
    from flopscope.render.diff import render_diff

    non_negative("--depth", args.depth)
    non_negative("--top", args.top)
    old, new = (_load(source, args) for source in (args.old, args.new))
    text = render_diff(old, new, args.format, depth=args.depth or None, top=args.top or None,
                       field=args.by, names=_labels(args.old, args.new))
    emit(text, args.output, [args.old, args.new])
    return 0


def _load(source: str, args: argparse.Namespace) -> Report:
    """A saved report (``*.json``) as saved, else the model analysed now."""
    if source.lower().endswith(".json"):
        from flopscope.checking import load_baseline

        return load_baseline(source)
    from flopscope.analysis import analyze
    from flopscope.sources import parse_dims, parse_input_shapes

    return analyze(source, input_shapes=parse_input_shapes(args.input_shape),
                   dims=parse_dims(args.dim), convention=args.convention)


def _labels(a: str, b: str) -> tuple[str, str]:
    """Column labels: the arguments' base names, told apart by their full text if equal."""
    import os

    short = tuple(os.path.basename(x.rstrip("/")) or x for x in (a, b))
    return (a, b) if short[0] == short[1] else (short[0], short[1])
