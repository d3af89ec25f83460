"""``flopscope report MODEL``: MACs, FLOPs, parameters and memory, per layer and in total."""

from __future__ import annotations

import argparse

from flopscope.commands import several
from flopscope.commands.common import add_model_options, emit, non_negative
from flopscope.sources import parse_dims, parse_input_shapes

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
    p.add_argument("--top", type=int, metavar="K", help="show only the K heaviest layers")
    p.add_argument("--convention", choices=("flopscope", "2mac"), default="flopscope",
                   help="flopscope (default) or 2mac: FLOPs = 2 x MACs of dot products")
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
                     dims=parse_dims(args.dim), convention=args.convention)
    emit(render(report, args.format, depth=args.depth, top=args.top), args.output, [args.model])
    return 0
