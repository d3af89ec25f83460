"""ONNX Runtime's fused kernels cost what they fuse (rules/fused.py)."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import helper

from flopscope.analysis import analyze
from tests.builders import model_of, weight
from tests.rules.contrib import NCHWC, cost_op

X, W, B = (1, 3, 8, 8), weight(4, 3, 3, 3), weight(4)
N, OUTPUTS = 3 * 3 * 3, 4 * 8 * 8          # terms per dot product, outputs


@pytest.mark.parametrize("op, domain", [("FusedConv", "com.microsoft"), ("Conv", NCHWC)])
def test_fused_conv_is_conv_plus_bias_plus_activation(op, domain):
    row = cost_op(op, {"x": X, "w": W, "b": B}, attrs={"pads": [1] * 4, "activation": "Relu"},
                  domain=domain)
    assert row.macs == N * OUTPUTS == 6912
    assert row.flops == (2 * N - 1) * OUTPUTS + OUTPUTS + OUTPUTS     # dot, bias, relu
    assert row.params == 4 * 27 + 4


def test_fused_conv_equals_the_unfused_conv_and_relu():
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1] * 4),
             helper.make_node("Relu", ["c"], ["y"])]
    plain = analyze(model_of(nodes, {"x": X, "w": W, "b": B}, ["y"]))
    fused = cost_op("FusedConv", {"x": X, "w": W, "b": B}, attrs={"pads": [1] * 4, "activation": "Relu"})
    assert (fused.macs, fused.flops) == (plain.totals.macs, plain.totals.flops)


def test_fused_conv_sum_input_and_clip_bounds():
    row = cost_op("FusedConv", {"x": X, "w": W, "b": B, "z": (1, 4, 8, 8)},
                  attrs={"pads": [1] * 4, "activation": "Clip", "activation_params": [0.0, 6.0]})
    assert row.flops == (2 * N - 1) * OUTPUTS + OUTPUTS + OUTPUTS + 2 * OUTPUTS  # bias, Z, min+max


def test_fused_gemm_with_leaky_relu():
    row = cost_op("FusedGemm", {"a": (2, 6), "b": weight(6, 5), "c": weight(5)},
                  attrs={"activation": "LeakyRelu", "activation_alpha": 0.1})
    assert row.macs == 2 * 5 * 6
    assert row.flops == 11 * 10 + 10 + 2 * 10            # dot products, C, LeakyRelu's 2


def test_fused_matmul_transposes_and_alpha():
    row = cost_op("FusedMatMul", {"a": (2, 5, 3), "b": (2, 7, 3)}, attrs={"transB": 1, "alpha": 0.5})
    assert row.output_shapes == [[2, 5, 7]]
    assert row.macs == 2 * 5 * 7 * 3 == 210
    assert row.flops == 5 * 70 + 70                        # 2K-1 per output, alpha
    row = cost_op("FusedMatMul", {"a": (2, 3, 5), "b": (2, 3, 7)}, attrs={"transA": 1})
    assert (row.macs, row.flops) == (210, 5 * 70)


def test_nhwc_conv_is_conv_channels_last():
    row = cost_op("NhwcConv", {"x": (1, 8, 8, 3), "w": weight(4, 3, 3, 3), "b": B},
                  attrs={"pads": [1] * 4})
    assert row.output_shapes == [[1, 8, 8, 4]]
    assert row.macs == N * OUTPUTS
    assert row.flops == (2 * N - 1) * OUTPUTS + OUTPUTS


def test_nchwc_pooling_layout_and_upsample():
    x = {"x": (1, 8, 4, 4)}
    assert cost_op("MaxPool", x, attrs={"kernel_shape": [2, 2], "strides": [2, 2]},
                   domain=NCHWC).flops == 3 * 8 * 2 * 2
    assert cost_op("AveragePool", x, attrs={"kernel_shape": [2, 2], "strides": [2, 2]},
                   domain=NCHWC).flops == 4 * 8 * 2 * 2
    assert cost_op("GlobalAveragePool", x, domain=NCHWC).flops == 16 * 8
    assert cost_op("GlobalMaxPool", x, domain=NCHWC).flops == 15 * 8
    for op in ("ReorderInput", "ReorderOutput"):
        assert cost_op(op, x, domain=NCHWC).flops == 0
    linear = cost_op("Upsample", x, attrs={"scales": [2, 2], "mode": "linear"}, domain=NCHWC)
    assert linear.output_shapes == [[1, 8, 8, 8]]
    assert linear.flops == 3 * (2**2 - 1) * 8 * 8 * 8      # 3 lerps of 3 FLOPs per output
    assert cost_op("Upsample", x, attrs={"scales": [2, 2]}, domain=NCHWC).flops == 0


def test_unknown_fused_activation_is_not_guessed():
    from tests.rules.contrib import run_op

    report = run_op("FusedConv", {"x": X, "w": W}, attrs={"pads": [1] * 4, "activation": "Mystery"})
    assert report.coverage.unresolved == {"com.microsoft.FusedConv": 1}
    assert np.isclose(report.coverage.percent, 0)


@pytest.mark.parametrize("activation, per_output", [("none", 0), ("silu", 5)])
def test_causal_conv_with_state_by_hand_and_as_onnx_runtime_runs_it(activation, per_output):
    """The LLM builder's short convolution: 2 sequences of 8 positions, 64 channels, 3 taps
    carried over a (2, 64, 2) state: 3 MACs per output, 2·3−1 FLOPs, +1 for the bias."""
    import onnxruntime as ort
    from onnx import TensorProto

    from tests.builders import single_node

    inputs = {"x": (2, 64, 8), "w": weight(64, 1, 3), "b": weight(64), "past": (2, 64, 2)}
    attrs = {"activation": activation}
    row = cost_op("CausalConvWithState", inputs, outputs=["y", "present"], attrs=attrs)
    outputs = 2 * 64 * 8
    assert (row.macs, row.flops) == (3 * outputs, (5 + 1 + per_output) * outputs)
    assert row.output_shapes == [[2, 64, 8], [2, 64, 2]]
    model = single_node("CausalConvWithState", inputs, ["y", "present"], attrs, 17, domain="com.microsoft")
    for out in model.graph.output:
        out.type.tensor_type.elem_type = TensorProto.FLOAT
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    feeds = {"x": np.ones((2, 64, 8), np.float32), "past": np.ones((2, 64, 2), np.float32)}
    assert [o.shape for o in session.run(None, feeds)] == [(2, 64, 8), (2, 64, 2)]
