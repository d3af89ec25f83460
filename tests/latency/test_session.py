"""Session set-up: sessions opened as presets say (options read back from live
sessions, pinning, the gpu refusal), the device runner, random inputs and free dims."""

from __future__ import annotations

import os

import numpy as np
import onnxruntime as ort
import pytest

from flopscope.errors import FlopscopeError
from flopscope.latency import PRESETS
from flopscope.latency.session import (
    batch_dims,
    free_dims,
    make_runner,
    open_session,
    random_inputs,
    read_settings,
)
from flopscope.report import InputInfo
from tests.latency.nets import conv_bn_relu, conv_bn_relu_model

needs_affinity = pytest.mark.skipif(not hasattr(os, "sched_setaffinity"),
                                    reason="no CPU affinity calls on this OS")
no_cuda = pytest.mark.skipif("CUDAExecutionProvider" in ort.get_available_providers(),
                             reason="this onnxruntime has CUDA")

X = [InputInfo("x", [1, 3, 8, 8], "float32")]


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


@no_cuda
def test_gpu_session_that_falls_back_to_cpu_is_refused(tmp_path, monkeypatch):
    """ORT itself only warns when CUDA cannot be created; the session must refuse."""
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


# --------------------------------------------------------------------------- inputs and dims


def test_random_inputs_by_dtype():
    feeds = random_inputs([InputInfo("x", [2, 3], "float32"), InputInfo("ids", [4], "int64"),
                           InputInfo("mask", [4], "bool")])
    assert feeds["x"].dtype == np.float32 and feeds["x"].shape == (2, 3) and feeds["x"].std() > 0
    assert feeds["ids"].dtype == np.int64 and not feeds["ids"].any()
    assert feeds["mask"].dtype == np.bool_ and feeds["mask"].all()
    with pytest.raises(FlopscopeError, match="concrete shape"):
        random_inputs([InputInfo("x", ["N", 3], "float32")])


def test_free_dims_come_from_the_bound_shapes():
    model = conv_bn_relu_model(batch="N")
    assert free_dims(model, [InputInfo("x", [8, 3, 8, 8], "float32")]) == {"N": 8}
    assert free_dims(conv_bn_relu_model(batch=1), [InputInfo("x", [1, 3, 8, 8], "float32")]) == {}


def test_batch_dims_bind_the_symbolic_leading_dim_only():
    assert batch_dims(conv_bn_relu_model(batch="N"), 4) == {"N": 4}
    assert batch_dims(conv_bn_relu_model(batch="N"), None) == {}
    assert batch_dims(conv_bn_relu_model(batch=1), 4) == {}
