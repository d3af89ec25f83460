"""The latency harness: ONNX Runtime sessions from named presets, a measurement protocol
for noisy machines, per-layer times from ORT's profiler and a roofline view.

>>> import flopscope
>>> lat = flopscope.bench("model.onnx", preset="cpu", iterations=100)   # doctest: +SKIP
>>> lat.p50_ms, lat.cv, lat.gflops_per_s                                # doctest: +SKIP

onnxruntime and numpy are imported when a measurement starts, not with this package.
"""

from __future__ import annotations

from flopscope.latency.harness import bench, bench_report
from flopscope.latency.presets import PRESETS, Preset

__all__ = ["PRESETS", "Preset", "bench", "bench_report"]
