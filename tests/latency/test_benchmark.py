"""Bench orchestration end to end on a tiny model: a well-formed Latency (nothing about
speed), the caller's analysis used as it is, and no output of its own."""

from __future__ import annotations

import dataclasses
import glob
import os
import tempfile

import onnx
import pytest

import flopscope
from flopscope import analysis
from flopscope.errors import FlopscopeError
from flopscope.latency import PRESETS, bench, bench_report, benchmark
from flopscope.report import Latency, Report
from tests.latency.nets import TOTAL_FLOPS, conv_bn_relu, conv_bn_relu_model, use_synthetic_host

FAST = {"warmup_budget_s": 0.0}


def test_bench_returns_a_well_formed_latency(tmp_path):
    path = conv_bn_relu(tmp_path)
    lat = bench(path, iterations=5, **FAST)
    assert isinstance(lat, Latency)
    assert (lat.preset, lat.provider, lat.batch, lat.iterations) == ("cpu", "CPUExecutionProvider", 1, 5)
    assert 0 < lat.min_ms <= lat.p50_ms <= lat.p90_ms <= lat.p99_ms
    assert lat.mean_ms > 0 and lat.std_ms >= 0
    assert lat.cv == pytest.approx(lat.std_ms / lat.mean_ms)
    assert lat.session_ms > 0 and lat.first_run_ms > 0
    assert lat.warmup_runs >= 10
    assert lat.flops == TOTAL_FLOPS
    assert lat.gflops_per_s == pytest.approx(TOTAL_FLOPS / (lat.p50_ms / 1e3) / 1e9)
    assert lat.throughput_per_s == pytest.approx(1e3 / lat.p50_ms)
    assert lat.label == "cpu" and lat.device
    assert lat.settings["graph_optimization_level"] == "ORT_ENABLE_ALL"
    assert lat.per_layer is None and lat.roofline is None
    assert os.listdir(tmp_path) == ["net.onnx"]


def test_lazy_entry_point_and_report_json(tmp_path):
    report = bench_report(conv_bn_relu(tmp_path), iterations=3, **FAST)
    assert flopscope.bench is bench
    data = Report.from_json(report.to_json()).to_dict()["latency"]
    for key in ("preset", "provider", "threads", "batch", "iterations", "p50_ms", "p90_ms",
                "p99_ms", "mean_ms", "std_ms"):
        assert key in data
    assert data["iterations"] == 3


def test_batch_binds_the_symbolic_leading_dim(tmp_path):
    lat = bench(conv_bn_relu(tmp_path), iterations=2, batch=4, **FAST)
    assert lat.batch == 4 and lat.flops == 4 * TOTAL_FLOPS
    assert lat.throughput_per_s == pytest.approx(4e3 / lat.p50_ms)


def test_batch_against_a_fixed_dim_is_an_error(tmp_path):
    with pytest.raises(FlopscopeError, match="fixed at 1"):
        bench(conv_bn_relu(tmp_path, batch=1), iterations=1, batch=2, **FAST)


def test_given_report_supplies_the_flops_and_receives_the_latency(tmp_path):
    path = conv_bn_relu(tmp_path)
    report = flopscope.analyze(path, convention="2mac")
    lat = bench(path, iterations=2, report=report, **FAST)
    assert report.latency is lat
    assert lat.flops == report.totals.flops != TOTAL_FLOPS


def test_time_budget_runs_at_least_ten(tmp_path):
    lat = bench(conv_bn_relu(tmp_path), time_budget_s=0.001, **FAST)
    assert lat.iterations >= 10


@pytest.mark.parametrize("kwargs", [{"iterations": 0}, {"time_budget_s": -1.0}, {"batch": 0},
                                    {"preset": "tpu"}, {"threads": 0}])
def test_bad_arguments(tmp_path, kwargs):
    with pytest.raises(FlopscopeError):
        bench(conv_bn_relu(tmp_path), **{"iterations": 1, **kwargs})


def test_model_proto_and_per_layer_and_roofline(tmp_path, monkeypatch):
    measured = use_synthetic_host(monkeypatch, tmp_path, gflops=100.0, bandwidth=10.0)
    lat = bench(conv_bn_relu_model(), iterations=2, per_layer=True, roofline=True, threads=1, **FAST)
    assert measured == [("cpu", 1)]                  # the host profile of the run's preset and threads
    rows = {r["name"]: r for r in lat.per_layer["layers"]}
    assert rows["conv"]["status"] == "measured" and rows["bn"]["fused_into"] == "conv"
    assert lat.roofline["peak_gflops_per_s"] == 100.0 and lat.roofline["bandwidth_gb_per_s"] == 10.0
    assert lat.roofline["ridge_flops_per_byte"] == pytest.approx(100.0 / 10.0)
    assert lat.roofline["layers"][0]["time_ms"] == rows["conv"]["time_ms"]


def test_pytorch_model_is_exported_to_a_temporary_folder_and_cleaned_up():
    torch = pytest.importorskip("torch")
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU())
    pattern = os.path.join(tempfile.gettempdir(), "flopscope-bench-*")
    before = set(glob.glob(pattern))
    report = bench_report(model, (1, 3, 8, 8), iterations=2, batch=2, **FAST)
    assert set(glob.glob(pattern)) == before
    assert report.latency.batch == 2
    assert report.model.inputs[0].shape == [2, 3, 8, 8]
    assert report.totals.macs == 2 * 4 * 6 * 6 * 27
    assert any("exported to ONNX" in n for n in report.latency.notes)


def test_onnx_loader_errors_are_one_line(tmp_path):
    bad = tmp_path / "bad.onnx"
    model = conv_bn_relu_model(batch=1)
    model.graph.node[0].op_type = "NoSuchOp"
    model.graph.node[0].domain = "custom.domain"
    onnx.save(model, str(bad))
    with pytest.raises(FlopscopeError) as err:
        bench(bad, iterations=1, **FAST)
    assert "\n" not in str(err.value)


def test_progress_goes_to_the_callback_and_nothing_is_written(tmp_path, capsys):
    calls = []
    bench(conv_bn_relu(tmp_path), iterations=3, progress=lambda *a: calls.append(a), **FAST)
    assert {phase for phase, _, _ in calls} == {"warm-up", "measure"}
    assert all(0 <= fraction <= 1 and detail.endswith("runs") for _, fraction, detail in calls)
    bench_report(conv_bn_relu(tmp_path), iterations=2, per_layer=True, **FAST)
    assert capsys.readouterr() == ("", "")


def test_progress_must_be_a_callback(tmp_path):
    with pytest.raises(TypeError, match="callable"):
        bench(conv_bn_relu(tmp_path), iterations=1, progress=True, **FAST)


def test_the_callers_analysis_is_not_repeated(tmp_path, monkeypatch):
    path = conv_bn_relu(tmp_path)
    graph = analysis.load_graph(path, dims={"N": 2})
    report = analysis.build_report(graph, convention="2mac")
    for name in ("analyze", "load_graph", "build_report"):
        monkeypatch.setattr(analysis, name, lambda *a, **k: pytest.fail("analysed again"))
    lat = bench(path, iterations=2, report=report, graph=graph, per_layer=True, **FAST)
    assert report.latency is lat
    assert (lat.batch, lat.flops) == (2, report.totals.flops)           # the report's binding and count
    assert lat.settings["free_dimension_overrides"] == {}                # cpu: no overrides
    assert {r["name"] for r in lat.per_layer["layers"]} == {"conv", "bn", "relu"}
    ran = bench_report(path, iterations=1, report=report, **FAST)
    assert ran is report and ran.latency.iterations == 1


def test_a_given_graph_is_costed_but_not_loaded_again(tmp_path, monkeypatch):
    path = conv_bn_relu(tmp_path)
    graph = analysis.load_graph(path, dims={"N": 4})
    monkeypatch.setattr(analysis, "load_graph", lambda *a, **k: pytest.fail("loaded again"))
    ran = bench_report(path, iterations=1, graph=graph, **FAST)
    assert ran.model.inputs[0].shape == [4, 3, 8, 8] and ran.totals.flops == 4 * TOTAL_FLOPS
    assert ran.latency.batch == 4 and ran.latency.flops == 4 * TOTAL_FLOPS


def test_a_given_report_fixes_the_batch(tmp_path):
    path = conv_bn_relu(tmp_path)
    report = flopscope.analyze(path, dims={"N": 2})
    with pytest.raises(FlopscopeError, match="fixed at 2 in the analysis given"):
        bench(path, iterations=1, batch=3, report=report, **FAST)
    assert bench(path, iterations=1, batch=2, report=report, **FAST).batch == 2


def test_a_pytorch_report_gives_the_count_and_the_export_is_analysed():
    torch = pytest.importorskip("torch")
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU())
    report = flopscope.analyze(model, (1, 3, 8, 8), convention="2mac")
    lat = bench(model, (1, 3, 8, 8), iterations=1, report=report, **FAST)
    assert report.latency is lat and lat.flops == report.totals.flops == 2 * 4 * 6 * 6 * 27
    with pytest.raises(FlopscopeError, match="ONNX graph that runs"):
        bench_report(model, (1, 3, 8, 8), iterations=1, report=report, **FAST)


def test_the_roofline_is_not_drawn_for_a_preset_on_another_device(tmp_path):
    path = conv_bn_relu(tmp_path)
    report = flopscope.analyze(path)
    lat = bench(path, iterations=1, report=report, **FAST)
    on_device = dataclasses.replace(PRESETS["cpu"], name="accelerated", device="cuda")
    assert benchmark._roofline(report, lat, on_device, 1, None, None) is None
    assert lat.notes[-1].startswith("roofline not drawn") and "accelerated preset" in lat.notes[-1]
