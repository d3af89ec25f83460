"""ONNX Runtime's normalisation kernels (rules/contrib_norm.py), counted by hand.

LayerNorm: 5r+3 per row of r, then scale (and shift) per element; RMSNorm 4r+3 per row.
"""

from __future__ import annotations

import numpy as np
from onnx import TensorProto

from tests.builders import cost, weight
from tests.rules.contrib import cost_op

X = (2, 3, 8)
ROWS, R = 6, 8


def test_skip_layer_norm_adds_then_layer_norm():
    row = cost_op("SkipLayerNormalization",
                  {"x": X, "skip": X, "g": weight(8), "beta": weight(8), "bias": weight(8)},
                  outputs=["y", "", "", "sum"])
    assert row.flops == 2 * 48 + ROWS * (5 * R + 3 + 2 * R)     # skip and bias, LN, scale+shift
    row = cost_op("SkipLayerNormalization", {"x": X, "skip": X, "g": weight(8)})
    assert row.flops == 48 + ROWS * (5 * R + 3 + R)


def test_rms_norms():
    assert cost_op("SkipSimplifiedLayerNormalization", {"x": X, "skip": X, "g": weight(8)}).flops \
        == 48 + ROWS * (4 * R + 3)
    row = cost_op("SimplifiedLayerNormalization", {"x": X, "g": weight(8)}, attrs={"axis": -1},
                  domain="")
    assert row.flops == ROWS * (4 * R + 3)
    assert row.flops == cost("RMSNormalization", {"x": X, "g": weight(8)}, opset=23).flops


def test_embed_layer_norm_sums_embeddings_then_normalises():
    ids = ((2, 7), TensorProto.INT32)
    tables = {"we": weight(30, 8), "pe": weight(16, 8)}
    affine = {"g": weight(8), "b": weight(8)}
    row = cost_op("EmbedLayerNormalization",
                  {"ids": ids, "seg": ids, **tables, "se": weight(2, 8), **affine}, outputs=["y", "mask"])
    assert row.output_shapes[0] == [2, 7, 8]
    assert row.flops == 2 * 14 * 8 + 14 * (5 * 8 + 3 + 2 * 8)
    assert row.params == 30 * 8 + 16 * 8 + 2 * 8 + 16
    row = cost_op("EmbedLayerNormalization", {"ids": ids, "seg": None, **tables, "se": None, **affine})
    assert row.flops == 14 * 8 + 14 * (5 * 8 + 3 + 2 * 8)


def test_group_norm_channels_last_and_skip():
    x = {"x": (1, 4, 4, 8), "g": weight(8), "b": weight(8)}
    base = 2 * (5 * 64 + 3 + 2 * 64)                      # 2 groups of r = 4·4·8/2
    assert cost_op("GroupNorm", x, attrs={"groups": 2, "activation": 0}).flops == base
    assert cost_op("GroupNorm", x, attrs={"groups": 2, "activation": 1}).flops == base + 5 * 128
    skip = cost_op("SkipGroupNorm", {**x, "skip": (1, 4, 4, 8), "bias": weight(8)},
                   attrs={"groups": 2, "activation": 0})
    assert skip.flops == base + 2 * 128
    assert np.prod((1, 4, 4, 8)) == 128
