"""Activations priced per element, Gelu, Clip, and the softmax family with both axis semantics."""

from __future__ import annotations

import pytest

from tests.builders import cost, weight

SHAPE = (2, 3, 4, 5)
N = 2 * 3 * 4 * 5

#: per-element prices, written out from DESIGN.md and the derivations in constants.py
ACTIVATIONS = [
    ("Relu", 1, 17),              # max(x, 0): the notes' count
    ("Sigmoid", 4, 17),           # negate, exp, add 1, divide: the notes' count
    ("LeakyRelu", 2, 17),         # compare, multiply
    ("ThresholdedRelu", 1, 17),   # compare
    ("Elu", 4, 17),               # compare, exp, subtract 1, multiply alpha
    ("Celu", 5, 17),              # compare, divide, exp, subtract 1, multiply alpha
    ("Selu", 5, 17),              # compare, exp, subtract 1, multiply alpha, multiply gamma
    ("HardSigmoid", 4, 17),       # multiply alpha, add beta, min, max
    ("HardSwish", 5, 17),         # hard sigmoid, multiply by x
    ("Swish", 5, 24),             # sigmoid, multiply by x
    ("Tanh", 5, 17),              # multiply 2, exp, subtract 1, add 1, divide
    ("Softplus", 3, 17),          # exp, add 1, log
    ("Softsign", 3, 17),          # abs, add 1, divide
    ("Mish", 9, 18),              # softplus (3), tanh (5), multiply x
    ("Shrink", 2, 17),            # compare, add or subtract the bias
]


@pytest.mark.parametrize("op, per_element, opset", ACTIVATIONS, ids=[a[0] for a in ACTIVATIONS])
def test_pointwise_activation(op, per_element, opset):
    row = cost(op, {"x": SHAPE}, opset=opset)
    assert row.macs == 0
    assert row.flops == per_element * N
    assert row.params == 0


def test_relu_is_one_flop_and_sigmoid_four_per_element():
    assert cost("Relu", {"x": (1, 64, 112, 112)}).flops == 64 * 112 * 112
    assert cost("Sigmoid", {"x": (1, 64, 112, 112)}).flops == 4 * 64 * 112 * 112


def test_prelu_per_output_element_with_broadcast_slope():
    row = cost("PRelu", {"x": SHAPE, "slope": weight(3, 1, 1)})
    assert row.macs == 0
    assert row.flops == 2 * N
    assert row.params == 3


@pytest.mark.parametrize("approximate, per_element", [
    (None, 5),        # x/sqrt(2), erf, add 1, multiply x, multiply 0.5
    ("none", 5),
    ("tanh", 9),      # x^3 (2), *0.044715, add, *sqrt(2/pi), tanh, add 1, *x, *0.5
])
def test_gelu_exact_and_tanh(approximate, per_element):
    attrs = {} if approximate is None else {"approximate": approximate}
    row = cost("Gelu", {"x": SHAPE}, attrs=attrs, opset=20)
    assert (row.macs, row.flops) == (0, per_element * N)


# ------------------------------------------------------------------------------ Clip


def test_clip_opset_6_always_applies_both_bounds():
    assert cost("Clip", {"x": SHAPE}, opset=6).flops == 2 * N
    assert cost("Clip", {"x": SHAPE}, attrs={"min": 0.0, "max": 6.0}, opset=6).flops == 2 * N


@pytest.mark.parametrize("lo, hi, bounds", [
    (False, False, 0),
    (True, False, 1),
    (False, True, 1),
    (True, True, 2),
])
def test_clip_opset_13_counts_the_bounds_given(lo, hi, bounds):
    inputs = {"x": SHAPE}
    if lo or hi:
        inputs["min"] = weight(value=0.0) if lo else None   # None: the optional input is ""
    if hi:
        inputs["max"] = weight(value=6.0)
    row = cost("Clip", inputs, opset=13)
    assert (row.macs, row.flops) == (0, bounds * N)
    assert row.params == int(lo) + int(hi)          # float scalar constants are parameters


# ------------------------------------------------------------------- softmax family

#: (opset, axis attribute, rows, row length n) on a 2x3x4x5 input
SOFTMAX_AXES = [
    (11, None, 2, 3 * 4 * 5),       # before 13: coerced to 2-D at axis (default 1)
    (11, 2, 2 * 3, 4 * 5),
    (11, -1, 2 * 3 * 4, 5),
    (11, 0, 1, 2 * 3 * 4 * 5),
    (13, None, 2 * 3 * 4, 5),       # 13 on: the single axis (default -1)
    (13, 1, 2 * 4 * 5, 3),
    (13, -2, 2 * 3 * 5, 4),
    (13, 0, 3 * 4 * 5, 2),
]


@pytest.mark.parametrize("opset, axis, rows, n", SOFTMAX_AXES)
def test_softmax_rows(opset, axis, rows, n):
    attrs = {} if axis is None else {"axis": axis}
    # max (n-1), subtract (n), exp (n), sum (n-1), divide (n): 5n - 2 per row
    row = cost("Softmax", {"x": SHAPE}, attrs=attrs, opset=opset)
    assert (row.macs, row.flops) == (0, rows * (5 * n - 2))


@pytest.mark.parametrize("opset, axis, rows, n", SOFTMAX_AXES)
def test_log_softmax_rows(opset, axis, rows, n):
    attrs = {} if axis is None else {"axis": axis}
    # max (n-1), subtract (n), exp (n), sum (n-1), log (1), subtract (n): 5n - 1 per row
    row = cost("LogSoftmax", {"x": SHAPE}, attrs=attrs, opset=opset)
    assert (row.macs, row.flops) == (0, rows * (5 * n - 1))


@pytest.mark.parametrize("opset, axis, rows, n", SOFTMAX_AXES)
def test_hardmax_rows(opset, axis, rows, n):
    attrs = {} if axis is None else {"axis": axis}
    row = cost("Hardmax", {"x": SHAPE}, attrs=attrs, opset=opset)
    assert (row.macs, row.flops) == (0, rows * (n - 1))


def test_softmax_worked_example():
    # a classifier head: 1 x 1000, opset 13: 5*1000 - 2
    assert cost("Softmax", {"x": (1, 1000)}, opset=13).flops == 4998


def test_swish_with_alpha_multiplies_once_more():
    # x * sigmoid(alpha * x): sigmoid 4, multiply by x 1, and the alpha multiply
    assert cost("Swish", {"x": SHAPE}, attrs={"alpha": 1.702}, opset=24).flops == (4 + 1 + 1) * N
    assert cost("Swish", {"x": SHAPE}, attrs={"alpha": 1.0}, opset=24).flops == (4 + 1) * N
