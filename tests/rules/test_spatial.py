"""GridSample, AffineGrid, RoiAlign, DeformConv, Col2Im and CenterCropPad.

Per sampling location (shared by channels): unnormalise 2 per coordinate, padding
(zeros 0, border 2, reflection 8 per coordinate), weights (nearest r; linear 3r + 2^r(r−1);
cubic 27r + 4^r(r−1)); per output the blend (nearest 0; linear 2^(r+1) − 1; cubic 2·4^r − 1).
"""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper

from flopscope.analysis import analyze
from tests.builders import I64, cost, ints, layer, run, single_node, weight


def _declared(op, inputs, shape, attrs=None, opset=18):
    """A one-node model whose output shape is declared (as in ONNX's own test models), for
    inputs that shape inference cannot see through."""
    model = single_node(op, inputs, attrs=attrs, opset=opset)
    model.graph.output[0].CopyFrom(helper.make_tensor_value_info("y", TensorProto.FLOAT, shape))
    return model


# ---------------------------------------------------------------- GridSample

#: x (2, 3, 8, 8) sampled on a (2, 4, 5, 2) grid: 2·4·5 = 40 locations, 2·3·4·5 = 120 outputs
X2, GRID2 = (2, 3, 8, 8), (2, 4, 5, 2)
LOC, OUT = 2 * 4 * 5, 2 * 3 * 4 * 5


@pytest.mark.parametrize(("opset", "mode"), [(16, "bilinear"), (20, "linear")])
def test_grid_sample_bilinear_zeros(opset, mode):
    row = cost("GridSample", {"x": X2, "grid": GRID2}, attrs={"mode": mode}, opset=opset)
    assert row.output_shapes == [[2, 3, 4, 5]]
    # per location: unnormalise 2x2, floor/fraction/complement 3x2, 4 tap weights x 1 multiply
    # per output: 4 multiplies + 3 adds
    assert (row.macs, row.flops) == (0, LOC * (4 + 6 + 4) + OUT * 7)


def test_grid_sample_default_mode_is_bilinear():
    row = cost("GridSample", {"x": X2, "grid": GRID2}, opset=16)
    assert row.flops == LOC * 14 + OUT * 7


@pytest.mark.parametrize("align_corners", [0, 1])
def test_grid_sample_align_corners_does_not_change_the_count(align_corners):
    row = cost("GridSample", {"x": X2, "grid": GRID2}, attrs={"align_corners": align_corners},
               opset=20)
    assert row.flops == LOC * 14 + OUT * 7


@pytest.mark.parametrize(("padding", "per_coordinate"), [("zeros", 0), ("border", 2),
                                                        ("reflection", 8)])
def test_grid_sample_padding_modes(padding, per_coordinate):
    row = cost("GridSample", {"x": X2, "grid": GRID2},
               attrs={"mode": "linear", "padding_mode": padding}, opset=20)
    # border: clamp = min + max; reflection: 2 compares, distance, divide, truncate,
    # multiply, subtract, fold back = 8; each for the 2 coordinates of a location
    assert row.flops == LOC * (14 + 2 * per_coordinate) + OUT * 7


def test_grid_sample_nearest_rounds_and_copies():
    row = cost("GridSample", {"x": X2, "grid": GRID2}, attrs={"mode": "nearest"}, opset=20)
    # unnormalise 2x2, round x2; no arithmetic per output
    assert row.flops == LOC * (4 + 2)


@pytest.mark.parametrize(("opset", "mode"), [(16, "bicubic"), (20, "cubic")])
def test_grid_sample_bicubic(opset, mode):
    row = cost("GridSample", {"x": X2, "grid": GRID2}, attrs={"mode": mode}, opset=opset)
    # per location: unnormalise 4; per axis floor, fraction, 3 distances, 6+5+5+6 = 27, x2;
    # 16 tap weights x 1 multiply. per output: 16 multiplies + 15 adds
    assert row.flops == LOC * (4 + 2 * 27 + 16) + OUT * 31


def test_grid_sample_volumetric_trilinear():
    row = cost("GridSample", {"x": (1, 2, 4, 4, 4), "grid": (1, 2, 3, 4, 3)},
               attrs={"mode": "linear"}, opset=20)
    assert row.output_shapes == [[1, 2, 2, 3, 4]]
    # 24 locations: unnormalise 2x3, weights 3x3, 8 taps x 2 multiplies;
    # 48 outputs: 8 multiplies + 7 adds
    assert row.flops == 24 * (6 + 9 + 16) + 48 * 15


def test_grid_sample_1d_linear():
    row = cost("GridSample", {"x": (1, 2, 10), "grid": (1, 6, 1)}, opset=20)
    # 6 locations: unnormalise 2, floor/fraction/complement 3; 12 outputs: 2 mul + 1 add
    assert row.flops == 6 * (2 + 3) + 12 * 3


def test_grid_sample_refuses_a_grid_of_the_wrong_rank():
    # a 3-vector grid for a 2-D input; the output shape declared so the rule sees it
    model = _declared("GridSample", {"x": (1, 3, 8, 8), "grid": (1, 4, 5, 3)}, [1, 3, 4, 5],
                      opset=20)
    row = layer(analyze(model), "GridSample")
    assert row.status == "unresolved" and "do not fit" in row.reason


# ---------------------------------------------------------------- AffineGrid

def test_affine_grid_2d():
    row = cost("AffineGrid", {"theta": (2, 2, 3), "size": ints(2, 3, 4, 5)}, opset=20)
    assert row.output_shapes == [[2, 4, 5, 2]]
    # 2·4·5 = 40 locations x 2 coordinates, each a dot product of length 3 (5 FLOPs);
    # base grid: 4 + 5 ramp values, multiply and add each
    assert (row.macs, row.flops) == (40 * 2 * 3, 40 * 2 * 5 + 2 * (4 + 5))


@pytest.mark.parametrize("align_corners", [0, 1])
def test_affine_grid_3d(align_corners):
    row = cost("AffineGrid", {"theta": (1, 3, 4), "size": ints(1, 1, 2, 3, 4)},
               attrs={"align_corners": align_corners}, opset=20)
    assert row.output_shapes == [[1, 2, 3, 4, 3]]
    # 24 locations x 3 coordinates x length-4 dot products (7 FLOPs); ramps 2 + 3 + 4
    assert (row.macs, row.flops) == (24 * 3 * 4, 24 * 3 * 7 + 2 * (2 + 3 + 4))


def test_affine_grid_refuses_a_3d_theta_for_a_2d_size():
    row = layer(run("AffineGrid", {"theta": (2, 3, 4), "size": ints(2, 3, 4, 5)}, opset=20),
                "AffineGrid")
    assert row.status == "unresolved" and "does not fit" in row.reason


# ---------------------------------------------------------------- RoiAlign

ROI_INPUTS = {"x": (1, 4, 16, 16), "rois": (3, 4), "idx": ((3,), I64)}
ROI_ATTRS = {"output_height": 2, "output_width": 3, "sampling_ratio": 2}


def test_roi_align_avg_half_pixel():
    row = cost("RoiAlign", ROI_INPUTS, attrs=ROI_ATTRS, opset=16)
    assert row.output_shapes == [[3, 4, 2, 3]]
    # per RoI: setup 4 scale + 4 half-pixel + 2 extents + 4 divides = 14; 2·2 row and 3·2
    # column sample coordinates x 6; 6 bins x 4 samples x 4 weight products
    per_roi = 14 + 6 * (2 * 2 + 3 * 2) + 4 * 6 * 4
    # per output (4 channels x 6 bins): 4 samples x 7 blend + 3 adds + 1 divide
    per_output = 4 * 7 + 3 + 1
    assert (row.macs, row.flops) == (0, 3 * (per_roi + 4 * 6 * per_output))


def test_roi_align_max_mode():
    row = cost("RoiAlign", ROI_INPUTS, attrs={**ROI_ATTRS, "mode": "max"}, opset=16)
    per_roi = 14 + 6 * (2 * 2 + 3 * 2) + 4 * 6 * 4
    # per output: 4 samples x (4 multiplies + 3 compares), 3 compares across samples
    assert row.flops == 3 * (per_roi + 4 * 6 * (4 * 7 + 3))


@pytest.mark.parametrize("opset", [10, 16])
def test_roi_align_output_half_pixel(opset):
    attrs = dict(ROI_ATTRS)
    if opset >= 16:
        attrs["coordinate_transformation_mode"] = "output_half_pixel"
    row = cost("RoiAlign", ROI_INPUTS, attrs=attrs, opset=opset)
    # setup: 4 scale + 2 extents + 2 min-size maxes + 4 divides = 12 (opset 10's behaviour)
    per_roi = 12 + 6 * (2 * 2 + 3 * 2) + 4 * 6 * 4
    assert row.flops == 3 * (per_roi + 4 * 6 * 32)


def test_roi_align_adaptive_sampling_with_constant_rois():
    rois = np.array([[0, 0, 8, 4], [2, 2, 5, 5]], np.float32)   # [x1, y1, x2, y2]
    row = cost("RoiAlign", {"x": (1, 1, 10, 10), "rois": rois, "idx": ints(0, 0)},
               attrs={"output_height": 2, "output_width": 2}, opset=16)
    setup = 14 + 4                                   # + 2 divides and 2 ceils for the grid
    # RoI 1: 4 high, 8 wide: s_h = ceil(4/2) = 2, s_w = ceil(8/2) = 4, S = 8
    roi1 = setup + 6 * (2 * 2 + 2 * 4) + 4 * 4 * 8 + 4 * 8 * 8
    # RoI 2: 3 x 3: s_h = s_w = ceil(3/2) = 2, S = 4
    roi2 = setup + 6 * (2 * 2 + 2 * 2) + 4 * 4 * 4 + 4 * 8 * 4
    assert row.flops == roi1 + roi2


def test_roi_align_adaptive_sampling_needs_the_roi_values():
    row = layer(run("RoiAlign", ROI_INPUTS, attrs={"output_height": 2, "output_width": 3},
                    opset=16), "RoiAlign")
    assert row.status == "unresolved"
    assert "depends on the RoI values" in row.reason


def test_roi_align_refuses_rois_of_the_wrong_width():
    row = layer(run("RoiAlign", {"x": (1, 4, 16, 16), "rois": (3, 5), "idx": ((3,), I64)},
                    attrs=ROI_ATTRS, opset=16), "RoiAlign")
    assert row.status == "unresolved" and "do not fit" in row.reason


# ---------------------------------------------------------------- DeformConv

#: x (1, 4, 6, 6), 3x3 kernel, 6 output channels: a 4x4 output
DX, DW, DOFF = (1, 4, 6, 6), weight(6, 4, 3, 3), (1, 2 * 9, 4, 4)
D_OUT = 6 * 16                          # outputs
D_N = 4 * 9                             # dot-product length (Cin/group)·∏kernel
D_POS = 1 * 1 * 9 * 16                  # N·offset_group·∏kernel·∏out sampling positions
D_VAL = 1 * 4 * 9 * 16                  # N·C·∏kernel·∏out sampled values


def test_deform_conv_plain():
    row = cost("DeformConv", {"x": DX, "w": DW, "offset": DOFF}, opset=19)
    assert row.output_shapes == [[1, 6, 4, 4]]
    # conv: 2n - 1 per output; positions: offset add, floor, fraction, complement x 2 axes
    # + 4 tap-weight multiplies; values: 4 multiplies + 3 adds
    assert (row.macs, row.flops) == (D_N * D_OUT,
                                     (2 * D_N - 1) * D_OUT + D_POS * (8 + 4) + D_VAL * 7)


def test_deform_conv_with_bias_and_mask():
    row = cost("DeformConv", {"x": DX, "w": DW, "offset": DOFF, "b": weight(6),
                              "mask": (1, 9, 4, 4)}, opset=19)
    # + 1 bias add per output, + 1 mask multiply per sampled value
    assert row.flops == (2 * D_N - 1) * D_OUT + D_OUT + D_POS * 12 + D_VAL * (7 + 1)


def test_deform_conv_groups_and_offset_groups():
    row = cost("DeformConv", {"x": DX, "w": weight(6, 2, 3, 3), "offset": (1, 2 * 2 * 9, 4, 4)},
               attrs={"group": 2, "offset_group": 2}, opset=19)
    n = 2 * 9                            # 4/2 input channels per group x 9 taps
    positions = 1 * 2 * 9 * 16           # two offset groups
    assert (row.macs, row.flops) == (n * D_OUT,
                                     (2 * n - 1) * D_OUT + positions * 12 + D_VAL * 7)


def test_deform_conv_strided_padded():
    # 6x6, pad 1, stride 2: (6 + 2 - 3) // 2 + 1 = 3
    row = cost("DeformConv", {"x": DX, "w": DW, "offset": (1, 18, 3, 3)},
               attrs={"pads": [1, 1, 1, 1], "strides": [2, 2]}, opset=19)
    assert row.output_shapes == [[1, 6, 3, 3]]
    outputs, pos, val = 6 * 9, 9 * 9, 4 * 9 * 9
    assert row.flops == (2 * D_N - 1) * outputs + pos * 12 + val * 7


def test_deform_conv_refuses_an_offset_of_the_wrong_channels():
    row = layer(run("DeformConv", {"x": DX, "w": DW, "offset": (1, 9, 4, 4)}, opset=19),
                "DeformConv")
    assert row.status == "unresolved" and "do not fit" in row.reason


# ---------------------------------------------------------------- Col2Im

def test_col2im_strided_blocks_overlap_on_one_row_and_column():
    # 5x5 image, 3x3 blocks, stride 2: 2x2 blocks; per axis 2·3 = 6 elements land on
    # 5 positions, so 36 elements reach 25 positions: 11 adds per (n, c)
    row = cost("Col2Im", {"x": (2, 2 * 9, 4), "image": ints(5, 5), "block": ints(3, 3)},
               attrs={"strides": [2, 2]}, opset=18)
    assert row.output_shapes == [[2, 2, 5, 5]]
    assert (row.macs, row.flops) == (0, 2 * 2 * (36 - 25))


def test_col2im_non_overlapping_blocks_cost_nothing():
    # 4x6 image, 2x3 blocks, stride (2, 3): 2x2 blocks tile the image exactly
    row = cost("Col2Im", {"x": (1, 6, 4), "image": ints(4, 6), "block": ints(2, 3)},
               attrs={"strides": [2, 3]}, opset=18)
    assert row.flops == 0


def test_col2im_padding_drops_elements():
    # 5x5 image, 1x5 blocks, pads 1 on W: 5 x 3 blocks; along W the blocks start at
    # -1, 0, 1 and keep 4 + 5 + 4 = 13 of 15 elements on 5 positions; along H 5 on 5
    row = cost("Col2Im", {"x": (1, 5, 15), "image": ints(5, 5), "block": ints(1, 5)},
               attrs={"pads": [0, 1, 0, 1]}, opset=18)
    assert row.flops == 5 * 13 - 5 * 5


def test_col2im_dilation():
    # 6x6 image, 2x2 blocks, dilations (1, 5): 5 x 1 blocks; along H 10 elements on 6
    # positions, along W 2 on 2
    row = cost("Col2Im", {"x": (1, 4, 5), "image": ints(6, 6), "block": ints(2, 2)},
               attrs={"dilations": [1, 5]}, opset=18)
    assert row.flops == 10 * 2 - 6 * 2


def test_col2im_3d():
    # 3x4x5 image, 2x2x2 blocks, stride 1: 2x3x4 blocks; per axis 2·L elements on all
    # positions: (4·6·8) - (3·4·5) adds
    row = cost("Col2Im", {"x": (1, 8, 24), "image": ints(3, 4, 5), "block": ints(2, 2, 2)},
               opset=18)
    assert row.flops == 4 * 6 * 8 - 3 * 4 * 5


def test_col2im_block_shape_fixed_by_the_shapes():
    # only 3x3 blocks give 4 blocks of a 9-element block on 5x5 with stride 2 (1x9, 9x1 do not fit)
    model = _declared("Col2Im", {"x": (1, 9, 4), "image": ((2,), I64), "block": ((2,), I64)},
                      [1, 1, 5, 5], {"strides": [2, 2]})
    row = layer(analyze(model), "Col2Im")
    assert (row.status, row.flops) == ("ok", 36 - 25)


def test_col2im_ambiguous_block_shape_is_unresolved():
    # 3x4 image, stride (2, 1), 3-element blocks, 4 blocks: 1x3 (2·6 - 2·4 = 4 adds) or 3x1 (0)
    model = _declared("Col2Im", {"x": (1, 3, 4), "image": ((2,), I64), "block": ((2,), I64)},
                      [1, 1, 3, 4], {"strides": [2, 1]})
    row = layer(analyze(model), "Col2Im")
    assert row.status == "unresolved" and "different cost" in row.reason


def test_col2im_refuses_a_block_count_that_does_not_fit():
    row = layer(run("Col2Im", {"x": (1, 9, 5), "image": ints(5, 5), "block": ints(3, 3)},
                    attrs={"strides": [2, 2]}, opset=18), "Col2Im")
    assert row.status == "unresolved" and "no block_shape" in row.reason


# ---------------------------------------------------------------- CenterCropPad

def test_center_crop_pad_is_data_movement():
    row = cost("CenterCropPad", {"x": (1, 3, 10, 10), "shape": ints(6, 12)},
               attrs={"axes": [2, 3]}, opset=18)
    assert row.output_shapes == [[1, 3, 6, 12]]
    assert (row.macs, row.flops) == (0, 0)
