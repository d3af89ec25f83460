"""Training cost: flopscope's static trace against a real CPU training step.

1. Time: ``flopscope.analyze("resnet50", (32, 3, 224, 224), mode="train")`` (forward and
   backward traced on meta tensors) against ``torch.utils.flop_counter.FlopCounterMode``
   around a real forward + backward of ResNet-50 at batch 32 on the CPU, with the MACs
   each reports (FlopCounterMode's FLOPs / 2).
2. Memory: ResNet-18 at batch 8, AdamW, fp32. flopscope's peak activation memory (the
   liveness walk over the traced step) and peak training memory against a real step
   under ``torch.profiler`` with ``profile_memory=True``: the weights, the gradients and
   AdamW's state are allocated by a warm-up step before profiling (they are counted from
   the tensors themselves), then the profiler's CPU memory peak over forward, backward
   and the optimizer step (the running sum of its allocation and free events, in time
   order, read from the profiler's event tree) is the transient peak.

Prints a Markdown table per part and writes ``benchmarks/results/training.json``.

    python benchmarks/training.py [--batch 32] [--memory-batch 8]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

import flopscope
from flopscope.models import catalog


def time_part(batch: int) -> dict:
    shape = (batch, 3, 224, 224)
    flopscope.analyze("resnet18", (1, 3, 64, 64), mode="train")   # warm-up: imports, caches
    start = time.perf_counter()
    report = flopscope.analyze("resnet50", shape, mode="train")
    ours = time.perf_counter() - start

    model = catalog.build("resnet50").train()
    x = torch.randn(shape)
    start = time.perf_counter()
    with FlopCounterMode(display=False) as counter:
        model(x).sum().backward()
    theirs = time.perf_counter() - start
    return {"model": "resnet50", "batch": batch, "flopscope_s": round(ours, 3),
            "flop_counter_s": round(theirs, 3), "speedup": round(theirs / ours, 2),
            "flopscope_train_macs": report.totals.macs,
            "flop_counter_macs": counter.get_total_flops() // 2}


def profiler_peak(step) -> int:
    """Peak of the running sum of the profiler's CPU allocation events (+size on
    allocation, −size on free, in time order) during ``step``."""
    from torch._C._profiler import _EventType
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        step()
    sizes, todo = [], list(prof.profiler.kineto_results.experimental_event_tree())
    while todo:
        event = todo.pop()
        todo.extend(event.children)
        if event.tag == _EventType.Allocation and event.extra_fields.device.type == "cpu":
            sizes.append((event.start_time_ns, event.extra_fields.alloc_size))
    live = peak = 0
    for _, size in sorted(sizes):
        live += size
        peak = max(peak, live)
    return peak


def memory_part(batch: int) -> dict:
    shape = (batch, 3, 224, 224)
    report = flopscope.analyze("resnet18", shape, mode="train", optimizer="adamw")
    t = report.totals

    model = catalog.build("resnet18").train()
    optimizer = torch.optim.AdamW(model.parameters(), foreach=False)
    x = torch.randn(shape)

    def step() -> None:
        optimizer.zero_grad(set_to_none=False)
        model(x).sum().backward()
        optimizer.step()

    step()                      # allocates the gradients and AdamW's state
    held = sum(p.numel() * p.element_size() for p in model.parameters())
    held += sum(b.numel() * b.element_size() for b in model.buffers())
    held += sum(p.grad.numel() * p.grad.element_size() for p in model.parameters())
    held += sum(v.numel() * v.element_size() for s in optimizer.state.values()
                for v in s.values() if torch.is_tensor(v) and v.dim() > 0)
    transient = profiler_peak(step)
    return {"model": "resnet18", "batch": batch, "optimizer": "adamw",
            "flopscope_peak_activation_bytes": t.peak_activation_bytes,
            "profiler_transient_peak_bytes": transient,
            "flopscope_peak_training_bytes": t.peak_training_bytes,
            "real_held_bytes": held,
            "real_peak_training_bytes": held + transient,
            "ratio": round(t.peak_training_bytes / (held + transient), 3),
            "flopscope_saved_activation_bytes": t.saved_activation_bytes}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--memory-batch", type=int, default=8)
    args = parser.parse_args()
    timing = time_part(args.batch)
    memory = memory_part(args.memory_batch)
    print("| model | batch | flopscope train trace (s) | FlopCounterMode real fwd+bwd (s) | "
          "speed-up | flopscope MACs | FlopCounterMode MACs |")
    print("|---|---|---|---|---|---|---|")
    print(f"| {timing['model']} | {timing['batch']} | {timing['flopscope_s']} | "
          f"{timing['flop_counter_s']} | {timing['speedup']}x | {timing['flopscope_train_macs']:,} | "
          f"{timing['flop_counter_macs']:,} |")
    print()
    print("| model | batch | flopscope peak activations | profiler transient peak | "
          "flopscope peak training | real held + transient | ratio |")
    print("|---|---|---|---|---|---|---|")
    print(f"| {memory['model']} | {memory['batch']} | {memory['flopscope_peak_activation_bytes']:,} | "
          f"{memory['profiler_transient_peak_bytes']:,} | {memory['flopscope_peak_training_bytes']:,} | "
          f"{memory['real_peak_training_bytes']:,} | {memory['ratio']} |")
    out = Path(__file__).parent / "results" / "training.json"
    out.write_text(json.dumps({"machine": platform.platform(), "python": platform.python_version(),
                               "torch": torch.__version__, "time": timing, "memory": memory},
                              indent=2) + "\n")


if __name__ == "__main__":
    main()
