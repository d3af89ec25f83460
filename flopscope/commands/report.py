"""``flopscope report MODEL``: MACs, FLOPs, parameters and memory, per layer and in total."""

from __future__ import annotations

import argparse

from flopscope.commands.common import add_model_options, emit, non_negative
from flopscope.sources import parse_dims, parse_input_shapes

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

    non_negative("--depth", args.depth)
    non_negative("--top", args.top)
    report = analyze(args.model, input_shapes=parse_input_shapes(args.input_shape),
                     dims=parse_dims(args.dim), convention=args.convention, mode=args.mode,
                     optimizer=args.optimizer, precision=args.precision, frozen=args.frozen)
    emit(render(report, args.format, depth=args.depth, top=args.top), args.output, [args.model])
    return 0
