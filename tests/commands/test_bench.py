"""``flopscope bench`` end to end: formats, presets, one-line errors and exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import onnxruntime as ort
import pytest

from flopscope.cli import main
from tests.latency.nets import TOTAL_FLOPS, conv_bn_relu, use_synthetic_host

no_cuda = pytest.mark.skipif("CUDAExecutionProvider" in ort.get_available_providers(),
                             reason="this onnxruntime has CUDA")


def cli(capsys, *argv: object) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def net(tmp_path):
    return conv_bn_relu(tmp_path)


@pytest.fixture(autouse=True)
def fixed_peaks(monkeypatch, tmp_path_factory):
    """Measuring the host's peaks takes seconds; the tests use made-up ones, in a fresh cache
    outside tmp_path (whose listing a test compares)."""
    return use_synthetic_host(monkeypatch, tmp_path_factory.mktemp("cache"), gflops=100.0, bandwidth=10.0)


def test_text_summary(capsys, net):
    code, out, err = cli(capsys, "bench", net, "--iterations", 3)
    assert code == 0 and err == ""
    assert out.startswith("net: latency, preset cpu (cpu)")
    for figure in ("session creation", "first run", "warm-up runs", "p50", "p99", "mean ± std",
                   "coefficient of variation", "throughput", "GFLOP/s"):
        assert figure in out
    assert "timed runs                3" in out


def test_json_is_the_report_contract_with_latency(capsys, net):
    code, out, _ = cli(capsys, "bench", net, "--iterations", 2, "--format", "json", "--batch", 2)
    assert code == 0
    data = json.loads(out)
    assert data["schema"] == "flopscope.report/1"
    assert data["totals"]["flops"] == 2 * TOTAL_FLOPS
    lat = data["latency"]
    for key in ("preset", "provider", "threads", "batch", "iterations", "p50_ms", "p90_ms",
                "p99_ms", "mean_ms", "std_ms"):
        assert key in lat
    assert (lat["preset"], lat["batch"], lat["iterations"]) == ("cpu", 2, 2)


def test_per_layer_and_roofline_markdown(capsys, net, tmp_path):
    before = sorted(os.listdir(tmp_path))
    code, out, _ = cli(capsys, "bench", net, "--iterations", 2, "--per-layer", "--roofline",
                       "--format", "markdown")
    assert code == 0
    assert "### Per layer (ONNX Runtime profiler)" in out and "### Roofline" in out
    conv_row = next(line for line in out.splitlines() if line.startswith("| conv "))
    assert "bn, relu" in conv_row                    # the layers fused into the Conv
    assert "100.0 GFLOP/s" in out                    # the (fixed) measured peak
    assert sorted(os.listdir(tmp_path)) == before


def test_roofline_and_prediction_read_one_host_profile(capsys, net, fixed_peaks):
    code, out, _ = cli(capsys, "bench", net, "--iterations", 2, "--threads", 1, "--roofline", "--predict",
                       "--format", "json")
    assert code == 0 and fixed_peaks == [("cpu", 1)]   # measured once, for the run's preset and threads
    lat = json.loads(out)["latency"]
    assert lat["roofline"]["peak_gflops_per_s"] == lat["prediction"]["peak_gflops_per_s"] == 100.0
    assert lat["roofline"]["bandwidth_gb_per_s"] == lat["prediction"]["bandwidth_gb_per_s"] == 10.0
    assert lat["prediction"]["host"] in lat["roofline"]["notes"][0]


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="no CPU affinity calls")
def test_mobile_preset(capsys, net):
    code, out, _ = cli(capsys, "bench", net, "--preset", "mobile", "--iterations", 2,
                       "--format", "json")
    assert code == 0
    lat = json.loads(out)["latency"]
    assert lat["threads"] == 1 and "mobile-like" in lat["label"]
    assert len(lat["settings"]["affinity"]) == 1
    assert lat["settings"]["intra_op_allow_spinning"] == "0"


def test_output_file(capsys, net, tmp_path):
    out_path = tmp_path / "lat.json"
    code, out, _ = cli(capsys, "bench", net, "--iterations", 1, "--format", "json", "-o", out_path)
    assert code == 0 and out == ""
    assert json.loads(out_path.read_text())["latency"]["iterations"] == 1


@pytest.mark.parametrize("argv, message", [
    (("--preset", "mobile", "--threads", 5), "at most 4"),
    (("--iterations", 0), "--iterations must be >= 1"),
    (("--preset", "tpu"), "invalid choice"),
    (("--time-budget", 0), "--time-budget must be > 0"),
])
def test_usage_errors_exit_2_on_one_line(capsys, net, argv, message):
    code, out, err = cli(capsys, "bench", net, *argv)
    assert code == 2 and out == ""
    assert message in err and err.count("\n") == 1


def test_missing_model(capsys, tmp_path):
    code, _, err = cli(capsys, "bench", tmp_path / "nope.onnx", "--iterations", 1)
    assert code == 2 and "no such file" in err


@no_cuda
def test_gpu_preset_without_onnxruntime_gpu_exits_2(net):
    done = subprocess.run([sys.executable, "-m", "flopscope", "bench", str(net), "--preset", "gpu"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("flopscope: error: ")
    assert "onnxruntime-gpu" in lines[0] and "CUDAExecutionProvider" in lines[0]


def test_the_progress_bar_is_the_clis_on_a_terminal(capsys, net, monkeypatch):
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    code, out, err = cli(capsys, "bench", net, "--iterations", 3)
    assert code == 0 and out.startswith("net: latency")
    assert err.startswith("\r") and "measure" in err and err.endswith("\r") and "\n" not in err
    code, _, err = cli(capsys, "bench", net, "--iterations", 3, "--no-progress")
    assert code == 0 and err == ""


def test_predict_and_protocol_options(capsys, net, tmp_path, monkeypatch):
    from flopscope.latency import peaks
    from flopscope.latency.predict import Calibration
    from flopscope.latency.presets import PRESETS

    monkeypatch.setenv(peaks.CACHE_ENV, str(tmp_path))
    key = peaks.host_key(PRESETS["cpu"], PRESETS["cpu"].resolve_threads(None))
    host = peaks.HostProfile(key, {"fp32": 1.0}, 1.0, Calibration({"*/compute": 1.0, "*/memory": 1.0}))
    peaks.write_cache(tmp_path / peaks.CACHE_FILE, {key: host.to_dict()})
    code, out, err = cli(capsys, "bench", net, "--iterations", 3, "--predict", "--per-layer")
    assert code == 0 and err == ""
    assert "predicted (roofline)" in out and "prediction over layers" in out
    assert "p95" in out and "p99.9" in out and "protocol                  quick" in out
    code, out, err = cli(capsys, "bench", net, "--iterations", 3, "--protocol", "mlperf")
    assert code == 2 and "leave out --iterations and --time-budget" in err
