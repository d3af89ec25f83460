"""flopscope: static complexity profiler for PyTorch and ONNX models.

>>> import flopscope
>>> report = flopscope.analyze("model.onnx")            # doctest: +SKIP
>>> report.totals.macs, report.totals.params            # doctest: +SKIP

Heavy modules (onnx, torch, pandas) are imported only when a function needs them.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "analyze": ("flopscope.analysis", "analyze"),
    "load_graph": ("flopscope.analysis", "load_graph"),
    "Report": ("flopscope.report", "Report"),
    "FlopscopeError": ("flopscope.errors", "FlopscopeError"),
    "export_onnx": ("flopscope.export", "export_onnx"),
    "bench": ("flopscope.latency", "bench"),
    "compare": ("flopscope.comparison", "compare"),
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib
        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'flopscope' has no attribute '{name}'")


def __dir__() -> list[str]:
    return sorted(__all__)
