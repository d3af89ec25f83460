"""The latency harness: ONNX Runtime sessions from named presets (``session``), a
measurement protocol for noisy machines (``measure``, ``stats``), bench orchestration
(``benchmark``), per-layer times from ORT's profiler (``profile``) and a roofline view.

>>> import flopscope
>>> lat = flopscope.bench("model.onnx", preset="cpu", iterations=100)
>>> lat.label, lat.p50_ms > 0, lat.cv >= 0, lat.gflops_per_s > 0
('cpu', True, True, True)

onnxruntime and numpy are imported when a measurement starts, not with this package.
"""

from __future__ import annotations

from typing import Any

_LAZY = {"bench": "benchmark", "bench_report": "benchmark", "PRESETS": "presets", "Preset": "presets"}

__all__ = ["PRESETS", "Preset", "bench", "bench_report"]


def __getattr__(name: str) -> Any:
    # the CLI reads the preset names at start-up: that must not import the measurement (numpy)
    if name in _LAZY:
        import importlib
        value = getattr(importlib.import_module(f"flopscope.latency.{_LAZY[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'flopscope.latency' has no attribute '{name}'")
