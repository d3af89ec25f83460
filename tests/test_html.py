"""The notebook display and the short summary (flopscope/render/html.py)."""

from __future__ import annotations

import pytest

from flopscope.render.html import MAX_MODULES, TOP_LAYERS, to_html
from flopscope.render.text import summary
from tests.fake_reports import latency, synthetic


def test_html_of_5000_layers_stays_under_100_kb():
    html = to_html(synthetic(5000))
    assert len(html.encode("utf-8")) < 100_000
    assert html.count("<tr>") < TOP_LAYERS + MAX_MODULES + 40


def test_html_of_5000_layers_stays_small_in_the_worst_case():
    report = synthetic(5000)
    for i, l in enumerate(report.layers):              # every layer its own module, long names
        l.module = f"module_{i}_" + "m" * 200
        l.name = f"layer_{i}_" + "n" * 200
        l.output_shapes = [[1, 16, 8, 8]] * 50
    report.coverage.unsupported = {f"custom.Op{i}": 1 for i in range(500)}
    report.notes = ["n" * 5000] * 500
    size = len(to_html(report).encode("utf-8"))
    assert size < 100_000


def test_html_size_does_not_grow_with_the_layer_count():
    small, large = (len(to_html(synthetic(n))) for n in (50, 20_000))
    assert large < small + 200                                 # only the counts get longer


def test_html_has_totals_coverage_and_top_layers():
    report = synthetic(40)
    html = to_html(report)
    assert f"{report.totals.macs:,}" in html and f"{report.totals.flops:,}" in html
    assert "coverage 95.0% (38 of 40 nodes costed)" in html
    assert "unsupported: com.example.Fancy x1" in html and "unresolved: Relu x1" in html
    assert f"top {TOP_LAYERS} of 40 layers by FLOPs" in html
    heaviest = report.top(1)[0].name
    assert heaviest in html
    assert "symbolic dim N bound to 1" in html
    assert "convention: flopscope" in html


def test_html_escapes_names():
    report = synthetic(6, name="<b>model & co</b>")
    report.layers[0].name = '<script>alert("x")</script>'
    report.layers[0].flops = 10**9                             # the heaviest: shown
    report.notes.append("<img src=x>")
    html = to_html(report)
    assert "<script>" not in html and "<img" not in html and "<b>model" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    assert "&lt;b&gt;model &amp; co&lt;/b&gt;" in html


def test_long_names_and_many_notes_are_cut():
    report = synthetic(6)
    report.layers[0].name = "x" * 10_000
    report.layers[0].flops = 10**9
    report.notes += [f"note {i}" for i in range(1000)]
    html = to_html(report)
    assert "x" * 100 not in html and "x" * 70 in html
    assert "more note(s)" in html
    assert len(html) < 30_000


def test_html_of_an_empty_report():
    report = synthetic(4)
    report.layers = []
    assert "top" not in to_html(report)


def test_summary_is_a_few_lines():
    report = synthetic(5000)
    text = summary(report)
    lines = text.splitlines()
    assert lines[0] == "synthetic (onnx; x Nx16x8x8 float32)"
    assert lines[1].startswith("MACs ") and "FLOPs" in lines[1] and "params" in lines[1]
    assert "weights" in lines[2] and "peak activations 8 KiB" in lines[2]
    assert lines[3] == ("coverage 99.9% (4,998 of 5,000 nodes costed); unsupported: com.example.Fancy x1; "
                        "unresolved: Relu x1")
    assert len(lines) == 4 and len(text) < 400


def test_summary_with_latency():
    report = synthetic(6)
    report.latency = latency(1.5, cv=0.02)
    last = summary(report).splitlines()[-1]
    assert last == "latency p50 1.500 ms (cv 2.0%), p90 1.800 ms (cpu, 2 thread(s), batch 1)"
    report.latency.cv = 0.08
    assert "latency p50 1.500 ms (cv 8.0% ⚠ noisy)" in summary(report)
    assert "latency p50" in to_html(report)


def test_ipython_plain_text_is_the_short_repr():
    pretty = pytest.importorskip("IPython.lib.pretty")
    report = synthetic(5000)
    text = pretty.pretty(report)
    assert text == repr(report) and "\n" not in text and len(text) < 200


def test_report_command_writes_a_standalone_page(tmp_path):
    from flopscope.cli import main

    out = tmp_path / "r.html"
    assert main(["report", str(_tiny_onnx(tmp_path)), "--format", "html", "-o", str(out)]) == 0
    page = out.read_text()
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert "MACs" in page


def _tiny_onnx(tmp_path):
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.ones((4, 3, 3, 3), np.float32), "w")
    graph = helper.make_graph([helper.make_node("Conv", ["x", "w"], ["y"], kernel_shape=[3, 3])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [w])
    path = tmp_path / "tiny.onnx"
    onnx.save_model(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path
