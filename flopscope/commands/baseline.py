"""``flopscope baseline MODEL -o baseline.json``: save the JSON report that
``flopscope check --baseline`` compares later versions of the model with."""

from __future__ import annotations

import argparse
import sys

from flopscope.commands.common import add_model_options, emit
from flopscope.metrics import METRICS
from flopscope.sources import parse_dims, parse_input_shapes

#: the totals the confirmation line names
SUMMARY = ("macs", "flops", "params")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("baseline", help="save a JSON report for 'flopscope check --baseline'",
                       description="Analyse a model and write its JSON report (the contract of "
                                   "'flopscope report --format json'), to compare later versions "
                                   "with 'flopscope check MODEL --baseline FILE'.")
    add_model_options(p)
    p.add_argument("--convention", choices=("flopscope", "2mac"), default="flopscope",
                   help="flopscope (default) or 2mac: FLOPs = 2 x MACs of dot products")
    p.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")


def run(args: argparse.Namespace) -> int:
    from flopscope.analysis import analyze
    from flopscope.render.json import render_json

    report = analyze(args.model, input_shapes=parse_input_shapes(args.input_shape),
                     dims=parse_dims(args.dim), convention=args.convention)
    emit(render_json(report), args.output, [args.model])
    if report.coverage.unsupported:
        listing = ", ".join(f"{op} x{n}" for op, n in sorted(report.coverage.unsupported.items()))
        print(f"flopscope: note: unsupported ops are not counted in this baseline ({listing}); "
              "'flopscope check' fails on them unless --allow-unsupported", file=sys.stderr)
    if args.output:
        counts = ", ".join(f"{getattr(report.totals, m):,} {METRICS[m].label}" for m in SUMMARY)
        print(f"flopscope: wrote {args.output} ({report.model.name}: {counts})", file=sys.stderr)
    return 0
