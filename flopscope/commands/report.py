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
    p.add_argument("--phase", choices=("prefill", "decode"),
                   help="LLM phase of a decoder model: a prefill of --seq tokens, or one decode "
                        "step against a KV cache of --context tokens; adds per-token figures")
    p.add_argument("--context", type=int, default=None, metavar="N",
                   help="with --phase: tokens already in the KV cache (decode default 127)")
    p.add_argument("--batch", type=int, default=1, metavar="N",
                   help="with --phase: sequences per step (default 1)")
    p.add_argument("--trust-remote-code", action="store_true",
                   help="hf: models: allow a config that needs custom code from the Hub (auto_map)")


def run(args: argparse.Namespace) -> int:
    from flopscope.analysis import analyze
    from flopscope.render import render

    non_negative("--depth", args.depth)
    non_negative("--top", args.top)
    non_negative("--seq", args.seq)
    if args.phase:
        return _run_phase(args)
    model = with_options(resolve(args.model), seq=args.seq,
                         trust_remote_code=args.trust_remote_code)
    report = analyze(model, input_shapes=parse_input_shapes(args.input_shape),
                     dims=parse_dims(args.dim), convention=args.convention)
    emit(render(report, args.format, depth=args.depth, top=args.top), args.output, [args.model])
    return 0


def _run_phase(args: argparse.Namespace) -> int:
    import json

    from flopscope.phases import analyze_phase
    from flopscope.render import render

    context = args.context if args.context is not None else (127 if args.phase == "decode" else 0)
    report, cost = analyze_phase(args.model, args.phase, seq=args.seq, context=context,
                                 batch=args.batch, trust_remote_code=args.trust_remote_code)
    if args.format == "json":
        data = json.loads(render(report, "json", depth=args.depth, top=args.top))
        data["phase"] = cost.as_dict()
        text = json.dumps(data, indent=2)
    else:
        text = render(report, args.format, depth=args.depth, top=args.top).rstrip("\n")
        text += "\n\n" + cost.text() + "\n"
    emit(text, args.output, [args.model])
    return 0
