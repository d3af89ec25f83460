"""``flopscope report MODEL``: MACs, FLOPs, parameters and memory, per layer and in total."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from flopscope.commands import several
from flopscope.commands.common import add_model_options, add_training_options, emit, non_negative
from flopscope.errors import FlopscopeError
from flopscope.report import Formulas
from flopscope.sources import parse_dims, parse_input_shapes, resolve, with_options

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
    add_training_options(p)
    p.add_argument("--formula", nargs="?", const="", metavar="DIMS",
                   help="also give MACs, FLOPs and activation bytes as exact polynomials in free dims: "
                        "alone, every ONNX dim param (PyTorch: batch); or a list: N,seq (ONNX dim "
                        "params), batch,seq (PyTorch: axes 0 and 1 of every input), x:2=H (one axis), "
                        "image_size=16*P (an hf: config value, in steps of 16)")
    p.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")
    p.add_argument("--seq", type=int, metavar="N",
                   help="hf: models: tokens of the text inputs (default 128)")
    p.add_argument("--phase", choices=("prefill", "decode"),
                   help="LLM phase of a decoder model (hf:, transformers, or an ONNX export with "
                        "past key/value inputs): a prefill of --seq tokens, or one decode step "
                        "against a KV cache of --context tokens; adds per-token figures")
    p.add_argument("--context", type=int, default=None, metavar="N",
                   help="with --phase: tokens already in the KV cache (decode default 127)")
    p.add_argument("--batch", type=int, default=1, metavar="N",
                   help="with --phase: sequences per step (default 1)")
    p.add_argument("--device", metavar="NAME",
                   help="with --phase: lower-bound time per token on a named device's roofline "
                        "(h100, h200, a100, l4, rtx4090, m2, phone, rpi5)")
    p.add_argument("--trust-remote-code", action="store_true",
                   help="hf: models: allow a config that needs custom code from the Hub (auto_map)")


def run(args: argparse.Namespace) -> int:
    from flopscope.analysis import analyze
    from flopscope.render import render

    if several.several(args.model):
        if args.formula is not None:
            raise FlopscopeError("--formula takes one model")
        return several.run(args, {"input_shapes": parse_input_shapes(args.input_shape),
                                  "dims": parse_dims(args.dim), "convention": args.convention})
    args.model = args.model[0]
    non_negative("--depth", args.depth)
    non_negative("--top", args.top)
    if args.formula is not None and args.mode == "train":
        raise FlopscopeError("--formula fits the inference costs; leave out --mode train")
    non_negative("--seq", args.seq)
    if args.phase:
        return _run_phase(args)
    if args.context is not None or args.batch != 1 or args.device:
        raise FlopscopeError("--context, --batch and --device go with --phase prefill|decode")
    model = with_options(resolve(args.model), seq=args.seq,
                         trust_remote_code=args.trust_remote_code)
    report = analyze(model, input_shapes=parse_input_shapes(args.input_shape),
                     dims=parse_dims(args.dim), convention=args.convention, mode=args.mode,
                     optimizer=args.optimizer, precision=args.precision, frozen=args.frozen)
    if args.formula is not None:
        from flopscope.formulas import fit, with_formulas
        report = with_formulas(report, fit(model, args.formula,
                                           input_shapes=parse_input_shapes(args.input_shape),
                                           dims=parse_dims(args.dim), convention=args.convention,
                                           base=report))
    text = render(report, args.format, depth=args.depth, top=args.top, all_layers=args.all_layers)
    if args.format in _DATA_FORMATS:
        for line in side_notes(report):
            print(f"flopscope: {line}", file=sys.stderr)
    emit(text, args.output, [args.model])
    return 0


def _run_phase(args: argparse.Namespace) -> int:
    import json

    from flopscope.phases import analyze_phase
    from flopscope.render import render

    if args.format not in ("text", "markdown", "json"):
        raise FlopscopeError(f"--phase reports as text, markdown or json, not {args.format}")
    if args.mode == "train":
        raise FlopscopeError("--phase costs an inference step; leave out --mode train")
    if args.input_shape:
        raise FlopscopeError("--phase binds the inputs from --seq, --context and --batch; "
                             "leave out --input-shape")
    context = args.context if args.context is not None else (127 if args.phase == "decode" else 0)
    settings = {"batch": args.batch, "trust_remote_code": args.trust_remote_code,
                "dims": parse_dims(args.dim), "convention": args.convention}
    report, cost = analyze_phase(args.model, args.phase, seq=args.seq, context=context,
                                 device=args.device, **settings)
    if args.formula is not None:
        from flopscope.formulas import with_formulas

        report = with_formulas(report, _phase_formulas(args.model, args.phase, args.formula,
                                                       cost.seq, context, settings))
    body = render(report, args.format, depth=args.depth, top=args.top, all_layers=args.all_layers)
    if args.format == "json":
        data = json.loads(body)
        data["phase"] = cost.as_dict()
        text = json.dumps(data, indent=2)
    else:
        # the phase answers the question asked: right under the title, before the totals
        title, _, rest = body.partition("\n\n")
        block = cost.text() if args.format == "text" else cost.markdown()
        text = f"{title}\n\n{block}\n\n{rest}"
    emit(text, args.output, [args.model])
    return 0


def _phase_formulas(model: str, phase: str, free: str, seq: int, context: int,
                    settings: dict[str, Any]) -> Formulas:
    """A phase step's MACs, FLOPs, activation bytes and KV-cache bytes as exact polynomials
    in the length that phase varies: the cached ``context`` of a decode step, the prompt
    ``seq`` of a prefill (fitted and checked by :func:`flopscope.formulas.solve`, each
    point a phase analysis)."""
    from flopscope.formulas import CHECK_OFFSET, LOWEST, Free, assemble, solve
    from flopscope.phases import analyze_phase

    name = "context" if phase == "decode" else "seq"
    if free.strip() not in ("", name):
        raise FlopscopeError(f"--formula with --phase {phase} is a polynomial in {name}: "
                             f"write --formula or --formula {name}")
    points: dict[int, tuple[int, int, int, int]] = {}

    def cost(point: tuple[int, ...]) -> tuple[int, int, int, int]:
        (n,) = point
        if n not in points:
            length, cached = (None, n) if phase == "decode" else (n, context)
            try:
                report, step = analyze_phase(model, phase, seq=length, context=cached, **settings)
            except FlopscopeError as exc:
                raise FlopscopeError(f"formula: analysing at {name}={n}: {exc}") from None
            points[n] = (step.macs, step.flops, report.totals.activation_bytes, step.kv_cache_bytes)
        return points[n]

    start = context if phase == "decode" else seq
    failed: dict[int, str] = {}
    polys, at = solve([Free(name)], [max(LOWEST, start - CHECK_OFFSET)], cost, failed,
                      labels=["MACs", "FLOPs", "activation bytes", "KV cache bytes"])
    meaning = "cached tokens a decode step reads" if phase == "decode" else "prompt tokens of the prefill"
    return assemble([name], ["macs", "flops", "activation_bytes", "kv_cache_bytes"], polys, at,
                    failed, [(n,) for n in points], {name: meaning})


#: formats whose output is data for a program: what a person must read goes to stderr
_DATA_FORMATS = ("csv", "json")


def side_notes(report: Report) -> list[str]:
    """The lower-bound warning and the notes, for stderr beside CSV or JSON output."""
    from flopscope.render.tables import lower_bound_warning

    warning = lower_bound_warning(report.coverage)
    return ([warning] if warning else []) + [f"note: {n}" for n in report.notes]
