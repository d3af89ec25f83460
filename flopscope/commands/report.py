"""``flopscope report MODEL``: MACs, FLOPs, parameters and memory, per layer and in total."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from flopscope.commands import several
from flopscope.commands.common import add_model_options, emit, non_negative
from flopscope.sources import parse_dims, parse_input_shapes

if TYPE_CHECKING:
    from flopscope.report import Report

FORMATS = ("text", "markdown", "json", "csv", "html")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="count MACs, FLOPs, parameters and memory",
                       description="Analyse a model without running it.")
    p.add_argument("model", nargs="+", help="an .onnx file, a reference architecture name (resnet50) "
                   "or path/to/file.py:factory (runs that file's code); several, or a directory of "
                   ".onnx files, print one summary row per model")
    add_model_options(p, model=False)
    p.add_argument("--jobs", type=int, metavar="N", help="with several models: analyse N at a time")
    p.add_argument("--format", choices=FORMATS, default="text")
    p.add_argument("--depth", type=int, metavar="K", help="roll layers up by module path to depth K")
    p.add_argument("--top", type=int, metavar="K", help="show only the K heaviest layers (with "
                   "--depth: the K heaviest modules at that depth)")
    p.add_argument("--all-layers", action="store_true",
                   help="also show zero-cost shape plumbing (Reshape, Transpose, Identity...), "
                        "folded away by default")
    p.add_argument("--convention", choices=("flopscope", "2mac"), default="flopscope",
                   help="flopscope (default) or 2mac: FLOPs = 2 x MACs of dot products")
    p.add_argument("--mode", choices=("inference", "train"), default="inference",
                   help="train: forward + backward, optimizer step and training memory")
    p.add_argument("--optimizer", choices=("sgd", "momentum", "adam", "adamw"), default="adamw",
                   help="train mode: the optimizer whose step and state are costed")
    p.add_argument("--precision", choices=("fp32", "bf16-mixed", "fp16-mixed"), default="fp32",
                   help="train mode: fp32, or half-precision weights/grads with fp32 master "
                        "weights and state")
    p.add_argument("--frozen", action="append", default=[], metavar="PATTERN",
                   help="train mode: freeze parameters whose name matches this glob (repeatable)")
    p.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")


def run(args: argparse.Namespace) -> int:
    from flopscope.analysis import analyze
    from flopscope.render import render

    if several.several(args.model):
        return several.run(args, {"input_shapes": parse_input_shapes(args.input_shape),
                                  "dims": parse_dims(args.dim), "convention": args.convention})
    args.model = args.model[0]
    non_negative("--depth", args.depth)
    non_negative("--top", args.top)
    report = analyze(args.model, input_shapes=parse_input_shapes(args.input_shape),
                     dims=parse_dims(args.dim), convention=args.convention, mode=args.mode,
                     optimizer=args.optimizer, precision=args.precision, frozen=args.frozen)
    text = render(report, args.format, depth=args.depth, top=args.top, all_layers=args.all_layers)
    if args.format in _DATA_FORMATS:
        for line in side_notes(report):
            print(f"flopscope: {line}", file=sys.stderr)
    emit(text, args.output, [args.model])
    return 0


#: formats whose output is data for a program: what a person must read goes to stderr
_DATA_FORMATS = ("csv", "json")


def side_notes(report: Report) -> list[str]:
    """The lower-bound warning and the notes, for stderr beside CSV or JSON output."""
    from flopscope.render.tables import lower_bound_warning

    warning = lower_bound_warning(report.coverage)
    return ([warning] if warning else []) + [f"note: {n}" for n in report.notes]
