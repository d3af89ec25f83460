"""``flopscope baseline MODEL -o baseline.json``: save the JSON report that
``flopscope check --baseline`` compares later versions of the model with.

``--mode train`` (with ``--optimizer``, ``--precision``, ``--frozen``) saves a train-mode
report: it records its training setup, and a check against it analyses in that mode and
compares the training metrics too (an analysis in another mode is refused)."""

from __future__ import annotations

import argparse
import sys

from flopscope.commands.common import add_model_options, add_training_options, emit
from flopscope.errors import FlopscopeError
from flopscope.gate import describe_mode
from flopscope.metrics import METRICS
from flopscope.sources import parse_dims, parse_input_shapes

#: the totals the confirmation line names (with ``peak_training_bytes`` in train mode)
SUMMARY = ("macs", "flops", "params")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("baseline", help="save a JSON report for 'flopscope check --baseline'",
                       description="Analyse a model and write its JSON report (the contract of "
                                   "'flopscope report --format json'), to compare later versions "
                                   "with 'flopscope check MODEL --baseline FILE'.")
    add_model_options(p)
    p.add_argument("--convention", choices=("flopscope", "2mac"), default="flopscope",
                   help="flopscope (default) or 2mac: FLOPs = 2 x MACs of dot products")
    add_training_options(p, defaults=False)
    p.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")


def run(args: argparse.Namespace) -> int:
    from flopscope.analysis import analyze
    from flopscope.render.json import render_json

    setup = {k: v for k, v in (("optimizer", args.optimizer), ("precision", args.precision),
                                ("frozen", args.frozen)) if v}
    if setup and args.mode != "train":
        raise FlopscopeError(f"{', '.join('--' + k for k in setup)} "
                             f"{'goes' if len(setup) == 1 else 'go'} with --mode train")
    report = analyze(args.model, input_shapes=parse_input_shapes(args.input_shape),
                     dims=parse_dims(args.dim), convention=args.convention,
                     mode=args.mode or "inference", **setup)
    emit(render_json(report), args.output, [args.model])
    if report.coverage.unsupported:
        listing = ", ".join(f"{op} x{n}" for op, n in sorted(report.coverage.unsupported.items()))
        print(f"flopscope: note: unsupported ops are not counted in this baseline ({listing}); "
              "'flopscope check' fails on them unless --allow-unsupported", file=sys.stderr)
    if args.output:
        shown = SUMMARY + (("peak_training_bytes",) if report.training is not None else ())
        counts = ", ".join(f"{getattr(report.totals, m):,} {METRICS[m].label}" for m in shown)
        mode = f", {describe_mode(report.training)}" if report.training is not None else ""
        print(f"flopscope: wrote {args.output} ({report.model.name}{mode}: {counts})", file=sys.stderr)
    return 0
