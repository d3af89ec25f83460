"""Normalisations. Statistics over a group of r: mean (r), variance (3r), inverse std (3),
normalise (r): 5r + 3, then one multiply (scale) and one add (bias) per element."""

from __future__ import annotations

import pytest

from tests.builders import cost, layer, run, weight


def test_batch_norm_inference_is_scale_and_shift():
    c = 3
    row = cost("BatchNormalization", {"x": (2, c, 4, 4), "scale": weight(c), "b": weight(c),
                                       "mean": weight(c), "var": weight(c)})
    assert (row.macs, row.flops) == (0, 2 * (2 * 3 * 4 * 4))
    assert row.params == 4 * c            # every float constant counts in ONNX


def test_batch_norm_2d_input():
    row = cost("BatchNormalization", {"x": (8, 16), "scale": weight(16), "b": weight(16),
                                       "mean": weight(16), "var": weight(16)})
    assert row.flops == 2 * 8 * 16


def test_batch_norm_training_mode_computes_batch_statistics():
    c, r = 3, 2 * 4 * 4                   # per channel: N * H * W elements
    row = cost("BatchNormalization", {"x": (2, c, 4, 4), "scale": weight(c), "b": weight(c),
                                       "mean": weight(c), "var": weight(c)},
               outputs=["y", "running_mean", "running_var"], attrs={"training_mode": 1}, opset=15)
    assert row.flops == c * (5 * r + 3 + 2 * r)


@pytest.mark.parametrize("bias", [True, False])
def test_layer_norm_last_axis(bias):
    inputs = {"x": (2, 3, 4), "scale": weight(4)}
    if bias:
        inputs["bias"] = weight(4)
    row = cost("LayerNormalization", inputs, opset=17)
    rows, r = 2 * 3, 4
    affine = 2 if bias else 1
    assert (row.macs, row.flops) == (0, rows * (5 * r + 3 + affine * r))


def test_layer_norm_axis_1_normalises_the_trailing_block():
    row = cost("LayerNormalization", {"x": (2, 3, 4), "scale": weight(3, 4), "bias": weight(3, 4)},
               attrs={"axis": 1}, opset=17)
    rows, r = 2, 3 * 4
    assert row.flops == rows * (5 * r + 3 + 2 * r)


def test_layer_norm_transformer_hidden():
    row = cost("LayerNormalization", {"x": (1, 128, 768), "scale": weight(768), "bias": weight(768)},
               opset=17)
    assert row.flops == 128 * (5 * 768 + 3 + 2 * 768)
    assert row.params == 2 * 768


@pytest.mark.parametrize("opset, affine_len", [
    (18, 3),
    (21, 6),
])
def test_group_norm(opset, affine_len):
    # opset 18: scale and bias per group; 21: per channel. Same arithmetic.
    row = cost("GroupNormalization", {"x": (2, 6, 4, 4), "scale": weight(affine_len),
                                       "bias": weight(affine_len)},
               attrs={"num_groups": 3}, opset=opset)
    groups, r = 2 * 3, (6 // 3) * 4 * 4
    assert (row.macs, row.flops) == (0, groups * (5 * r + 3 + 2 * r))


def test_instance_norm():
    row = cost("InstanceNormalization", {"x": (2, 3, 4, 4), "scale": weight(3), "b": weight(3)})
    groups, r = 2 * 3, 4 * 4
    assert (row.macs, row.flops) == (0, groups * (5 * r + 3 + 2 * r))


def test_instance_norm_1d():
    row = cost("InstanceNormalization", {"x": (1, 4, 10), "scale": weight(4), "b": weight(4)})
    assert row.flops == 4 * (5 * 10 + 3 + 2 * 10)


@pytest.mark.parametrize("axis, scale_shape, rows, r", [
    (None, (8,), 2 * 3, 8),
    (-1, (8,), 2 * 3, 8),
    (1, (3, 8), 2, 3 * 8),
])
def test_rms_norm(axis, scale_shape, rows, r):
    attrs = {} if axis is None else {"axis": axis}
    row = cost("RMSNormalization", {"x": (2, 3, 8), "scale": weight(*scale_shape)}, attrs=attrs, opset=23)
    # squares r, adds r-1, divide 1, eps add, sqrt, reciprocal, r normalise, r scale
    per_row = r + (r - 1) + 1 + 3 + r + r
    assert per_row == 4 * r + 3
    assert (row.macs, row.flops) == (0, rows * per_row)


# ------------------------------------------------------------------------------- LRN
# window of channel c: max(0, c - floor((size-1)/2)) .. min(C-1, c + ceil((size-1)/2)),
# w_c channels: w_c squares, w_c - 1 adds, alpha/size multiply, bias add, pow, divide


@pytest.mark.parametrize("channels, size, windows", [
    (5, 3, [2, 3, 3, 3, 2]),
    (5, 4, [3, 4, 4, 3, 2]),       # even size: one more channel above than below
    (5, 5, [3, 4, 5, 4, 3]),
    (5, 1, [1, 1, 1, 1, 1]),
    (3, 7, [3, 3, 3]),             # window wider than the channels
])
def test_lrn_exact_border_windows(channels, size, windows):
    row = cost("LRN", {"x": (2, channels, 3, 3)}, attrs={"size": size})
    positions = 2 * 3 * 3
    per_position = sum(2 * w + 3 for w in windows)
    assert (row.macs, row.flops) == (0, per_position * positions)


def test_lrn_alexnet_numbers():
    # C=5, size 3: 7 + 9 + 9 + 9 + 7 = 41 FLOPs per spatial position
    row = cost("LRN", {"x": (1, 5, 2, 2)}, attrs={"size": 3})
    assert row.flops == 41 * 4


# ------------------------------------------------------------------- LpNormalization


@pytest.mark.parametrize("axis, p, vectors, per_vector", [
    (None, None, 2 * 3, 3 * 4),          # defaults: axis -1, p 2: squares, adds, sqrt, divides
    (-1, 2, 2 * 3, 3 * 4),
    (-1, 1, 2 * 3, 3 * 4 - 1),           # L1: abs, adds, divides
    (1, 2, 2 * 4, 3 * 3),
    (0, 1, 3 * 4, 3 * 2 - 1),
])
def test_lp_normalization(axis, p, vectors, per_vector):
    attrs = {k: v for k, v in (("axis", axis), ("p", p)) if v is not None}
    row = cost("LpNormalization", {"x": (2, 3, 4)}, attrs=attrs)
    assert (row.macs, row.flops) == (0, vectors * per_vector)


# -------------------------------------------------------- MeanVarianceNormalization
# per group of r: mean r, variance 3r, eps add + sqrt + reciprocal 3, normalise r: 5r + 3


@pytest.mark.parametrize("axes, groups, r", [
    (None, 3, 2 * 4 * 5),              # default [0, 2, 3]: one group per channel
    ([0, 2, 3], 3, 2 * 4 * 5),
    ([2, 3], 2 * 3, 4 * 5),            # instance-norm-like
    ([1, 2, 3], 2, 3 * 4 * 5),         # layer-norm-like
    ([-1], 2 * 3 * 4, 5),
])
@pytest.mark.parametrize("opset", [9, 13])
def test_mean_variance_normalization(axes, groups, r, opset):
    attrs = {} if axes is None else {"axes": axes}
    row = cost("MeanVarianceNormalization", {"x": (2, 3, 4, 5)}, attrs=attrs, opset=opset)
    assert (row.macs, row.flops) == (0, groups * (r + 3 * r + 3 + r))


def test_mean_variance_normalization_default_axes_need_rank_4():
    row = layer(run("MeanVarianceNormalization", {"x": (2, 3, 4)}, opset=13),
                "MeanVarianceNormalization")
    assert row.status != "ok" and row.flops is None
    assert "axes [0, 2, 3] do not fit rank 3" in row.reason


def test_mean_variance_normalization_repeated_axes_are_refused():
    row = layer(run("MeanVarianceNormalization", {"x": (2, 3, 4, 5)}, attrs={"axes": [1, -3]},
                    opset=13), "MeanVarianceNormalization")
    assert row.status != "ok" and row.flops is None
    assert "repeated" in row.reason
