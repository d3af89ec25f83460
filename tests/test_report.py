"""The Report: JSON round trip and the rollups (by module, by op type, top layers)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from flopscope.analysis import analyze
from flopscope.render import render
from flopscope.report import (
    SCHEMA,
    UNSUPPORTED,
    Coverage,
    Latency,
    Layer,
    ModelInfo,
    Report,
    Totals,
)


def row(name, op, module, macs, flops, params=0, status="ok"):
    return Layer(name=name, op=op, module=module, output_shapes=[[1, 4]], macs=macs, flops=flops,
                 params=params, output_bytes=16, traffic_bytes=32, status=status)


def hand_report():
    layers = [
        row("stem", "Conv", "stem", 100, 200, params=10),
        row("b1c1", "Conv", "blocks.0.conv1", 400, 800, params=40),
        row("b1r", "Relu", "blocks.0", 0, 4),
        row("b2c1", "Conv", "blocks.1.conv1", 300, 600, params=30),
        row("b2x", "com.example.Fancy", "blocks.1", None, None, status=UNSUPPORTED),
        row("head", "Gemm", "head", 50, 99, params=55),
        row("flat", "Flatten", "", 0, 0),
    ]
    return Report(model=ModelInfo("hand", "onnx"), convention="flopscope",
                  totals=Totals(macs=850, flops=1703, params=135),
                  coverage=Coverage(nodes=7, costed=6, unsupported={"com.example.Fancy": 1}),
                  layers=layers)


# --------------------------------------------------------------------------- rollups


def test_by_module_depth_1():
    rows = hand_report().by_module(1)
    assert [(r.module, r.depth, r.layers, r.macs, r.flops, r.params) for r in rows] == [
        ("", 0, 7, 850, 1703, 135),
        ("stem", 1, 1, 100, 200, 10),
        ("blocks", 1, 4, 700, 1404, 70),
        ("head", 1, 1, 50, 99, 55),
    ]


def test_by_module_depth_3_is_a_tree_in_first_seen_order():
    rows = hand_report().by_module(3)
    assert [(r.module, r.layers, r.macs) for r in rows] == [
        ("", 7, 850), ("stem", 1, 100), ("blocks", 4, 700),
        ("blocks.0", 2, 400), ("blocks.0.conv1", 1, 400),
        ("blocks.1", 2, 300), ("blocks.1.conv1", 1, 300),
        ("head", 1, 50),
    ]
    assert hand_report().by_module(0) == hand_report().by_module(0)[:1]


def test_by_op_type_heaviest_first_with_unsupported_counts():
    rows = hand_report().by_op_type()
    assert [(r.op, r.count, r.macs, r.flops, r.params, r.unsupported) for r in rows] == [
        ("Conv", 3, 800, 1600, 80, 0),
        ("Gemm", 1, 50, 99, 55, 0),
        ("Relu", 1, 0, 4, 0, 0),
        ("Flatten", 1, 0, 0, 0, 0),
        ("com.example.Fancy", 1, 0, 0, 0, 1),
    ]


def test_top():
    report = hand_report()
    assert [l.name for l in report.top(2)] == ["b1c1", "b2c1"]
    assert [l.name for l in report.top(3, key="params")] == ["head", "b1c1", "b2c1"]
    assert [l.name for l in report.top(1, key="macs")] == ["b1c1"]
    assert len(report.top(100)) == 7                        # None costs sort as 0, nothing lost
    assert report.top(0) == []


def test_repr_is_one_short_line():
    report = hand_report()
    assert repr(report) == ("Report(hand: MACs 850, FLOPs 1.7 k, params 135, coverage 85.7% of 7 nodes, "
                            "1 not costed)")
    big = hand_report()
    big.layers = big.layers * 20_000
    assert repr(big) == repr(report)                        # the layers are not in it
    assert report.coverage.percent == pytest.approx(600 / 7)


def test_every_format_names_the_ops_not_costed():
    """Coverage, not a note, says which ops were left out; every format shows it."""
    from flopscope.render import FORMATS, summary
    from flopscope.render.dataframe import to_dataframe

    report = hand_report()
    assert not any("Fancy" in note for note in report.notes)
    for fmt in FORMATS:
        assert "com.example.Fancy" in render(report, fmt), fmt
    for fmt in ("text", "markdown", "html"):
        assert "unsupported: com.example.Fancy x1" in render(report, fmt), fmt
    assert json.loads(render(report, "json"))["coverage"]["unsupported"] == {"com.example.Fancy": 1}
    csv_rows = render(report, "csv").splitlines()
    assert "b2x,com.example.Fancy,blocks.1,1x4,,,0,16,32,unsupported,1,,," in csv_rows
    assert "unsupported: com.example.Fancy x1" in summary(report)
    frame = to_dataframe(report)
    assert frame.loc[frame["status"] == "unsupported", "op"].tolist() == ["com.example.Fancy"]


def test_rollups_of_a_real_report_sum_to_the_totals():
    nodes = [helper.make_node("MatMul", ["x", "w1"], ["h"], name="/enc/fc1/MatMul"),
             helper.make_node("Relu", ["h"], ["a"], name="/enc/act/Relu"),
             helper.make_node("MatMul", ["a", "w2"], ["y"], name="/dec/fc/MatMul")]
    graph = helper.make_graph(nodes, "mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 4])],
                              [numpy_helper.from_array(np.ones((8, 16), np.float32), "w1"),
                               numpy_helper.from_array(np.ones((16, 4), np.float32), "w2")])
    report = analyze(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]))
    assert report.totals.macs == 2 * 8 * 16 + 2 * 16 * 4
    root, *rest = report.by_module(1)
    assert (root.macs, root.flops, root.params) == (report.totals.macs, report.totals.flops,
                                                    report.totals.params)
    assert sum(r.macs for r in rest) == root.macs and [r.module for r in rest] == ["enc", "dec"]
    assert sum(r.flops for r in report.by_op_type()) == report.totals.flops
    assert report.top(1)[0].name == "/enc/fc1/MatMul"


# --------------------------------------------------------------------------- JSON


def real_report():
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name="/conv/Conv", kernel_shape=[3, 3]),
             helper.make_node("Odd", ["c"], ["y"], domain="com.example", name="/odd/Odd")]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 8, 8])
    graph = helper.make_graph(nodes, "rt", [x], [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              [numpy_helper.from_array(np.ones((8, 3, 3, 3), np.float32), "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                    helper.make_opsetid("com.example", 1)])
    return analyze(model)


def test_json_round_trip_of_an_analysed_model():
    report = real_report()
    assert report.notes and report.coverage.unsupported == {"com.example.Odd": 1}
    assert report.layers[-1].macs is None and report.layers[-1].output_shapes == [None]
    assert Report.from_json(report.to_json()) == report
    assert Report.from_json(render(report, "json")) == report


def test_json_round_trip_with_latency_and_buffers():
    report = hand_report()
    report.totals.trainable_params, report.totals.frozen_params = 100, 35
    report.totals.buffers, report.totals.buffer_bytes = 12, 48
    report.latency = Latency(preset="cpu", provider="CPUExecutionProvider", threads=4, batch=1,
                             iterations=50, p50_ms=1.5, p90_ms=1.75, p99_ms=2.0, mean_ms=1.6, std_ms=0.1,
                             gflops_per_s=3.25, label="x")
    again = Report.from_json(report.to_json(indent=2))
    assert again == report and isinstance(again.latency, Latency)
    assert Report.from_dict(json.loads(render(report, "json"))) == report


def test_json_has_exact_integers():
    data = json.loads(real_report().to_json())
    assert data["schema"] == SCHEMA
    assert all(type(v) is int for k, v in data["totals"].items() if v is not None), data["totals"]
    conv = data["layers"][0]
    assert all(type(conv[k]) is int for k in ("macs", "flops", "params", "output_bytes", "traffic_bytes"))


def test_from_json_ignores_added_fields_and_rejects_other_schemas():
    data = hand_report().to_dict()
    data["totals"]["future_field"] = 1
    data["layers"][0]["another"] = "x"
    data["extra"] = {}
    assert Report.from_dict(data) == hand_report()
    with pytest.raises(ValueError, match="schema"):
        Report.from_dict({**data, "schema": "something/2"})
    with pytest.raises(ValueError, match="not a JSON object"):
        Report.from_json("[1, 2]")
