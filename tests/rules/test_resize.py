"""Resize and Upsample. Per output element, d = axes whose size changes: nearest 0;
linear 2^d − 1 lerps of 3 FLOPs; cubic 4^d multiplies and 4^d − 1 adds."""

from __future__ import annotations

import numpy as np
import pytest

from tests.builders import cost, ints, layer, run

EMPTY = np.zeros((0,), np.float32)


def scales(*values):
    return np.array(values, dtype=np.float32)


#: mode -> FLOPs per output element when d axes change
PER_OUTPUT = {
    "nearest": lambda d: 0,
    "linear": lambda d: 3 * (2**d - 1),
    "cubic": lambda d: 4**d + (4**d - 1),
}


@pytest.mark.parametrize("mode", sorted(PER_OUTPUT))
def test_resize_2x_on_h_and_w_with_scales(mode):
    row = cost("Resize", {"x": (1, 3, 4, 4), "roi": EMPTY, "scales": scales(1, 1, 2, 2)},
               attrs={"mode": mode}, opset=13)
    assert row.output_shapes == [[1, 3, 8, 8]]
    outputs = 3 * 8 * 8
    assert (row.macs, row.flops) == (0, PER_OUTPUT[mode](2) * outputs)


def test_resize_linear_2x_by_hand():
    row = cost("Resize", {"x": (1, 3, 4, 4), "roi": EMPTY, "scales": scales(1, 1, 2, 2)},
               attrs={"mode": "linear"}, opset=13)
    assert row.flops == 9 * 3 * 8 * 8               # 3 lerps of 3 FLOPs: bilinear


@pytest.mark.parametrize("mode", sorted(PER_OUTPUT))
def test_resize_one_axis_with_sizes(mode):
    # sizes input (roi and scales omitted): only W changes, d = 1
    row = cost("Resize", {"x": (2, 3, 5, 4), "roi": None, "scales": None, "sizes": ints(2, 3, 5, 10)},
               attrs={"mode": mode}, opset=13)
    assert row.output_shapes == [[2, 3, 5, 10]]
    assert row.flops == PER_OUTPUT[mode](1) * 2 * 3 * 5 * 10


def test_resize_sizes_with_empty_roi_and_scales_initializers():
    # what exporters write when they give sizes: roi and scales as empty initializers
    row = cost("Resize", {"x": (2, 3, 5, 4), "roi": EMPTY, "scales": EMPTY, "sizes": ints(2, 3, 5, 10)},
               attrs={"mode": "linear"}, opset=13)
    assert row.flops == 3 * 2 * 3 * 5 * 10


def test_resize_trilinear_3d():
    row = cost("Resize", {"x": (1, 2, 3, 4, 5), "roi": EMPTY, "scales": scales(1, 1, 2, 2, 2)},
               attrs={"mode": "linear"}, opset=13)
    assert row.flops == 3 * (2**3 - 1) * 2 * 6 * 8 * 10


def test_resize_downscale_linear():
    row = cost("Resize", {"x": (1, 1, 8, 8), "roi": EMPTY, "scales": scales(1, 1, 0.5, 0.5)},
               attrs={"mode": "linear"}, opset=13)
    assert row.output_shapes == [[1, 1, 4, 4]]
    assert row.flops == 9 * 16


def test_resize_opset_10_scales_only():
    row = cost("Resize", {"x": (1, 3, 4, 4), "scales": scales(1, 1, 2, 2)}, attrs={"mode": "linear"},
               opset=10)
    assert row.output_shapes == [[1, 3, 8, 8]]
    assert row.flops == 9 * 3 * 8 * 8


def test_resize_opset_18_sizes_with_axes():
    row = cost("Resize", {"x": (1, 3, 4, 4), "roi": None, "scales": None, "sizes": ints(8, 8)},
               attrs={"mode": "cubic", "axes": [2, 3]}, opset=18)
    assert row.output_shapes == [[1, 3, 8, 8]]
    assert row.flops == (16 + 15) * 3 * 8 * 8


def test_resize_that_changes_nothing_is_free():
    row = cost("Resize", {"x": (1, 3, 4, 4), "roi": EMPTY, "scales": scales(1, 1, 1, 1)},
               attrs={"mode": "linear"}, opset=13)
    assert row.flops == 0


def test_antialiased_downscale_is_unresolved_not_guessed():
    report = run("Resize", {"x": (1, 1, 8, 8), "roi": EMPTY, "scales": scales(1, 1, 0.5, 0.5)},
                 attrs={"mode": "linear", "antialias": 1}, opset=18)
    row = layer(report, "Resize")
    assert row.status == "unresolved" and row.flops is None
    assert "antialias" in row.reason


def test_antialiased_upscale_is_plain_linear():
    row = cost("Resize", {"x": (1, 1, 4, 4), "roi": EMPTY, "scales": scales(1, 1, 2, 2)},
               attrs={"mode": "linear", "antialias": 1}, opset=18)
    assert row.flops == 9 * 64


@pytest.mark.parametrize("mode, per_output", [("nearest", 0), ("linear", 3 * (2**2 - 1))])
def test_upsample_opset_9(mode, per_output):
    row = cost("Upsample", {"x": (1, 3, 4, 4), "scales": scales(1, 1, 2, 2)}, attrs={"mode": mode},
               opset=9)
    assert row.output_shapes == [[1, 3, 8, 8]]
    assert (row.macs, row.flops) == (0, per_output * 3 * 8 * 8)


def test_upsample_opset_7_scales_attribute():
    row = cost("Upsample", {"x": (1, 3, 4, 4)}, attrs={"mode": "linear", "scales": [1.0, 1.0, 2.0, 3.0]},
               opset=7)
    assert row.output_shapes == [[1, 3, 8, 12]]
    assert row.flops == 9 * 3 * 8 * 12
