"""The roofline view with fixed peaks (exact numbers), and the peak benchmarks themselves."""

from __future__ import annotations

import pytest

import flopscope
from flopscope.latency import roofline as rl
from tests.latency.nets import BN_FLOPS, CONV_FLOPS, TOTAL_FLOPS, conv_bn_relu

PEAKS = rl.HostPeaks(gflops_per_s=100.0, bandwidth_gb_per_s=10.0, threads=4)


@pytest.fixture
def report(tmp_path):
    return flopscope.analyze(conv_bn_relu(tmp_path, batch=1))


def test_classify_against_the_ridge():
    assert rl.classify(10.0, 10.0) == rl.COMPUTE
    assert rl.classify(9.99, 10.0) == rl.MEMORY
    assert rl.classify(None, 10.0) is None


def test_layers_on_the_roofline(report):
    view = rl.roofline(report, p50_ms=0.5, peaks=PEAKS)
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


def test_peaks_are_measured_with_the_runs_thread_count(report, monkeypatch):
    asked = []
    monkeypatch.setattr(rl, "host_peaks", lambda threads=None: asked.append(threads) or PEAKS)
    view = rl.roofline(report, p50_ms=1.0, threads=1)
    assert asked == [1]
    assert view.peak_gflops_per_s == 100.0
    assert any("with 4 thread(s)" in n for n in view.notes)


def test_layer_times_give_achieved_rates(report):
    group = CONV_FLOPS + BN_FLOPS
    view = rl.roofline(report, peaks=PEAKS, layer_times={"conv": (0.01, group)})
    conv = next(r for r in view.layers if r.name == "conv")
    assert conv.time_ms == 0.01
    assert conv.achieved_gflops_per_s == pytest.approx(group / 1e-5 / 1e9)
    assert conv.fraction_of_attainable == pytest.approx(conv.achieved_gflops_per_s /
                                                        conv.attainable_gflops_per_s)
    assert view.achieved_gflops_per_s is None and view.fraction_of_peak is None
    assert view.to_dict()["layers"][0]["name"] == "conv"


def test_peak_benchmarks_measure_something_small():
    assert rl.measure_peak_gflops(n=64, repeats=1, threads=1) > 0
    assert rl.measure_bandwidth(1 << 20, repeats=1) > 0


def test_host_peaks_are_measured_once_per_thread_count(monkeypatch):
    calls = []
    monkeypatch.setattr(rl, "measure_peak_gflops", lambda threads: calls.append(threads) or 50.0 * threads)
    monkeypatch.setattr(rl, "measure_bandwidth", lambda: calls.append("bw") or 5.0)
    rl.host_peaks.cache_clear()
    try:
        first = rl.host_peaks(1)
        assert rl.host_peaks(1) is first
        assert (first.gflops_per_s, first.bandwidth_gb_per_s, first.threads) == (50.0, 5.0, 1)
        assert rl.host_peaks(2).gflops_per_s == 100.0
        assert calls == [1, "bw", 2, "bw"]
    finally:
        rl.host_peaks.cache_clear()
