"""``flopscope report MODEL``: MACs, FLOPs, parameters and memory, per layer and in total."""

from __future__ import annotations

import argparse

from flopscope.commands.common import add_model_options, emit, non_negative
from flopscope.sources import parse_dims, parse_input_shapes, resolve, with_options

FORMATS = ("text", "markdown", "json", "csv", "html")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="count MACs, FLOPs, parameters and memory",
                       description="Analyse a model without running it.")
    add_model_options(p)
    p.add_argument("--format", choices=FORMATS, default="text")
    p.add_argument("--depth", type=int, metavar="K", help="roll layers up by module path to depth K")
    p.add_argument("--top", type=int, metavar="K", help="show only the K heaviest layers")
    p.add_argument("--convention", choices=("flopscope", "2mac"), default="flopscope",
                   help="flopscope (default) or 2mac: FLOPs = 2 x MACs of dot products")
    p.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")
    p.add_argument("--seq", type=int, metavar="N",
                   help="hf: models: tokens of the text inputs (default 128)")
    p.add_argument("--trust-remote-code", action="store_true",
                   help="hf: models: allow a config that needs custom code from the Hub (auto_map)")


def run(args: argparse.Namespace) -> int:
    from flopscope.analysis import analyze
    from flopscope.render import render

    non_negative("--depth", args.depth)
    non_negative("--top", args.top)
    non_negative("--seq", args.seq)
    model = with_options(resolve(args.model), seq=args.seq,
                         trust_remote_code=args.trust_remote_code)
    report = analyze(model, input_shapes=parse_input_shapes(args.input_shape),
                     dims=parse_dims(args.dim), convention=args.convention)
    emit(render(report, args.format, depth=args.depth, top=args.top), args.output, [args.model])
    return 0
