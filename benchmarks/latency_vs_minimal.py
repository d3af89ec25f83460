"""The latency harness against a minimal hand-written ONNX Runtime loop.

For ResNet-50 and MobileNetV2, on identical session options (the ``cpu`` preset's), this
measures the p50 of ``flopscope.bench`` and of the shortest loop one could write by hand
(``session.run`` between two ``perf_counter`` calls, median by ``statistics.median``),
five times, in pairs that alternate which loop goes first (minimal-harness,
harness-minimal, ...) so that a slow drift of the machine's speed affects both alike. It
prints a Markdown table and writes the numbers as JSON to ``benchmarks/results/``. Before
each measurement it waits (up to 30 s) for other processes to leave the CPUs idle, and it
records the share of the CPUs they used during each measurement.

    python benchmarks/latency_vs_minimal.py                 # about a minute on 2 cores
    python benchmarks/latency_vs_minimal.py --quick         # a smoke run

Models: ``flopscope.models.catalog`` when it is installed (exported with
``flopscope.export_onnx``); otherwise ResNet-50 is the ONNX model zoo's
``light_resnet50.onnx`` shipped inside the onnx wheel, and MobileNetV2 the torchvision
architecture written out below.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

import flopscope
from flopscope.latency import PRESETS
from flopscope.latency.presets import cpu_name, physical_cores

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "latency_vs_minimal.json"
#: timed runs per measurement, by model
ITERATIONS = {"resnet50": 40, "mobilenet_v2": 200}
WARMUP = 10
#: before each measurement, wait until the other processes use at most this share of the CPUs...
QUIET_BUSY = 0.10
#: ...for at most this long
QUIET_PATIENCE_S = 30.0


# --------------------------------------------------------------------------- models


def _catalog_build(name: str):
    try:
        from flopscope.models import catalog
    except ImportError:
        return None
    try:
        return catalog.build(name)
    except Exception:
        return None


def _mobilenet_v2():
    """torchvision's MobileNetV2 (width 1.0, 224x224, ReLU6, BatchNorm), for when
    flopscope.models has none."""
    import torch
    from torch import nn

    def conv_bn(cin, cout, k, stride, groups=1, act=True):
        layers = [nn.Conv2d(cin, cout, k, stride, (k - 1) // 2, groups=groups, bias=False),
                  nn.BatchNorm2d(cout)]
        return nn.Sequential(*layers, nn.ReLU6(inplace=True)) if act else nn.Sequential(*layers)

    class Inverted(nn.Module):
        def __init__(self, cin, cout, stride, expand):
            super().__init__()
            hidden = cin * expand
            layers = [conv_bn(cin, hidden, 1, 1)] if expand != 1 else []
            layers += [conv_bn(hidden, hidden, 3, stride, groups=hidden),
                       conv_bn(hidden, cout, 1, 1, act=False)]
            self.conv = nn.Sequential(*layers)
            self.residual = stride == 1 and cin == cout

        def forward(self, x):
            return x + self.conv(x) if self.residual else self.conv(x)

    settings = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
                (6, 160, 3, 2), (6, 320, 1, 1)]
    layers, cin = [conv_bn(3, 32, 3, 2)], 32
    for t, c, n, s in settings:
        for i in range(n):
            layers.append(Inverted(cin, c, s if i == 0 else 1, t))
            cin = c
    layers.append(conv_bn(cin, 1280, 1, 1))
    model = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.2),
                          nn.Linear(1280, 1000))
    torch.manual_seed(0)
    return model.eval()


def model_file(name: str, folder: Path) -> tuple[Path, str]:
    """(ONNX path, where it came from) for ``resnet50`` or ``mobilenet_v2``."""
    built = _catalog_build(name)
    if built is not None:
        path = folder / f"{name}.onnx"
        flopscope.export_onnx(built, (1, 3, 224, 224), path)
        return path, "flopscope.models.catalog, exported with flopscope.export_onnx"
    if name == "resnet50":
        light = Path(onnx.__file__).parent / "backend/test/data/light/light_resnet50.onnx"
        return light, "ONNX model zoo light_resnet50.onnx (from the onnx wheel)"
    path = folder / f"{name}.onnx"
    flopscope.export_onnx(_mobilenet_v2(), (1, 3, 224, 224), path)
    return path, "torchvision-architecture MobileNetV2 in this script, exported with flopscope.export_onnx"


# --------------------------------------------------------------------------- the two loops


def minimal_p50_ms(path: Path, threads: int, iterations: int) -> float:
    """The shortest honest loop: the cpu preset's options, WARMUP runs, then ``iterations``."""
    so = PRESETS["cpu"].session_options(threads)
    session = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    x = session.get_inputs()[0]
    feeds = {x.name: np.random.default_rng(0).standard_normal((1, 3, 224, 224)).astype(np.float32)}
    for _ in range(WARMUP):
        session.run(None, feeds)
    times = []
    for _ in range(iterations):
        t0 = time.perf_counter()
        session.run(None, feeds)
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def harness_p50_ms(path: Path, threads: int, iterations: int) -> float:
    return flopscope.bench(path, preset="cpu", threads=threads, iterations=iterations).p50_ms


# --------------------------------------------------------------------------- a quiet machine


def _cpu_times() -> tuple[int, int] | None:
    try:
        with open("/proc/stat", encoding="ascii") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
    except OSError:
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return sum(fields), idle


def busy_fraction(seconds: float = 0.5) -> float | None:
    """Share of all CPUs busy over ``seconds`` (other processes: this one sleeps)."""
    first = _cpu_times()
    time.sleep(seconds)
    second = _cpu_times()
    if first is None or second is None or second[0] == first[0]:
        return None
    return 1 - (second[1] - first[1]) / (second[0] - first[0])


def others_busy(fn):
    """Run ``fn``; its result and the share of all CPUs that *other* processes used meanwhile
    (the machine's busy time from /proc/stat less this process's own CPU time)."""
    before, own_before = _cpu_times(), time.process_time()
    result = fn()
    after, own = _cpu_times(), time.process_time() - own_before
    if before is None or after is None or after[0] == before[0]:
        return result, None
    ticks = os.sysconf("SC_CLK_TCK")
    total, busy = after[0] - before[0], (after[0] - before[0]) - (after[1] - before[1])
    return result, max(0.0, (busy - own * ticks) / total)


def wait_for_quiet(limit: float = QUIET_BUSY, patience_s: float = QUIET_PATIENCE_S) -> float | None:
    """Wait (up to ``patience_s``) until other processes leave the CPUs nearly idle, so that
    a neighbour's test run does not land inside one measurement; the last busy share seen."""
    deadline = time.monotonic() + patience_s
    busy = busy_fraction()
    while busy is not None and busy > limit and time.monotonic() < deadline:
        busy = busy_fraction()
    return busy


# --------------------------------------------------------------------------- report


def machine() -> dict:
    return {"cpu": cpu_name(), "logical_cpus": os.cpu_count(), "physical_cores": physical_cores(),
            "onnxruntime": ort.__version__, "numpy": np.__version__, "python": platform.python_version(),
            "load_average_start": os.getloadavg() if hasattr(os, "getloadavg") else None}


def measure(name: str, path: Path, threads: int, repeats: int, iterations: int) -> dict:
    pairs = []
    for i in range(repeats):
        order = ("minimal", "harness") if i % 2 == 0 else ("harness", "minimal")   # ABBA: drift cancels
        got = {}
        for which in order:
            wait_for_quiet()
            loop = minimal_p50_ms if which == "minimal" else harness_p50_ms
            got[which] = others_busy(lambda loop=loop: loop(path, threads, iterations))
        (minimal, minimal_noise), (harness, harness_noise) = got["minimal"], got["harness"]
        pairs.append({"minimal_p50_ms": minimal, "harness_p50_ms": harness, "ratio": harness / minimal,
                      "others_cpu_share": [minimal_noise, harness_noise]})
        print(f"  {name} run {i + 1}/{repeats}: harness {harness:.2f} ms, minimal {minimal:.2f} ms "
              f"(other processes' CPU share: {_share(harness_noise)}, {_share(minimal_noise)})",
              file=sys.stderr)
    harness = [p["harness_p50_ms"] for p in pairs]
    minimal = [p["minimal_p50_ms"] for p in pairs]
    return {
        "model": name, "iterations": iterations, "threads": threads, "pairs": pairs,
        "first_pair_ratio": pairs[0]["ratio"],
        "median_ratio": statistics.median(p["ratio"] for p in pairs),
        "best_p50_ratio": min(harness) / min(minimal),
        "harness_p50_min_ms": min(harness), "harness_p50_max_ms": max(harness),
        "harness_p50_median_ms": statistics.median(harness),
        "harness_p50_relative_spread": (max(harness) - min(harness)) / statistics.median(harness),
    }


def _share(value: float | None) -> str:
    return "?" if value is None else f"{100 * value:.0f}%"


def markdown(results: list[dict], info: dict) -> str:
    lines = [f"Machine: {info['cpu']}, {info['physical_cores']} physical cores "
             f"({info['logical_cpus']} logical), onnxruntime {info['onnxruntime']}; cpu preset "
             f"({results[0]['threads']} intra-op threads, full optimisation).", "",
             "| model | runs timed | harness p50 (ms) | minimal loop p50 (ms) | ratio | median ratio of "
             f"{len(results[0]['pairs'])} pairs | ratio of best p50s | harness p50 over "
             f"{len(results[0]['pairs'])} runs: min / median / max (ms) | relative spread |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        first = r["pairs"][0]
        lines.append(f"| {r['model']} | {r['iterations']} | {first['harness_p50_ms']:.2f} | "
                     f"{first['minimal_p50_ms']:.2f} | {first['ratio']:.3f} | {r['median_ratio']:.3f} | "
                     f"{r['best_p50_ratio']:.3f} | {r['harness_p50_min_ms']:.2f} / "
                     f"{r['harness_p50_median_ms']:.2f} / {r['harness_p50_max_ms']:.2f} | "
                     f"{100 * r['harness_p50_relative_spread']:.1f}% |")
    noise = []
    for r in results:
        shares = [f"({_share(p['others_cpu_share'][1])}, {_share(p['others_cpu_share'][0])})"
                  for p in r["pairs"]]
        noise.append(f"{r['model']}: {', '.join(shares)}")
    lines += ["", "Other processes' share of the CPUs during each measurement (harness, minimal): "
              + "; ".join(noise) + "."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="few iterations: a smoke run")
    parser.add_argument("--models", default="resnet50,mobilenet_v2")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    threads = physical_cores()
    info = machine()
    results = []
    with tempfile.TemporaryDirectory(prefix="flopscope-benchmark-") as tmp:
        for name in args.models.split(","):
            path, source = model_file(name, Path(tmp))
            iterations = 5 if args.quick else ITERATIONS.get(name, 50)
            result = measure(name, path, threads, args.repeats, iterations)
            result["source"] = source
            results.append(result)
    info["load_average_end"] = os.getloadavg() if hasattr(os, "getloadavg") else None
    text = markdown(results, info)
    sys.stdout.write(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"machine": info, "results": results}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
