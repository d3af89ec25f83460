"""The roofline view with a synthetic host profile (exact numbers): its peaks come from
flopscope.latency.peaks, the one home of this host's peaks, and are never measured here."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import flopscope
from flopscope.latency import peaks
from flopscope.latency import roofline as rl
from tests.latency.nets import (
    BN_FLOPS,
    CONV_FLOPS,
    TOTAL_FLOPS,
    conv_bn_relu,
    synthetic_host,
    use_synthetic_host,
)

HOST = synthetic_host("a host", gflops=100.0, bandwidth=10.0)


@pytest.fixture
def report(tmp_path):
    return flopscope.analyze(conv_bn_relu(tmp_path, batch=1))


@pytest.fixture
def int8_report(tmp_path):
    """A MatMulInteger over a 64x64 int8 weight: 4,096 parameters in 4,096 bytes."""
    w = numpy_helper.from_array(np.ones((64, 64), dtype=np.int8), "w")
    graph = helper.make_graph([helper.make_node("MatMulInteger", ["x", "w"], ["y"], name="mmi")], "q",
                              [helper.make_tensor_value_info("x", TensorProto.INT8, [1, 64])],
                              [helper.make_tensor_value_info("y", TensorProto.INT32, [1, 64])], [w])
    path = tmp_path / "q.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return flopscope.analyze(path)


def test_classify_against_the_ridge():
    assert rl.classify(10.0, 10.0) == rl.COMPUTE
    assert rl.classify(9.99, 10.0) == rl.MEMORY
    assert rl.classify(None, 10.0) is None


def test_layers_on_the_roofline(report):
    view = rl.roofline(report, p50_ms=0.5, host=HOST)
    assert (view.peak_gflops_per_s, view.bandwidth_gb_per_s) == (100.0, 10.0)
    assert view.ridge_flops_per_byte == pytest.approx(10.0)
    rows = {r.name: r for r in view.layers}
    conv = rows["conv"]
    layer = next(l for l in report.layers if l.name == "conv")
    assert conv.flops == CONV_FLOPS
    assert conv.intensity == pytest.approx(CONV_FLOPS / layer.traffic_bytes)
    assert conv.bound == rl.classify(conv.intensity, 10.0)
    assert conv.attainable_gflops_per_s == pytest.approx(min(100.0, conv.intensity * 10.0))
    bn = rows["bn"]                                  # 2 FLOPs per 4-byte element read and written
    assert bn.bound == rl.MEMORY and bn.intensity < 1
    assert view.intensity == pytest.approx(TOTAL_FLOPS / report.totals.traffic_bytes)
    assert view.achieved_gflops_per_s == pytest.approx(TOTAL_FLOPS / 0.5e-3 / 1e9)
    assert view.fraction_of_peak == pytest.approx(view.achieved_gflops_per_s / 100.0)
    assert "(a host; today, cached by flopscope.latency.peaks): the fp32 compute peak" in view.notes[0]


def test_peaks_come_from_the_cached_host_profile_of_the_runs_preset(report, tmp_path, monkeypatch):
    measured = use_synthetic_host(monkeypatch, tmp_path / "cache", gflops=40.0, bandwidth=8.0)
    view = rl.roofline(report, p50_ms=1.0, preset="mobile", threads=1)
    again = rl.roofline(report, p50_ms=1.0, preset="mobile", threads=1)
    assert measured == [("mobile", 1)]               # measured once, then read from the cache
    assert (tmp_path / "cache" / peaks.CACHE_FILE).is_file()
    assert (view.peak_gflops_per_s, view.bandwidth_gb_per_s, view.ridge_flops_per_byte) == (40.0, 8.0, 5.0)
    assert view == again
    assert "| mobile | 1 threads" in view.notes[0]
    rl.roofline(report, threads=1)                   # the cpu preset by default: another entry
    assert measured == [("mobile", 1), ("cpu", 1)]


def test_an_int8_model_is_placed_under_the_int8_peak(report, int8_report):
    assert rl.roof_dtype(report) == "fp32" and rl.roof_dtype(int8_report) == "int8"
    host = synthetic_host("h", gflops=100.0, bandwidth=10.0, int8=400.0)
    assert rl.compute_roof(int8_report, host) == ("int8", 400.0)
    assert rl.compute_roof(report, host) == ("fp32", 100.0)
    view = rl.roofline(int8_report, host=host)
    assert view.peak_gflops_per_s == 400.0 and view.ridge_flops_per_byte == 40.0
    assert "the int8 compute peak" in view.notes[0] and len(view.notes) == 2
    # a host without an int8 peak: the fp32 roof, and a note saying so
    view = rl.roofline(int8_report, host=HOST)
    assert view.peak_gflops_per_s == 100.0
    assert "no int8 peak measured: the roof is the fp32 one" in view.notes[1]


def test_a_model_faster_than_the_peak_says_the_peaks_are_stale(report):
    slow = synthetic_host("slow", gflops=TOTAL_FLOPS / 1e-3 / 1e9 / 2, bandwidth=10.0)
    view = rl.roofline(report, p50_ms=1.0, host=slow)
    assert view.fraction_of_peak == pytest.approx(2.0)
    assert "refresh=True" in view.notes[-1]


def test_layer_times_give_achieved_rates(report):
    group = CONV_FLOPS + BN_FLOPS
    view = rl.roofline(report, host=HOST, layer_times={"conv": (0.01, group)})
    conv = next(r for r in view.layers if r.name == "conv")
    assert conv.time_ms == 0.01
    assert conv.achieved_gflops_per_s == pytest.approx(group / 1e-5 / 1e9)
    assert conv.fraction_of_attainable == pytest.approx(conv.achieved_gflops_per_s /
                                                        conv.attainable_gflops_per_s)
    assert view.achieved_gflops_per_s is None and view.fraction_of_peak is None
    assert view.to_dict()["layers"][0]["name"] == "conv"
