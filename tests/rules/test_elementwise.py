"""Elementwise math, comparisons, logic, selection, quantisation and the variadic ops."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto

from tests.builders import F32, cost, weight

SHAPE = (2, 3, 4)
N = 2 * 3 * 4
INT32, UINT32, INT8, UINT8 = TensorProto.INT32, TensorProto.UINT32, TensorProto.INT8, TensorProto.UINT8
BOOL = TensorProto.BOOL

UNARY_ONE_FLOP = [
    "Erf", "Exp", "Log", "Sqrt", "Neg", "Abs", "Reciprocal", "Sign", "Floor", "Ceil", "Round",
    "Sin", "Cos", "Tan", "Asin", "Acos", "Atan", "Sinh", "Cosh", "Asinh", "Acosh", "Atanh",
    "IsNaN", "IsInf",
]


@pytest.mark.parametrize("op", UNARY_ONE_FLOP)
def test_unary_math_is_one_flop_per_element(op):
    row = cost(op, {"x": SHAPE}, opset=18)
    assert (row.macs, row.flops) == (0, 1 * N)


@pytest.mark.parametrize("op, elem", [("Not", BOOL), ("BitwiseNot", INT32)])
def test_unary_logic_is_one_flop_per_element(op, elem):
    row = cost(op, {"x": (SHAPE, elem)}, opset=18)
    assert (row.macs, row.flops) == (0, N)


BINARY = [
    ("Add", F32, {}), ("Sub", F32, {}), ("Mul", F32, {}), ("Div", F32, {}), ("Pow", F32, {}),
    ("Mod", F32, {"fmod": 1}), ("Mod", INT32, {}),
    ("Equal", F32, {}), ("Less", F32, {}), ("LessOrEqual", F32, {}), ("Greater", F32, {}),
    ("GreaterOrEqual", F32, {}),
    ("And", BOOL, {}), ("Or", BOOL, {}), ("Xor", BOOL, {}),
    ("BitShift", UINT32, {"direction": "LEFT"}),
    ("BitwiseAnd", INT32, {}), ("BitwiseOr", INT32, {}), ("BitwiseXor", INT32, {}),
]


@pytest.mark.parametrize("op, elem, attrs", BINARY, ids=[f"{b[0]}-{b[1]}" for b in BINARY])
def test_binary_op_is_one_flop_per_output_element(op, elem, attrs):
    row = cost(op, {"a": (SHAPE, elem), "b": (SHAPE, elem)}, attrs=attrs, opset=18)
    assert (row.macs, row.flops) == (0, 1 * N)


@pytest.mark.parametrize("op", ["Add", "Mul", "Sub", "Div", "Pow", "Greater"])
def test_binary_op_counts_broadcast_outputs(op):
    # (3, 1, 5) against (4, 1) broadcasts to (3, 4, 5)
    row = cost(op, {"a": (3, 1, 5), "b": (4, 1)})
    assert row.output_shapes[0] == [3, 4, 5]
    assert row.flops == 3 * 4 * 5


def test_add_with_a_bias_weight_counts_params():
    row = cost("Add", {"x": (8, 16), "b": weight(16)})
    assert (row.flops, row.params) == (8 * 16, 16)


def test_where_is_one_select_per_output_element():
    row = cost("Where", {"cond": ((3, 1, 5), BOOL), "a": (4, 5), "b": (1,)})
    assert row.output_shapes == [[3, 4, 5]]
    assert (row.macs, row.flops) == (0, 3 * 4 * 5)


def test_dequantize_linear_subtract_and_multiply():
    row = cost("DequantizeLinear", {"x": (SHAPE, INT8), "scale": weight(value=0.1),
                                     "zp": np.array(3, dtype=np.int8)}, opset=18)
    assert (row.macs, row.flops) == (0, 2 * N)


def test_quantize_linear_divide_round_add_saturate():
    row = cost("QuantizeLinear", {"x": SHAPE, "scale": weight(value=0.1),
                                   "zp": np.array(3, dtype=np.uint8)}, opset=18)
    assert (row.macs, row.flops) == (0, 5 * N)


# ------------------------------------------------------------------------- variadic


@pytest.mark.parametrize("op, one, two, three", [
    ("Sum", 0, 1, 2),        # k inputs: k - 1 adds per output element
    ("Max", 0, 1, 2),        # k - 1 compares
    ("Min", 0, 1, 2),
    ("Mean", 0, 2, 3),       # k - 1 adds and one divide
])
def test_variadic_with_one_two_three_inputs(op, one, two, three):
    names = ["a", "b", "c"]
    for k, per_element in ((1, one), (2, two), (3, three)):
        row = cost(op, {n: SHAPE for n in names[:k]})
        assert (row.macs, row.flops) == (0, per_element * N), f"{op} with {k} inputs"


def test_variadic_counts_broadcast_outputs():
    row = cost("Sum", {"a": (3, 1, 5), "b": (4, 1), "c": (5,)})
    assert row.output_shapes == [[3, 4, 5]]
    assert row.flops == 2 * 3 * 4 * 5
    mean = cost("Mean", {"a": (3, 1, 5), "b": (4, 1), "c": (5,)})
    assert mean.flops == (2 + 1) * 3 * 4 * 5


def test_dynamic_quantize_linear_prices_its_scale_and_zero_point():
    row = cost("DynamicQuantizeLinear", {"x": (2, 3)}, outputs=["y", "y_scale", "y_zero_point"], opset=11)
    assert [s for s in row.output_shapes] == [[2, 3], [], []]
    # 6 elements: min and max 2 x 5 compares; scale 4; zero point 5; quantize 5 per element
    assert (row.macs, row.flops) == (0, 2 * 5 + 4 + 5 + 5 * 6)
