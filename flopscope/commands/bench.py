"""``flopscope bench MODEL``: measured latency on ONNX Runtime with a named preset."""

from __future__ import annotations

import argparse

from flopscope.commands.common import add_model_options, emit
from flopscope.sources import parse_dims, parse_input_shapes

FORMATS = ("text", "markdown", "json")


def register(sub: argparse._SubParsersAction) -> None:
    from flopscope.latency.presets import PRESETS  # standard library only

    p = sub.add_parser(
        "bench", help="measure latency on ONNX Runtime",
        description="Measure a model's latency on ONNX Runtime: session creation and first run "
                    "apart, warm-up until the median settles, then timed runs; p50/p90/p99, cv, "
                    "throughput and achieved GFLOP/s. PyTorch models are exported to ONNX first.")
    add_model_options(p)
    p.add_argument("--preset", choices=list(PRESETS), default="cpu",
                   help="cpu: all physical cores, full optimisation; mobile: 1 pinned thread, "
                        "portable graph (mobile-like, x86 kernels); gpu: CUDA with IO binding")
    p.add_argument("--threads", type=int, metavar="N", help="intra-op threads (mobile: 1 to 4)")
    p.add_argument("--iterations", type=int, metavar="N", help="time exactly N runs")
    p.add_argument("--time-budget", type=float, metavar="S",
                   help="time runs for S seconds (default 3 s when --iterations is not given)")
    p.add_argument("--batch", type=int, metavar="N", help="bind the inputs' leading dim to N")
    p.add_argument("--per-layer", action="store_true",
                   help="add per-layer times from ONNX Runtime's profiler beside each layer's FLOPs")
    p.add_argument("--roofline", action="store_true",
                   help="add the roofline view: this host's peaks (measured once, cached), intensity "
                        "and bound per layer")
    p.add_argument("--protocol", choices=("quick", "mlperf"), default="quick",
                   help="quick (default): warm-up, then --iterations or --time-budget; mlperf: "
                        "SingleStream-like, at least 1,024 runs and 60 s, p90 the headline")
    p.add_argument("--predict", action="store_true",
                   help="add the latency predicted from this host's peaks (measured once, cached) "
                        "beside the measured one, and its error")
    p.add_argument("--format", choices=FORMATS, default="text",
                   help="text (default), markdown, or json (the report with its latency)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on a terminal")
    p.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")


def run(args: argparse.Namespace) -> int:
    from flopscope.commands.progress import progress_bar
    from flopscope.latency.benchmark import bench_report

    bar = progress_bar(False if args.no_progress else None)
    try:
        report = bench_report(args.model, preset=args.preset, threads=args.threads,
                              iterations=args.iterations, time_budget_s=args.time_budget,
                              batch=args.batch, progress=bar.update if bar is not None else None,
                              input_shapes=parse_input_shapes(args.input_shape),
                              dims=parse_dims(args.dim), per_layer=args.per_layer,
                              roofline=args.roofline, protocol=args.protocol,
                              predict=args.predict)
    finally:
        if bar is not None:
            bar.close()
    if args.format == "json":
        from flopscope.render import render
        text = render(report, "json")
    else:
        from flopscope.latency.render import render_latency
        text = render_latency(report, args.format)
    emit(text, args.output, [args.model])
    return 0
