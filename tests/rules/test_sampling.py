"""Random sampling. Convention: the generator's integer work is 0 FLOPs; a unit uniform
u = bits * 2^-k is 1 multiply; uniform = u * (high - low) + low (3 per element); normal =
Box-Muller, 10 per pair of outputs (2 unit uniforms, log, *-2, sqrt, *2pi, cos, sin,
2 multiplies) then * scale + mean (2 per element); Bernoulli = unit uniform + compare (2)."""

from __future__ import annotations

import pytest
from onnx import TensorProto

from tests.builders import I64, cost, layer, run

DOUBLE = TensorProto.DOUBLE


@pytest.mark.parametrize("attrs", [
    {},
    {"low": -2.0, "high": 5.0, "seed": 1.0},      # the bounds do not change the work
    {"dtype": DOUBLE},
])
def test_random_uniform(attrs):
    row = cost("RandomUniform", {}, attrs={"shape": [2, 3, 4]} | attrs, opset=22)
    # 24 elements x (unit uniform 1 + multiply by (high - low) 1 + add low 1)
    assert (row.macs, row.flops) == (0, 24 * (1 + 1 + 1))


def test_random_uniform_like():
    row = cost("RandomUniformLike", {"x": (5, 7)}, attrs={"low": 1.0, "high": 2.0}, opset=22)
    assert (row.macs, row.flops) == (0, 35 * 3)


@pytest.mark.parametrize("shape, pairs", [
    ([2, 3], 3),          # 6 outputs: 3 Box-Muller pairs
    ([5], 3),             # 5 outputs: the last pair's second normal is dropped
    ([1], 1),
])
def test_random_normal(shape, pairs):
    row = cost("RandomNormal", {}, attrs={"shape": shape, "mean": 1.0, "scale": 2.0}, opset=22)
    n = 1
    for d in shape:
        n *= d
    # per pair: 2 unit uniforms + log + mul -2 + sqrt + mul 2pi + cos + sin + 2 multiplies = 10
    per_pair = 2 + 1 + 1 + 1 + 1 + 1 + 1 + 2
    assert (row.macs, row.flops) == (0, pairs * per_pair + n * 2)


def test_random_normal_like():
    row = cost("RandomNormalLike", {"x": (3, 3)}, opset=22)
    # 9 outputs: 5 pairs x 10, then 9 x (multiply scale, add mean)
    assert row.flops == 5 * 10 + 9 * 2


@pytest.mark.parametrize("opset", [15, 22])
def test_bernoulli(opset):
    row = cost("Bernoulli", {"p": (4, 6)}, opset=opset)
    # 24 x (unit uniform + compare with p)
    assert (row.macs, row.flops) == (0, 24 * (1 + 1))


@pytest.mark.parametrize("classes, samples, search", [
    (10, 1, 4),           # binary search over 10: bit_length(10) = 4 compares at most
    (10, 7, 4),
    (8, 3, 4),            # bit_length(8) = 4
    (7, 3, 3),            # bit_length(7) = 3
    (1, 2, 1),
])
def test_multinomial(classes, samples, search):
    row = cost("Multinomial", {"x": (3, classes)}, attrs={"sample_size": samples}, opset=22)
    # per row: max (C-1), subtract (C), exp (C), running sum (C-1)
    cdf = (classes - 1) + classes + classes + (classes - 1)
    # per sample: unit uniform (1), times the total (1), binary search
    per_sample = 1 + 1 + search
    assert (row.macs, row.flops) == (0, 3 * (cdf + samples * per_sample))


def test_multinomial_default_sample_size_is_one():
    row = cost("Multinomial", {"x": (2, 4)}, opset=22)
    assert row.flops == 2 * ((4 - 1) + 4 + 4 + (4 - 1) + 1 + 1 + 3)   # bit_length(4) = 3


def test_multinomial_without_classes_is_refused():
    row = layer(run("Multinomial", {"x": (2, 0)}, opset=22), "Multinomial")
    assert row.status != "ok" and row.flops is None
    assert "no classes" in row.reason


def test_random_output_type_int64_like_input():
    # dtype from the input: the same per-element count
    row = cost("RandomUniformLike", {"x": ((4,), I64)}, attrs={"dtype": TensorProto.FLOAT}, opset=22)
    assert row.flops == 4 * 3


def test_multinomial_needs_a_2d_input():
    row = layer(run("Multinomial", {"x": (2, 3, 4)}, opset=22), "Multinomial")
    assert row.status != "ok" and row.flops is None
    assert "(batch, classes)" in row.reason
