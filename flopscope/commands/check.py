"""``flopscope check``: the CI gate — fail when a model goes over its budget or baseline.

Exit codes: 0 within budget, 1 over budget (or lighter than the baseline beyond the
tolerance under ``--strict``), 2 unusable input: an unreadable model, an invalid budget
file, a missing or mismatched baseline, or ops that could not be costed.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from typing import TYPE_CHECKING

from flopscope.commands.common import add_model_options, add_training_options, emit
from flopscope.errors import FlopscopeError
from flopscope.sources import parse_dims, parse_input_shapes

if TYPE_CHECKING:
    from flopscope.report import Report, Training

FORMATS = ("text", "markdown", "json")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "check", help="fail when a model goes over its budget or baseline (CI gate)",
        description="Check models against a budget file and/or a saved baseline report. Exit 0 "
                    "within budget, 1 over budget, 2 unusable input (unreadable model, invalid "
                    "budget, missing or mismatched baseline, ops that could not be costed). When "
                    "$GITHUB_STEP_SUMMARY is set, a Markdown summary is appended to it.")
    p.add_argument("model", nargs="?", help="an .onnx file, a reference architecture name or "
                   "path/to/file.py:factory; with --budget, the entry to check (by section name or "
                   "model value; all entries when left out)")
    add_model_options(p, model=False)
    p.add_argument("--budget", metavar="FILE", help="a TOML budget file (see docs/ci.md)")
    p.add_argument("--baseline", metavar="FILE", help="a JSON report to compare with "
                   "(write one with 'flopscope baseline MODEL -o FILE')")
    p.add_argument("--tolerance", metavar="PCT", help="how far a total may move from the baseline "
                   "before it counts: 1%%, 0.5%% or 0.01 (default 0: counts are deterministic)")
    p.add_argument("--strict", action="store_true",
                   help="also fail (exit 1) when the model got lighter than the baseline beyond the "
                        "tolerance, so that the baseline is kept up to date")
    p.add_argument("--allow-unsupported", action="store_true",
                   help="check even when some ops have no cost rule (their cost is left out)")
    p.add_argument("--allow-model-change", action="store_true",
                   help="compare with a baseline of a different model name, source or input shapes")
    p.add_argument("--no-latency", action="store_true", help="skip latency limits (no measuring)")
    p.add_argument("--convention", choices=("flopscope", "2mac"),
                   help="counting convention (default: the baseline's, else flopscope)")
    add_training_options(p, defaults=False, fallback="the baseline's")
    p.add_argument("--format", choices=FORMATS, default="text", help="stdout format (default text)")
    p.add_argument("--junit", metavar="FILE", help="also write JUnit XML to FILE")
    p.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")


def baseline_command(model: str, shape_args: list[str], dims: dict[str, int], convention: str,
                     output: str, training: Training | None = None) -> str:
    """The ``flopscope baseline`` command that rewrites ``output`` for this model (in
    train mode with ``training``'s optimizer, precision and frozen globs)."""
    from flopscope.gate import training_args

    argv = ["flopscope", "baseline", model]
    for shape in shape_args:
        argv += ["--input-shape", shape]
    for name, size in dims.items():
        argv += ["--dim", f"{name}={size}"]
    if convention != "flopscope":
        argv += ["--convention", convention]
    return shlex.join(argv + training_args(training) + ["-o", output])


def run(args: argparse.Namespace) -> int:
    from flopscope.budget import load_budget, parse_tolerance
    from flopscope.checking import run_check
    from flopscope.gate import exit_code
    from flopscope.render.gate import render_gate, render_junit, render_markdown

    if not args.budget and not args.baseline:
        raise FlopscopeError("check needs --budget FILE or --baseline FILE (see 'flopscope check --help')")
    if not args.budget and not args.model:
        raise FlopscopeError("--baseline compares one model: give MODEL")
    given = [path for path in (args.model, args.baseline, args.budget) if path]
    tolerance = None if args.tolerance is None else parse_tolerance(args.tolerance, "--tolerance")
    common = {"strict": args.strict, "allow_model_change": args.allow_model_change,
              "measure": not args.no_latency}

    results = []
    if args.budget:
        if (args.input_shape or args.dim or args.convention or args.mode or args.optimizer
                or args.precision or args.frozen):
            raise FlopscopeError("--input-shape, --dim, --convention, --mode, --optimizer, --precision "
                                 "and --frozen do not go with --budget: set input_shape, dims, "
                                 "convention, mode, optimizer, precision and frozen in the budget file")
        entries = load_budget(args.budget).select(args.model)
        if args.baseline and len(entries) > 1:
            raise FlopscopeError(f"--baseline compares one model, but {len(entries)} budget entries "
                                 f"match: name one of {', '.join(e.name for e in entries)}")
        for entry in entries:
            baseline, training = args.baseline or entry.baseline, entry.training
            results.append(run_check(
                entry.model, input_shapes=entry.input_shapes, dims=entry.dims,
                convention=entry.convention, mode=entry.mode,
                optimizer=training.optimizer if training else None,
                precision=training.precision if training else None,
                frozen=training.frozen if training else None,
                limits=entry.limits, latency=entry.latency,
                baseline=baseline, tolerance=_first(tolerance, entry.tolerance, 0.0),
                allow_unsupported=args.allow_unsupported or entry.allow_unsupported, label=entry.name,
                update_command=_updater(entry.model, entry.input_shape_args, entry.dims, baseline),
                **common))
    else:
        results.append(run_check(
            args.model, input_shapes=parse_input_shapes(args.input_shape), dims=parse_dims(args.dim),
            convention=args.convention, mode=args.mode, optimizer=args.optimizer,
            precision=args.precision, frozen=args.frozen or None, baseline=args.baseline,
            tolerance=_first(tolerance, 0.0),
            allow_unsupported=args.allow_unsupported, label=args.model,
            update_command=_updater(args.model, args.input_shape or [], parse_dims(args.dim),
                                    args.baseline),
            **common))

    for r in results:           # once, on stderr; the text on stdout leaves them out
        for error in r.errors:
            where = "" if error.startswith(f"{r.model}:") else f"{r.model}: "
            print(f"flopscope: error: {where}{error}", file=sys.stderr)
    if args.junit:
        emit(render_junit(results), args.junit, given)
    step_summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if step_summary:
        try:
            with open(step_summary, "a", encoding="utf-8") as f:
                f.write(render_markdown(results))
        except OSError as exc:
            print(f"flopscope: warning: cannot write $GITHUB_STEP_SUMMARY ({step_summary}): "
                  f"{exc.strerror or exc}", file=sys.stderr)
    emit(render_gate(results, args.format, errors=bool(args.output)), args.output, given)
    return exit_code(results)


def _first(*values):
    return next(v for v in values if v is not None)


def _updater(model: str, shape_args: list[str], dims: dict[str, int], output: str | None):
    if output is None:
        return None

    def command(report: Report) -> str:
        return baseline_command(model, shape_args, dims, report.convention, output, report.training)
    return command
