"""Presets: session options read back from live sessions, CPU pinning, the gpu error path."""

from __future__ import annotations

import dataclasses
import os

import onnxruntime as ort
import pytest

from flopscope.errors import FlopscopeError
from flopscope.latency import PRESETS, bench, presets
from flopscope.latency.harness import make_runner, open_session, random_inputs, read_settings
from flopscope.report import InputInfo
from tests.latency.nets import conv_bn_relu

needs_affinity = pytest.mark.skipif(not hasattr(os, "sched_setaffinity"),
                                    reason="no CPU affinity calls on this OS")
no_cuda = pytest.mark.skipif("CUDAExecutionProvider" in ort.get_available_providers(),
                             reason="this onnxruntime has CUDA")

X = [InputInfo("x", [1, 3, 8, 8], "float32")]


def test_presets_are_named_and_frozen():
    assert set(PRESETS) == {"cpu", "mobile", "gpu"}
    with pytest.raises(dataclasses.FrozenInstanceError):
        PRESETS["mobile"].threads = 2  # type: ignore[misc]
    assert "mobile-like" in PRESETS["mobile"].label
    assert presets.get_preset("cpu") is PRESETS["cpu"]
    with pytest.raises(FlopscopeError, match="unknown preset 'tpu'"):
        presets.get_preset("tpu")


@needs_affinity
def test_mobile_session_reads_back_one_sequential_unspinning_basic_thread(tmp_path):
    path = conv_bn_relu(tmp_path)
    before = os.sched_getaffinity(0)
    with open_session(path, "mobile", None, random_inputs(X), free_dims={"N": 1}) as live:
        inside = os.sched_getaffinity(0)
        so = live.session.get_session_options()
        assert so.intra_op_num_threads == 1
        assert so.execution_mode == ort.ExecutionMode.ORT_SEQUENTIAL
        assert int(so.graph_optimization_level) <= int(ort.GraphOptimizationLevel.ORT_ENABLE_BASIC)
        assert so.get_session_config_entry("session.intra_op.allow_spinning") == "0"
        assert so.get_session_config_entry("session.inter_op.allow_spinning") == "0"
        assert live.session.get_inputs()[0].shape == [1, 3, 8, 8]     # N fixed for the session
        live.run()
    assert len(inside) == 1
    assert sorted(inside) == live.affinity
    assert os.sched_getaffinity(0) == before


@needs_affinity
def test_mobile_bench_records_the_pinning_it_ran_under(tmp_path):
    before = os.sched_getaffinity(0)
    lat = bench(conv_bn_relu(tmp_path), preset="mobile", iterations=3, warmup_budget_s=0.0)
    assert os.sched_getaffinity(0) == before
    s = lat.settings
    assert len(s["affinity"]) == 1 and s["affinity"][0] in before
    assert (s["intra_op_num_threads"], s["execution_mode"], s["intra_op_allow_spinning"]) == \
        (1, "ORT_SEQUENTIAL", "0")
    assert s["graph_optimization_level"] in ("ORT_ENABLE_BASIC", "ORT_DISABLE_ALL")
    assert s["free_dimension_overrides"] == {"N": 1}
    assert lat.threads == 1 and "mobile-like" in lat.label


def test_mobile_threads_limits():
    mobile = PRESETS["mobile"]
    assert mobile.resolve_threads(None) == 1
    with pytest.raises(FlopscopeError, match="at most 4"):
        mobile.resolve_threads(5)
    with pytest.raises(FlopscopeError):
        mobile.resolve_threads(0)
    if len(presets.available_cpus()) >= 2:
        assert mobile.resolve_threads(2) == 2


def test_cpu_preset_uses_physical_cores_and_full_optimisation():
    cpu = PRESETS["cpu"]
    assert cpu.resolve_threads(None) == presets.physical_cores()
    so = cpu.session_options(3)
    assert so.intra_op_num_threads == 3
    assert so.graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_ALL


def test_physical_cores_counts_hyperthreads_once(monkeypatch):
    keys = {0: ("0", "0"), 1: ("0", "1"), 2: ("0", "0"), 3: ("0", "1")}     # 2 cores, 2 threads each
    monkeypatch.setattr(presets, "_core_key", keys.get)
    monkeypatch.setattr(presets, "available_cpus", lambda: [0, 1, 2, 3])
    assert presets.physical_cores() == 2
    assert presets.choose_cores(2) == [0, 1]                 # one per physical core first
    assert presets.choose_cores(3) == [0, 1, 2]
    monkeypatch.setattr(presets, "_core_key", lambda cpu: None)        # no sysfs: logical count
    assert presets.physical_cores() == 4


@needs_affinity
def test_pinned_restores_affinity_after_an_error():
    before = os.sched_getaffinity(0)
    core = min(before)
    with pytest.raises(RuntimeError):
        with presets.pinned([core]) as cores:
            assert cores == [core] and os.sched_getaffinity(0) == {core}
            raise RuntimeError
    assert os.sched_getaffinity(0) == before
    with presets.pinned(None) as cores:
        assert cores is None and os.sched_getaffinity(0) == before


# --------------------------------------------------------------------------- gpu


@no_cuda
def test_gpu_preset_without_cuda_names_onnxruntime_gpu(tmp_path):
    with pytest.raises(FlopscopeError, match="onnxruntime-gpu") as err:
        bench(conv_bn_relu(tmp_path), preset="gpu", iterations=1)
    assert "\n" not in str(err.value)


class _FakeSession:
    def __init__(self, providers):
        self._providers = providers

    def get_providers(self):
        return self._providers


def test_silent_cpu_fallback_is_an_error():
    with pytest.raises(FlopscopeError, match="CUDAExecutionProvider"):
        presets.check_session(_FakeSession(["CPUExecutionProvider"]), PRESETS["gpu"])
    presets.check_session(_FakeSession(["CUDAExecutionProvider", "CPUExecutionProvider"]), PRESETS["gpu"])


@no_cuda
def test_gpu_session_that_falls_back_to_cpu_is_refused(tmp_path, monkeypatch):
    """ORT itself only warns when CUDA cannot be created; the harness must refuse."""
    available = ort.get_available_providers()
    monkeypatch.setattr(ort, "get_available_providers", lambda: [*available, "CUDAExecutionProvider"])
    with pytest.warns(UserWarning), pytest.raises(FlopscopeError, match="could not create"):
        with open_session(conv_bn_relu(tmp_path), "gpu", 1):
            pass


def test_gpu_runner_binds_inputs_and_outputs_on_the_device(monkeypatch):
    calls = []

    class Binding:
        def bind_ortvalue_input(self, name, value):
            calls.append(("input", name, value))

        def bind_output(self, name, device_type, device_id):
            calls.append(("output", name, device_type, device_id))

        def synchronize_inputs(self):
            calls.append(("sync",))

    class Output:
        name = "y"

    class Session:
        def io_binding(self):
            return Binding()

        def get_outputs(self):
            return [Output()]

        def run_with_iobinding(self, binding):
            calls.append(("run", type(binding).__name__))

    class OrtValue:
        @staticmethod
        def ortvalue_from_numpy(array, device_type, device_id):
            return ("device", array.shape, device_type, device_id)

    monkeypatch.setattr(ort, "OrtValue", OrtValue)
    run, keep = make_runner(Session(), random_inputs(X), PRESETS["gpu"])
    run()
    assert calls == [("input", "x", ("device", (1, 3, 8, 8), "cuda", 0)),
                     ("output", "y", "cuda", 0), ("sync",), ("run", "Binding")]
    assert keep                                          # device buffers held for the session


def test_settings_readback_of_cpu_session(tmp_path):
    with open_session(conv_bn_relu(tmp_path), "cpu", 1, random_inputs(X)) as live:
        settings = read_settings(live, PRESETS["cpu"], {})
    assert settings["intra_op_num_threads"] == 1
    assert settings["intra_op_allow_spinning"] == "1"
    assert settings["affinity"] is None
    assert settings["providers"] == ["CPUExecutionProvider"]
