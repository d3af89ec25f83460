"""flopscope: static complexity profiler for PyTorch and ONNX models.

>>> import flopscope
>>> report = flopscope.analyze("model.onnx")
>>> report.totals.macs, report.totals.params
(5328, 1562)
>>> print(flopscope.summary(report))
model (onnx; x 1x3x8x8 float32)
MACs 5.33 k · FLOPs 10.8 k · params 1.56 k
weights 6.1 KiB · peak activations 1.31 KiB
coverage 100.0% (4 of 4 nodes costed)
>>> flopscope.to_dataframe(report).nlargest(2, "flops")[["name", "op", "macs", "flops"]]
   name    op  macs  flops
0  conv  Conv  3888   7776
3    fc  Gemm  1440   2880
>>> fig = flopscope.plot.plot(report, "layers")

Heavy modules (onnx, torch, pandas, matplotlib) are imported only when a function needs
them. Imported inside IPython (a notebook), flopscope registers the compact HTML view of
:mod:`flopscope.render.html` as the display of a Report, by the class's dotted name: the
Report itself imports no presenter, and nothing is imported until a report is shown.
"""

from __future__ import annotations

import sys
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "analyze": ("flopscope.analysis", "analyze"),
    "load_graph": ("flopscope.analysis", "load_graph"),
    "fit_formulas": ("flopscope.formulas", "fit"),
    "Report": ("flopscope.report", "Report"),
    "FlopscopeError": ("flopscope.errors", "FlopscopeError"),
    "export_onnx": ("flopscope.export", "export_onnx"),
    "bench": ("flopscope.latency", "bench"),
    "compare": ("flopscope.comparison", "compare"),
    "summary": ("flopscope.render", "summary"),
    "to_dataframe": ("flopscope.render.dataframe", "to_dataframe"),
}
#: submodules reachable as attributes without an import statement (``flopscope.plot.plot``,
#: ``flopscope.render.render``)
_SUBMODULES = ("plot", "render")

__all__ = ["__version__", *_LAZY, *_SUBMODULES]


def __getattr__(name: str) -> Any:
    import importlib

    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    if name in _LAZY:
        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'flopscope' has no attribute '{name}'")


def __dir__() -> list[str]:
    return sorted(__all__)


def _report_html(report: Any) -> str:
    from flopscope.render.html import to_html

    return to_html(report)


def _register_notebook_display() -> None:
    """Show a Report as its compact HTML in IPython, when flopscope is imported there.

    Registered by name (``for_type_by_name``), for flopscope's own class only; outside
    IPython, or when IPython is installed but not running, nothing happens.
    """
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    if shell is None:
        return
    formatter = shell.display_formatter.formatters["text/html"]
    formatter.for_type_by_name("flopscope.report", "Report", _report_html)


_register_notebook_display()
