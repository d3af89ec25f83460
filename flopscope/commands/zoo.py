"""``flopscope zoo``: the comparison report of the included reference architectures."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("zoo", help="compare the reference architectures (cost and latency)",
                       description="Analyse every reference architecture, cross-check the "
                                   "PyTorch and ONNX paths, time them with ONNX Runtime and "
                                   "write README.md, zoo.json, zoo.csv and plots.")
    p.add_argument("--out", default="reports", metavar="DIR", help="output folder (default reports/)")
    p.add_argument("--presets", default="cpu,mobile", metavar="LIST",
                   help="latency presets, comma-separated (default cpu,mobile; gpu where present); "
                        "'none' for static figures only")
    p.add_argument("--no-latency", action="store_true",
                   help="skip timing (same as --presets none): static figures only, a few minutes less")
    p.add_argument("--models", metavar="LIST", help="only these architectures, comma-separated")
    p.add_argument("--time-budget", type=float, default=None, metavar="S",
                   help="seconds each preset measures each model (default 2)")
    p.add_argument("--quiet", action="store_true",
                   help="no progress lines (k/N and the time left) on stderr")


def run(args: argparse.Namespace) -> int:
    from flopscope import zoo
    from flopscope.commands.progress import Eta, log_lines
    from flopscope.errors import FlopscopeError

    presets = [p.strip() for p in args.presets.split(",") if p.strip() and p.strip() != "none"]
    if args.no_latency:
        presets = []
    budget = zoo.DEFAULT_TIME_BUDGET_S if args.time_budget is None else args.time_budget
    if budget <= 0:
        raise FlopscopeError("--time-budget must be > 0 seconds")
    names = [n.strip() for n in args.models.split(",") if n.strip()] if args.models else None
    eta = Eta()
    result = zoo.run_zoo(names, presets, time_budget_s=budget,
                         log=None if args.quiet else log_lines("flopscope zoo", status=eta.text),
                         progress=None if args.quiet else eta.update)
    for path in zoo.write(result, args.out):
        print(path)
    return 0
