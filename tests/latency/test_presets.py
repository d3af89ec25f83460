"""Presets: what differs between them is in their attributes (never in a test of their
name), their session options, CPU pinning, the gpu error path."""

from __future__ import annotations

import dataclasses
import os

import onnxruntime as ort
import pytest

from flopscope.errors import FlopscopeError
from flopscope.latency import PRESETS, bench, presets
from flopscope.latency.presets import CPU_PROVIDER, Preset
from tests.latency.nets import conv_bn_relu

needs_affinity = pytest.mark.skipif(not hasattr(os, "sched_setaffinity"),
                                    reason="no CPU affinity calls on this OS")
no_cuda = pytest.mark.skipif("CUDAExecutionProvider" in ort.get_available_providers(),
                             reason="this onnxruntime has CUDA")


def test_presets_are_named_and_frozen():
    assert set(PRESETS) == {"cpu", "mobile", "gpu"}
    with pytest.raises(dataclasses.FrozenInstanceError):
        PRESETS["mobile"].threads = 2  # type: ignore[misc]
    assert "mobile-like" in PRESETS["mobile"].label
    assert presets.get_preset("cpu") is PRESETS["cpu"]
    with pytest.raises(FlopscopeError, match="unknown preset 'tpu'"):
        presets.get_preset("tpu")


def test_what_differs_between_presets_is_in_their_attributes():
    cpu, mobile, gpu = PRESETS["cpu"], PRESETS["mobile"], PRESETS["gpu"]
    assert (cpu.provider, cpu.device, cpu.io_binding, cpu.pin, cpu.note) == \
        (CPU_PROVIDER, "cpu", False, False, "")
    assert (mobile.device, mobile.optimization, mobile.pin, mobile.spinning, mobile.fixed_shapes) == \
        ("cpu", "basic", True, False, True)
    assert mobile.note.startswith("mobile-like") and not mobile.missing_hint
    assert (gpu.provider, gpu.device, gpu.io_binding) == ("CUDAExecutionProvider", "cuda", True)
    assert "onnxruntime-gpu" in gpu.missing_hint and "cuDNN" in gpu.fallback_hint


@needs_affinity
def test_a_renamed_preset_runs_as_its_attributes_say(tmp_path):
    phone = dataclasses.replace(PRESETS["mobile"], name="phone")
    lat = bench(conv_bn_relu(tmp_path), preset=phone, iterations=2, warmup_budget_s=0.0)
    assert lat.preset == "phone" and lat.threads == 1
    assert len(lat.settings["affinity"]) == 1 and lat.settings["intra_op_allow_spinning"] == "0"
    assert lat.settings["free_dimension_overrides"] == {"N": 1}
    assert PRESETS["mobile"].note in lat.notes


def test_a_missing_provider_is_explained_by_the_presets_hint():
    npu = Preset("npu", "NoSuchExecutionProvider", "npu", missing_hint="install the npu package")
    with pytest.raises(FlopscopeError, match="needs NoSuchExecutionProvider.*: install the npu package"):
        presets.check_provider(npu)
    with pytest.raises(FlopscopeError, match="does not provide$"):
        presets.check_provider(dataclasses.replace(npu, missing_hint=""))


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
    with pytest.raises(FlopscopeError, match="CUDAExecutionProvider .no usable NVIDIA GPU"):
        presets.check_session(_FakeSession(["CPUExecutionProvider"]), PRESETS["gpu"])
    npu = Preset("npu", "NpuExecutionProvider", "npu", fallback_hint="the npu driver is missing")
    with pytest.raises(FlopscopeError, match=r"NpuExecutionProvider \(the npu driver is missing\)"):
        presets.check_session(_FakeSession(["CPUExecutionProvider"]), npu)
    presets.check_session(_FakeSession(["CUDAExecutionProvider", "CPUExecutionProvider"]), PRESETS["gpu"])


