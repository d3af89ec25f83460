"""ONNX Runtime's quantised kernels (rules/quantized_ops.py), counted by hand.

As QLinearConv and QLinearMatMul: the float op's cost on integers, then QuantizeLinear's
5 per output when the output is quantised, or 1 multiply by the scale when it is float.
"""

from __future__ import annotations

import numpy as np
from onnx import TensorProto

from tests.builders import weight
from tests.rules.contrib import cost_op

U8, I8, I32, I64, BOOL = (TensorProto.UINT8, TensorProto.INT8, TensorProto.INT32,
                          TensorProto.INT64, TensorProto.BOOL)
Q = 5                                                       # QuantizeLinear per element


def scale():
    return np.array(0.1, np.float32)


def zero(dtype=np.uint8):
    return np.array(0, dtype)


def q(name, shape):
    """A quantised input with its scale and zero point."""
    return {name: (shape, U8), f"{name}_s": scale(), f"{name}_z": zero()}


def test_qgemm_requantised_or_float():
    ins = {**q("a", (3, 16)), "b": np.ones((8, 16), np.uint8), "bs": scale(), "bz": zero(),
           "c": np.zeros(8, np.int32)}
    row = cost_op("QGemm", {**ins, "ys": scale(), "yz": zero()}, attrs={"transB": 1})
    assert row.macs == 3 * 8 * 16
    assert row.flops == 31 * 24 + 24 + Q * 24              # dot products, bias, requantise
    row = cost_op("QGemm", ins, attrs={"transB": 1})
    assert row.flops == 31 * 24 + 24 + 24                  # float output: one scale multiply


def test_qlinear_elementwise_family():
    x = (2, 3, 4)
    both = {**q("a", x), **q("b", x), "ys": scale(), "yz": zero()}
    assert cost_op("QLinearAdd", both).flops == (1 + Q) * 24
    assert cost_op("QLinearMul", both).flops == (1 + Q) * 24
    one = {**q("x", x), "ys": scale(), "yz": zero()}
    assert cost_op("QLinearSigmoid", one).flops == (4 + Q) * 24
    assert cost_op("QLinearLeakyRelu", one, attrs={"alpha": 0.1}).flops == (2 + Q) * 24
    softmax = cost_op("QLinearSoftmax", one, attrs={"opset": 13, "axis": -1})
    assert softmax.flops == 6 * (5 * 4 - 2) + Q * 24
    where = {"c": ((2, 3), BOOL), **q("x", (2, 3)), **q("v", (2, 3)), "zs": scale(), "zz": zero()}
    assert cost_op("QLinearWhere", where).flops == (1 + Q) * 6


def test_qlinear_concat_requantises_each_element():
    row = cost_op("QLinearConcat", {"ys": scale(), "yz": zero(), **q("a", (1, 3, 4)), **q("b", (1, 5, 4))},
                  attrs={"axis": 1})
    assert row.output_shapes == [[1, 8, 4]]
    assert row.flops == (2 + Q) * 32                        # DequantizeLinear + QuantizeLinear


def test_qlinear_pooling_and_reduce_mean():
    out = {"ys": scale(), "yz": zero()}
    assert cost_op("QLinearGlobalAveragePool", {**q("x", (1, 4, 3, 3)), **out},
                   attrs={"channels_last": 0}).flops == 9 * 4 + Q * 4
    last = cost_op("QLinearGlobalAveragePool", {**q("x", (1, 3, 3, 4)), **out}, attrs={"channels_last": 1})
    assert last.output_shapes == [[1, 1, 1, 4]] and last.flops == 9 * 4 + Q * 4
    avg = cost_op("QLinearAveragePool", {**q("x", (1, 4, 4, 4)), **out},
                  attrs={"kernel_shape": [2, 2], "strides": [2, 2]})
    assert avg.flops == 4 * 16 + Q * 16
    mean = cost_op("QLinearReduceMean", {**q("x", (2, 3, 4)), **out}, attrs={"axes": [2], "keepdims": 1})
    assert mean.output_shapes == [[2, 3, 1]] and mean.flops == 4 * 6 + Q * 6


def test_contrib_quantize_and_dequantize():
    assert cost_op("QuantizeLinear", {"x": (2, 3, 4), "s": scale(), "z": zero()}).flops == Q * 24
    row = cost_op("DequantizeLinear", {"x": ((2, 3, 4), I8), "s": scale(), "z": zero(np.int8)})
    assert row.flops == 2 * 24


def test_matmul_nbits_has_the_float_matmul_s_macs():
    ins = {"a": (1, 5, 32), "b": np.ones((24, 2, 8), np.uint8), "s": weight(48)}
    attrs = {"K": 32, "N": 24, "bits": 4, "block_size": 16}
    row = cost_op("MatMulNBits", ins, attrs=attrs)
    assert row.output_shapes == [[1, 5, 24]]
    assert row.macs == 5 * 24 * 32 == 3840
    assert row.flops == 63 * 120 + 2 * 32 * 24             # 2K-1 per output, each weight dequantised
    biased = cost_op("MatMulNBits", {**ins, "z": None, "g": None, "bias": weight(24)}, attrs=attrs)
    assert biased.flops == row.flops + 120


def test_matmul_bnb4():
    row = cost_op("MatMulBnb4", {"a": (1, 5, 32), "b": np.ones(384, np.uint8), "absmax": weight(48)},
                  attrs={"K": 32, "N": 24, "block_size": 16, "quant_type": 1})
    assert (row.macs, row.flops) == (3840, 63 * 120 + 2 * 32 * 24)


def test_gather_block_quantized_dequantises_what_it_gathers():
    row = cost_op("GatherBlockQuantized", {"data": np.ones((10, 16), np.uint8), "i": ((2, 3), I64),
                                           "s": weight(10, 2)},
                  attrs={"block_size": 16, "gather_axis": 0, "quantize_axis": 1, "bits": 4})
    assert row.output_shapes == [[2, 3, 32]]                # two 4-bit values per byte
    assert row.flops == 2 * 2 * 3 * 32


def test_integer_matmuls_to_float():
    row = cost_op("MatMulIntegerToFloat", {"a": ((3, 16), U8), "b": np.ones((16, 4), np.int8),
                                           "as": scale(), "bs": scale(), "az": None, "bz": None,
                                           "bias": weight(4)})
    assert row.macs == 3 * 4 * 16
    assert row.flops == (31 + 1 + 1) * 12                  # dot, scale multiply, bias
    row = cost_op("DynamicQuantizeMatMul", {"a": (3, 16), "b": np.ones((16, 4), np.int8), "bs": scale(),
                                            "bz": zero(np.int8), "bias": weight(4)})
    quantise = 2 * 47 + 4 + 5 + Q * 48                      # DynamicQuantizeLinear of A's 48
    assert (row.macs, row.flops) == (192, quantise + (31 + 1 + 1) * 12)


def test_qattention_is_attention_with_a_dequantised_projection():
    row = cost_op("QAttention", {"x": ((1, 4, 8), U8), "w": np.ones((8, 24), np.uint8),
                                 "b": weight(24), "xs": scale(), "ws": scale()},
                  attrs={"num_heads": 2})
    assert row.macs == 768 + 256
    assert row.flops == 15 * 96 + 96 + 96 + 624            # projection, bias, scale, attention


def test_channels_last_qlinear_conv_and_nhwc_max_pool():
    # ORT's NHWC transformer: X (N, H, W, C), W unchanged (M, C/group, kH, kW)
    ins = {**q("x", (1, 6, 6, 4)), "w": np.ones((8, 2, 3, 3), np.int8), "ws": scale(),
           "wz": zero(np.int8), "ys": scale(), "yz": zero(), "b": np.zeros(8, np.int32)}
    row = cost_op("QLinearConv", ins, attrs={"group": 2, "channels_last": 1})
    n, outputs = 2 * 3 * 3, 4 * 4 * 8
    assert row.output_shapes == [[1, 4, 4, 8]]
    assert row.macs == n * outputs
    assert row.flops == (2 * n - 1) * outputs + outputs + Q * outputs
    pool = cost_op("NhwcMaxPool", {"x": ((1, 4, 4, 8), U8)},
                   attrs={"kernel_shape": [2, 2], "strides": [2, 2]})
    assert pool.output_shapes == [[1, 2, 2, 8]] and pool.flops == 3 * 2 * 2 * 8
