"""The Report as a notebook API: JSON round-trip equality and the methods a notebook uses."""

from __future__ import annotations

import json

import flopscope
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
    assert report.unsupported == {"com.example.Fancy": 1}
    assert report.summary().startswith("synthetic (onnx")
    assert report._repr_html_().startswith("<style>")
    assert len(report.to_dataframe()) == 10


def test_compare_is_exported_lazily():
    assert "compare" in dir(flopscope)
    from flopscope.comparison import compare

    assert flopscope.compare is compare
