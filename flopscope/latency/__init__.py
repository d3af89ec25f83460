"""The latency harness: ONNX Runtime sessions from named presets, a measurement protocol
for noisy machines, per-layer times from ORT's profiler and a roofline view.

>>> import flopscope
>>> lat = flopscope.bench("model.onnx", preset="cpu", iterations=100)   # doctest: +SKIP
>>> lat.p50_ms, lat.cv, lat.gflops_per_s                                # doctest: +SKIP

onnxruntime and numpy are imported when a measurement starts, not with this package.
"""

from __future__ import annotations

from typing import Any

_LAZY = {"bench": "harness", "bench_report": "harness", "PRESETS": "presets", "Preset": "presets"}

__all__ = ["PRESETS", "Preset", "bench", "bench_report"]


def __getattr__(name: str) -> Any:
    # the CLI reads the preset names at start-up: that must not import the harness (numpy)
    if name in _LAZY:
        import importlib
        value = getattr(importlib.import_module(f"flopscope.latency.{_LAZY[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'flopscope.latency' has no attribute '{name}'")
