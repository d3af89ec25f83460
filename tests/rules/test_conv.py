"""Conv and ConvTranspose against the notes' worked examples and DESIGN.md's formulas."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto

from tests.builders import cost, layer, run, weight


def test_notes_example_3x3_conv_128_filters_on_112x112x64():
    row = cost("Conv", {"x": (1, 64, 112, 112), "w": weight(128, 64, 3, 3)},
               attrs={"pads": [1, 1, 1, 1]})
    assert row.output_shapes == [[1, 128, 112, 112]]
    expected_macs = 3 * 3 * 64 * 112 * 112 * 128
    assert expected_macs == 924_844_032
    assert row.macs == expected_macs
    n = 64 * 3 * 3                                    # terms per dot product
    assert row.flops == (2 * n - 1) * 128 * 112 * 112
    assert row.params == 3 * 3 * 64 * 128


def test_bias_adds_one_flop_per_output_and_cout_params():
    row = cost("Conv", {"x": (1, 64, 112, 112), "w": weight(128, 64, 3, 3), "b": weight(128)},
               attrs={"pads": [1, 1, 1, 1]})
    outputs = 128 * 112 * 112
    n = 64 * 3 * 3
    assert row.macs == n * outputs
    assert row.flops == (2 * n - 1) * outputs + outputs
    assert row.params == 3 * 3 * 64 * 128 + 128


def test_batch_and_stride_and_rectangular_kernel():
    # N=2, Cin=3, 17x20 input, 5x3 kernel, stride (2, 3), no padding
    # out H = (17 - 5) // 2 + 1 = 7, out W = (20 - 3) // 3 + 1 = 6
    row = cost("Conv", {"x": (2, 3, 17, 20), "w": weight(8, 3, 5, 3)}, attrs={"strides": [2, 3]})
    assert row.output_shapes == [[2, 8, 7, 6]]
    assert row.macs == 2 * 8 * 7 * 6 * (3 * 5 * 3)
    assert row.flops == (2 * 45 - 1) * (2 * 8 * 7 * 6)


def test_group_conv_divides_macs_and_params_by_groups():
    base = {"x": (1, 64, 56, 56)}
    attrs = {"pads": [1, 1, 1, 1]}
    dense = cost("Conv", {**base, "w": weight(128, 64, 3, 3)}, attrs=attrs)
    grouped = cost("Conv", {**base, "w": weight(128, 16, 3, 3)}, attrs={**attrs, "group": 4})
    assert dense.macs == 1 * 128 * 56 * 56 * 64 * 3 * 3
    assert grouped.macs == 1 * 128 * 56 * 56 * (64 // 4) * 3 * 3
    assert grouped.macs * 4 == dense.macs
    assert dense.params == 128 * 64 * 3 * 3
    assert grouped.params == 128 * 16 * 3 * 3
    assert grouped.params * 4 == dense.params
    assert grouped.flops == (2 * 16 * 9 - 1) * 128 * 56 * 56


def test_depthwise_conv_is_groups_equal_cin():
    row = cost("Conv", {"x": (1, 32, 56, 56), "w": weight(32, 1, 3, 3)},
               attrs={"pads": [1, 1, 1, 1], "group": 32})
    assert row.macs == 32 * 56 * 56 * 1 * 3 * 3
    assert row.flops == (2 * 9 - 1) * 32 * 56 * 56
    assert row.params == 32 * 3 * 3
    dense = cost("Conv", {"x": (1, 32, 56, 56), "w": weight(32, 32, 3, 3)}, attrs={"pads": [1, 1, 1, 1]})
    assert dense.macs == 32 * row.macs and dense.params == 32 * row.params


def test_depthwise_with_channel_multiplier():
    # group = Cin = 8, Cout = 16: each group has one input channel, two filters
    row = cost("Conv", {"x": (1, 8, 10, 10), "w": weight(16, 1, 3, 3)}, attrs={"group": 8})
    assert row.macs == 16 * 8 * 8 * 1 * 3 * 3


def test_dilation_changes_receptive_field_not_cost():
    plain = cost("Conv", {"x": (1, 16, 32, 32), "w": weight(16, 16, 3, 3)},
                 attrs={"pads": [1, 1, 1, 1]})
    dilated = cost("Conv", {"x": (1, 16, 32, 32), "w": weight(16, 16, 3, 3)},
                   attrs={"pads": [2, 2, 2, 2], "dilations": [2, 2]})
    assert plain.output_shapes == dilated.output_shapes == [[1, 16, 32, 32]]
    assert dilated.macs == plain.macs == 16 * 32 * 32 * 16 * 3 * 3
    assert dilated.flops == plain.flops == (2 * 16 * 9 - 1) * 16 * 32 * 32
    # without padding a dilated kernel sees 5x5, so the output (not the per-output cost) shrinks
    valid = cost("Conv", {"x": (1, 16, 32, 32), "w": weight(16, 16, 3, 3)}, attrs={"dilations": [2, 2]})
    assert valid.output_shapes == [[1, 16, 28, 28]]
    assert valid.macs == 16 * 28 * 28 * 16 * 3 * 3


@pytest.mark.parametrize("bias", [False, True])
def test_conv_1d(bias):
    inputs = {"x": (2, 4, 50), "w": weight(6, 4, 5)}
    if bias:
        inputs["b"] = weight(6)
    row = cost("Conv", inputs)
    outputs = 2 * 6 * 46
    assert row.macs == outputs * 4 * 5
    assert row.flops == (2 * 20 - 1) * outputs + (outputs if bias else 0)
    assert row.params == 6 * 4 * 5 + (6 if bias else 0)


def test_conv_3d():
    row = cost("Conv", {"x": (1, 3, 8, 16, 16), "w": weight(4, 3, 3, 3, 3)},
               attrs={"pads": [1, 1, 1, 1, 1, 1]})
    outputs = 4 * 8 * 16 * 16
    assert row.macs == outputs * 3 * 27
    assert row.flops == (2 * 81 - 1) * outputs


def test_pointwise_1x1_conv():
    row = cost("Conv", {"x": (1, 256, 14, 14), "w": weight(64, 256, 1, 1)})
    assert row.macs == 64 * 14 * 14 * 256
    assert row.flops == (2 * 256 - 1) * 64 * 14 * 14


@pytest.mark.parametrize("w_shape, group", [((4, 6, 3, 3), 4), ((4, 5, 3, 3), 1)])
def test_conv_weight_that_does_not_fit_the_input_is_unresolved_not_zero(w_shape, group):
    report = run("Conv", {"x": (1, 6, 8, 8), "w": weight(*w_shape)}, attrs={"group": group})
    row = layer(report, "Conv")
    assert row.status == "unresolved" and row.macs is None and row.flops is None
    assert "does not fit" in row.reason
    assert report.coverage.unresolved == {"Conv": 1}


# ------------------------------------------------------------------------- ConvTranspose


def test_conv_transpose_stride_2():
    # x 1x16x8x8, W (Cin=16, Cout=8, 3, 3), stride 2: every input element meets 8*3*3 weights
    row = cost("ConvTranspose", {"x": (1, 16, 8, 8), "w": weight(16, 8, 3, 3)},
               attrs={"strides": [2, 2]})
    assert row.output_shapes == [[1, 8, 17, 17]]     # (8 - 1) * 2 + 3
    expected_macs = 1 * 16 * 8 * 8 * 8 * 3 * 3
    assert row.macs == expected_macs
    assert row.flops == 2 * expected_macs
    assert row.params == 16 * 8 * 3 * 3


def test_conv_transpose_bias_and_groups():
    # group 2: W is (Cin, Cout/group, k, k) = (16, 4, 4, 4), Cout = 8
    row = cost("ConvTranspose", {"x": (2, 16, 5, 5), "w": weight(16, 4, 4, 4), "b": weight(8)},
               attrs={"strides": [2, 2], "pads": [1, 1, 1, 1], "group": 2})
    assert row.output_shapes == [[2, 8, 10, 10]]     # (5 - 1) * 2 + 4 - 2
    expected_macs = 2 * 16 * 5 * 5 * (8 // 2) * 4 * 4
    assert row.macs == expected_macs
    assert row.flops == 2 * expected_macs + 2 * 8 * 10 * 10
    assert row.params == 16 * 4 * 4 * 4 + 8


def test_conv_transpose_1d():
    row = cost("ConvTranspose", {"x": (1, 4, 10), "w": weight(4, 2, 3)})
    assert row.output_shapes == [[1, 2, 12]]
    assert row.macs == 4 * 10 * 2 * 3
    assert row.flops == 2 * 4 * 10 * 2 * 3


def _int8(*shape):
    return np.ones(shape, dtype=np.int8)


def _scalar(value, dtype):
    return np.array(value, dtype=dtype)


def test_conv_integer_costs_like_conv_and_counts_its_int8_weight():
    report = run("ConvInteger", {"x": ((1, 8, 10, 10), TensorProto.UINT8), "w": _int8(16, 8, 3, 3)},
                 attrs={"pads": [1, 1, 1, 1]}, opset=10)
    row = layer(report, "ConvInteger")
    n, outputs = 8 * 3 * 3, 1 * 16 * 10 * 10
    assert (row.macs, row.flops) == (n * outputs, (2 * n - 1) * outputs)
    assert row.params == report.totals.params == 16 * 8 * 9     # int8 weights are parameters
    assert report.totals.param_bytes == 16 * 8 * 9                # one byte each


def test_qlinear_conv_adds_bias_and_requantisation():
    row = cost("QLinearConv", {
        "x": ((1, 4, 6, 6), TensorProto.UINT8), "xs": _scalar(0.1, np.float32),
        "xz": _scalar(0, np.uint8), "w": _int8(8, 2, 3, 3), "ws": _scalar(0.2, np.float32),
        "wz": _scalar(0, np.int8), "ys": _scalar(0.3, np.float32), "yz": _scalar(0, np.uint8),
        "b": np.zeros(8, np.int32)}, attrs={"group": 2}, opset=10)
    n, outputs = 2 * 3 * 3, 8 * 4 * 4
    assert row.macs == n * outputs
    assert row.flops == (2 * n - 1) * outputs + outputs + 5 * outputs   # bias, QuantizeLinear's 5
