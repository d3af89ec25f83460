"""PyTorch path: flopscope against fvcore, ptflops and torch.utils.flop_counter.

Each tool analyses the same ``nn.Module`` (real weights, eval mode) at 1x3x224x224, in
one process after a warm-up call, best of ``--repeats``; flopscope is also timed on the
reference name, which builds the model on the meta device. Prints a Markdown table with
each tool's time, its ratio to flopscope's and the MACs it reports; writes
``benchmarks/results/pytorch_path.json``.

    python benchmarks/pytorch_path.py [--models resnet50,mobilenet_v2,vgg16] [--repeats 5]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import platform
import time
import warnings
from pathlib import Path

import torch

import flopscope
from flopscope.models import catalog


def best_of(fn, repeats: int) -> tuple[float, object]:
    fn()  # warm-up: first-call caches are not what a user waits for twice
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def fvcore_macs(model, x):
    from fvcore.nn import FlopCountAnalysis

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        analysis = FlopCountAnalysis(model, x)
        analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
        return analysis.total()


def ptflops_macs(model, x):
    from ptflops import get_model_complexity_info

    with contextlib.redirect_stdout(io.StringIO()):
        macs, _ = get_model_complexity_info(model, tuple(x.shape[1:]), as_strings=False,
                                            print_per_layer_stat=False, verbose=False)
    return macs


def flop_counter_macs(model, x):
    from torch.utils.flop_counter import FlopCounterMode

    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(x)
    return counter.get_total_flops() // 2        # it reports 2 x MACs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="resnet50,mobilenet_v2,resnet18,vgg16")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    rows = []
    for name in args.models.split(","):
        model = catalog.build(name).eval()
        x = torch.randn(*catalog.spec(name).input_shape)
        tools = {
            "flopscope (module)": lambda m=model, x=x: flopscope.analyze(m, tuple(x.shape)).totals.macs,
            "flopscope (name, meta)": lambda n=name: flopscope.analyze(n).totals.macs,
            "fvcore": lambda m=model, x=x: fvcore_macs(m, x),
            "ptflops": lambda m=model, x=x: ptflops_macs(m, x),
            "torch.utils.flop_counter": lambda m=model, x=x: flop_counter_macs(m, x),
        }
        timings = {tool: best_of(fn, args.repeats) for tool, fn in tools.items()}
        base = timings["flopscope (module)"][0]
        for tool, (seconds, macs) in timings.items():
            rows.append({"model": name, "tool": tool, "seconds": seconds, "ratio": seconds / base,
                         "macs": int(macs)})
    print(f"machine: {platform.processor() or platform.machine()}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, best of {args.repeats} after a warm-up\n")
    print("| model | tool | time (ms) | x flopscope (module) | MACs reported |")
    print("|---|---|---:|---:|---:|")
    for r in rows:
        print(f"| {r['model']} | {r['tool']} | {r['seconds'] * 1e3:.1f} | {r['ratio']:.2f} | {r['macs']:,} |")
    out = Path(__file__).parent / "results" / "pytorch_path.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
