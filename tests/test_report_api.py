"""The Report as a notebook API: JSON round-trip equality, and the functions a notebook uses
(the Report is plain data: its presenters are functions that take it)."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from unittest.mock import patch

import flopscope
from flopscope import report as report_module
from flopscope.render.html import to_html
from flopscope.report import Report
from tests.fake_reports import latency, synthetic


def test_json_round_trip_is_equal():
    report = synthetic(50)
    assert Report.from_json(report.to_json()) == report
    assert Report.from_json(report.to_json(indent=2)) == report


def test_json_round_trip_with_latency_profile_and_roofline():
    report = synthetic(10)
    report.latency = latency(1.25, per_layer={"runs": 10, "layers": [{"name": "a", "time_ms": 0.5}]},
                             roofline={"peak_gflops_per_s": 90.5, "layers": []}, notes=["quiet host"])
    report.layers[0].output_shapes = [["N", 16, 8, 8], None]
    report.layers[0].repeat = 3
    again = Report.from_json(report.to_json())
    assert again == report
    assert again.to_json() == report.to_json()


def test_json_round_trip_of_an_analysed_model():
    from torch import nn

    model = nn.Sequential(nn.Conv2d(3, 8, 3, groups=1), nn.BatchNorm2d(8), nn.ReLU(), nn.Flatten(),
                          nn.Linear(8 * 14 * 14, 10))
    report = flopscope.analyze(model, (2, 3, 16, 16))
    assert Report.from_json(report.to_json()) == report
    assert json.loads(report.to_json())["totals"]["macs"] == report.totals.macs


def test_the_notebook_surface():
    report = synthetic(10)
    assert report.totals.macs == sum(l.macs or 0 for l in report.layers)
    assert len(report.layers) == 10
    assert report.by_module(1)[0].flops == report.totals.flops
    assert {r.op for r in report.by_op_type()} == {"Conv", "Relu", "com.example.Fancy"}
    assert report.coverage.unsupported == {"com.example.Fancy": 1}
    assert flopscope.summary(report).startswith("synthetic (onnx")
    assert len(flopscope.to_dataframe(report)) == 10
    assert flopscope.plot.plot(report, "layers").axes
    assert repr(report).startswith("Report(synthetic: MACs ")


def test_presentation_is_functions_not_report_methods():
    for name in ("summary", "to_dataframe", "plot", "unsupported", "_repr_html_", "_repr_pretty_"):
        assert not hasattr(Report, name), name
    from flopscope.render import summary
    from flopscope.render.dataframe import to_dataframe

    assert flopscope.summary is summary and flopscope.to_dataframe is to_dataframe
    assert {"summary", "to_dataframe", "plot"} <= set(dir(flopscope))


def test_report_imports_no_presenter():
    """report.py names neither flopscope.render nor flopscope.plot (nor pandas, matplotlib),
    not even inside a function; importing it loads none of them."""
    source = Path(report_module.__file__).read_text(encoding="utf-8")
    imported = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module or "")
    assert imported == {"__future__", "json", "collections.abc", "dataclasses", "typing", "flopscope.units"}
    code = ("import sys, flopscope.report; "
            "print(sorted(m for m in sys.modules if m.startswith(('flopscope.render', 'flopscope.plot', "
            "'pandas', 'matplotlib', 'IPython'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_ipython_shows_a_report_as_its_html_registered_by_name():
    class Formatter:
        def __init__(self):
            self.registered = {}

        def for_type_by_name(self, module, name, func):
            self.registered[(module, name)] = func

    html = Formatter()
    shell = SimpleNamespace(display_formatter=SimpleNamespace(formatters={"text/html": html}))
    fake_ipython = SimpleNamespace(get_ipython=lambda: shell)
    with patch.dict(sys.modules, {"IPython": fake_ipython}):
        flopscope._register_notebook_display()
    show = html.registered[("flopscope.report", "Report")]
    report = synthetic(10)
    assert show(report) == to_html(report)
    with patch.dict(sys.modules, {"IPython": SimpleNamespace(get_ipython=lambda: None)}):
        flopscope._register_notebook_display()                    # IPython installed, not running


def test_compare_is_exported_lazily():
    assert "compare" in dir(flopscope)
    from flopscope.comparison import compare

    assert flopscope.compare is compare
