"""Host peaks and calibration: the JSON cache (with a synthetic measurement), the
calibration graphs, and bench's prediction read from a seeded cache."""

from __future__ import annotations

import json

import pytest

from flopscope.errors import FlopscopeError
from flopscope.latency import peaks
from flopscope.latency.presets import PRESETS, fingerprint, get_preset
from tests.latency.nets import synthetic_host


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv(peaks.CACHE_ENV, str(tmp_path))
    return tmp_path / peaks.CACHE_FILE


def test_measured_once_then_read_back(cache):
    calls = []

    def measure(preset, threads):
        calls.append((preset.name, threads))
        return synthetic_host(gflops=50.0 + len(calls))

    first = peaks.host_profile("cpu", 1, measure=measure)
    again = peaks.host_profile("cpu", 1, measure=measure)
    assert calls == [("cpu", 1)] and first == again and first.peak("fp32") == 51.0
    data = json.loads(cache.read_text())
    assert data["schema"] == peaks.SCHEMA and list(data["hosts"]) == [first.key]
    assert first.key == peaks.host_key(get_preset("cpu"), 1)
    assert first.key.endswith("| cpu | 1 threads") and "onnxruntime" in first.key
    # another thread count is another host entry; refresh measures again
    peaks.host_profile("cpu", 2, measure=measure)
    assert len(json.loads(cache.read_text())["hosts"]) == 2
    assert peaks.host_profile("cpu", 1, refresh=True, measure=measure).peak("fp32") == 53.0


def test_a_foreign_or_broken_cache_is_measured_over(cache):
    cache.write_text("{not json")
    assert peaks.host_profile("cpu", 1, measure=lambda p, t: synthetic_host()).peak("fp32") == 1.0
    cache.write_text(json.dumps({"schema": "other/9", "hosts": {}}))
    assert peaks.read_cache(cache) == {}


def test_host_profile_round_trips_and_names_missing_dtypes():
    host = synthetic_host("k")
    assert peaks.HostProfile.from_dict(json.loads(json.dumps(host.to_dict()))) == host
    with pytest.raises(FlopscopeError, match="no measured int8 peak"):
        host.peak("int8")


def test_gpu_preset_has_no_host_peaks(cache):
    with pytest.raises(FlopscopeError, match="measured on the CPU only"):
        peaks.host_profile("gpu", measure=lambda p, t: synthetic_host())


def test_cache_folder_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.delenv(peaks.CACHE_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert peaks.cache_path() == tmp_path / "flopscope" / "host.json"


def test_fingerprint_names_what_a_measurement_depends_on():
    f = fingerprint(get_preset("mobile"), 1, [0])
    assert set(f) == {"cpu", "physical_cores", "logical_cpus", "onnxruntime", "preset", "threads", "affinity"}
    assert (f["preset"], f["threads"], f["affinity"]) == ("mobile", 1, [0])


def test_calibration_graphs_are_fully_costed():
    import onnx

    from flopscope.analysis import build_report, load_graph

    for case in peaks._cases():
        report = build_report(load_graph(onnx.load_from_string(case.model())))
        assert report.coverage.complete, case.name
        assert all(layer.flops is not None and layer.traffic_bytes is not None
                   for layer in report.layers), case.name


def test_a_calibration_graph_is_profiled_layer_by_layer():
    case = next(c for c in peaks._cases() if c.name == "head")
    profile, report = peaks.profile_model(case.model(), get_preset("cpu"), 1)
    assert [layer.op for layer in report.layers] == ["GlobalAveragePool", "Flatten", "Gemm"]
    measured = [row for row in profile.layers if row.status == "measured"]
    assert measured and all(row.time_ms > 0 for row in measured)


def test_bench_predicts_from_the_cached_host(cache):
    from flopscope.latency import bench
    from tests.latency.nets import CONV_FLOPS, conv_bn_relu_model

    threads = PRESETS["cpu"].resolve_threads(None)
    key = peaks.host_key(get_preset("cpu"), threads)
    peaks.write_cache(cache, {key: synthetic_host(key).to_dict()})
    lat = bench(conv_bn_relu_model(), iterations=2, warmup_budget_s=0.0, per_layer=True, predict=True)
    # 1 GFLOP/s, 1 GB/s: the Conv is compute-bound (its traffic is far below CONV_FLOPS bytes);
    # BN and Relu are fused into it at the cpu preset's level
    assert lat.predicted_ms == pytest.approx(CONV_FLOPS / 1e9 * 1e3 / 0.5 + 0.01)
    rows = {r["name"]: r for r in lat.prediction["layers"]}
    assert rows["conv"]["bound"] == "compute" and rows["bn"]["fused_into"] == "conv"
    assert lat.prediction["host"] == key and lat.prediction["layer_error"]["n"] == 1
    assert lat.prediction["layer_pairs"][0][0] == pytest.approx(lat.predicted_ms)
    assert lat.environment["threads"] == threads and lat.protocol == "quick"
