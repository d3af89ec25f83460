"""Spatial sampling and rearrangement: GridSample, AffineGrid, RoiAlign, DeformConv,
Col2Im and CenterCropPad.

Shared conventions (one FLOP per primitive, see ``rules/constants.py``):

- Work that depends only on a sampling *location* (unnormalising a coordinate, its floor,
  its fractional part, the interpolation weights) is counted once per location and
  shared by every channel sampled there; the blend of the sampled taps is counted per
  output element (per channel).
- Linear interpolation in r dimensions uses explicit tap weights: per axis, floor,
  fraction t = x − ⌊x⌋ and complement 1 − t (3 FLOPs); the 2^r tap weights are products
  of r per-axis factors, 2^r·(r−1) multiplies; the blend is 2^r multiplies and 2^r − 1
  adds, 2^(r+1) − 1 FLOPs per output.
- Cubic interpolation (Keys, A = −0.75): per axis, floor, fraction, the three shifted
  distances t+1, 1−t, 2−t and the four kernel values (6 + 5 + 5 + 6 by Horner): 27
  FLOPs; 4^r·(r−1) tap-weight multiplies; the blend is 4^r multiplies and 4^r − 1 adds,
  2·4^r − 1 FLOPs per output (the same per-output count as Resize's cubic mode).
- Tests that only decide whether a tap lies inside the image (zero padding, skipped
  samples) are index handling and cost nothing; clamps and reflections that change a
  coordinate's value are counted.
"""

from __future__ import annotations

import struct
from math import ceil, isqrt, prod

from flopscope.graph import Node, RuleError, ValueUnknown
from flopscope.rules.registry import Cost, rule

#: per coordinate: unnormalise x = g·a + b (a, b per-axis constants): multiply, add
_UNNORMALISE = 2
#: per coordinate, by padding mode: border clamps (min, max); reflection as ONNX's
#: reference: 2 range compares, distance, divide, truncate, multiply, subtract, fold back
_PADDING = {"zeros": 0, "border": 2, "reflection": 8}
#: per axis: floor, fraction t, complement 1 − t
_LINEAR_AXIS = 3
#: per axis: floor, fraction, 3 shifted distances, Keys' 4 kernel values (6 + 5 + 5 + 6)
_CUBIC_AXIS = 2 + 3 + 22
#: the interpolation modes under their opset-16 and opset-20 names
_MODES = {"bilinear": "linear", "linear": "linear", "nearest": "nearest",
          "bicubic": "cubic", "cubic": "cubic"}


def _location_and_blend(mode: str, r: int) -> tuple[int, int]:
    """(FLOPs per sampling location, FLOPs per output element) of ``mode`` in r dims,
    beyond unnormalising and padding the coordinates."""
    if mode == "nearest":
        return r, 0                                   # one round per coordinate, a copy
    if mode == "linear":
        return _LINEAR_AXIS * r + 2**r * (r - 1), 2 ** (r + 1) - 1
    return _CUBIC_AXIS * r + 4**r * (r - 1), 2 * 4**r - 1


@rule("GridSample")
def grid_sample(node: Node) -> Cost:
    """FLOPs = L·(2r + pad·r + W) + O·B, with L = N·∏out_spatial sampling locations,
    O = N·C·∏out_spatial outputs and r the number of spatial dims.

    Per location, shared by the C channels: unnormalising each of the r grid coordinates
    (multiply, add: 2r); the padding mode per coordinate (zeros 0: out-of-range taps read
    0 by an index test; border 2: clamp; reflection 8: the reflect of ONNX's reference,
    counted for every coordinate since whether one falls outside depends on the grid's
    values); and the mode's weights W: nearest r (one round per coordinate); linear
    3r + 2^r·(r−1) (floor, fraction, complement per axis; tap-weight products); cubic
    27r + 4^r·(r−1) (Keys' four weights per axis; tap-weight products).
    Per output, the blend B: nearest 0 (a copy); linear 2^(r+1) − 1 (2^r multiplies,
    2^r − 1 adds; 7 for bilinear); cubic 2·4^r − 1 (31 for bicubic).
    """
    x, grid, y = node.shape(0), node.shape(1), node.out_shape(0)
    r = len(x) - 2
    if r < 1 or len(grid) != r + 2 or grid[-1] != r or grid[0] != x[0] \
            or tuple(y) != (x[0], x[1], *grid[1:-1]):
        raise RuleError(f"GridSample '{node.name}': input {x}, grid {grid} and output {y} "
                        f"do not fit (grid must be (N, *out, {max(r, 0)}))")
    raw_mode, padding = node.attr("mode", "linear"), node.attr("padding_mode", "zeros")
    if raw_mode not in _MODES or padding not in _PADDING:
        raise RuleError(f"GridSample '{node.name}': unknown mode '{raw_mode}' or "
                        f"padding_mode '{padding}'")
    per_location, per_output = _location_and_blend(_MODES[raw_mode], r)
    locations = prod(grid[:-1])
    flops = locations * ((_UNNORMALISE + _PADDING[padding]) * r + per_location)
    return Cost(flops=flops + prod(y) * per_output)


@rule("AffineGrid", dot_product=True)
def affine_grid(node: Node) -> Cost:
    """MACs = N·∏size·r·(r+1); FLOPs = (2(r+1) − 1)·N·∏size·r + 2·Σsize.

    Each output coordinate is the dot product of a row of theta (N, r, r+1) with the
    homogeneous base-grid point (x, y[, z], 1): r+1 MACs, 2(r+1) − 1 FLOPs, r of them per
    location (a small batched matmul, counted like Gemm). The base grid is built from one
    evenly spaced ramp per axis, shared by the batch: one multiply and one add per value.
    """
    theta, y = node.shape(0), node.out_shape(0)
    r = len(y) - 2
    if r < 1 or tuple(theta) != (y[0], r, r + 1) or y[-1] != r:
        raise RuleError(f"AffineGrid '{node.name}': theta {theta} does not fit grid {y} "
                        f"(theta must be (N, r, r+1), the grid (N, *size, r))")
    locations = prod(y[:-1])
    macs = locations * r * (r + 1)
    flops = locations * r * (2 * (r + 1) - 1) + 2 * sum(y[1:-1])
    return Cost(macs=macs, flops=flops)


def _f32(value: float) -> float:
    """``value`` rounded to float32, as the reference computes RoI extents (one float32
    operation is its double result rounded once: doubles carry more than twice the bits)."""
    rounded: float = struct.unpack("<f", struct.pack("<f", value))[0]
    return rounded


def _roi_grids(node: Node, rois: int, oh: int, ow: int, half_pixel: bool) -> list[tuple[int, int]]:
    """(s_h, s_w) sampling grid of every RoI: sampling_ratio² points, or the adaptive
    ⌈roi_h/oh⌉·⌈roi_w/ow⌉ read from constant RoIs (as ONNX's reference computes it)."""
    ratio = node.attr("sampling_ratio", 0)
    if ratio > 0:
        return [(ratio, ratio)] * rois
    try:
        values = node.value(1)
    except ValueUnknown:
        raise ValueUnknown(f"RoiAlign '{node.name}': sampling_ratio=0 samples "
                           f"ceil(roi_h/out_h)·ceil(roi_w/out_w) points per bin, which "
                           f"depends on the RoI values (not a constant here)") from None
    if len(values) != rois * 4:
        raise RuleError(f"RoiAlign '{node.name}': {len(values)} RoI values for {rois} RoIs")
    scale = _f32(node.attr("spatial_scale", 1.0))
    offset = 0.5 if half_pixel else 0.0
    grids = []
    for i in range(rois):
        x1, y1, x2, y2 = (_f32(v) for v in values[4 * i: 4 * i + 4])
        height = _f32(_f32(_f32(y2 * scale) - offset) - _f32(_f32(y1 * scale) - offset))
        width = _f32(_f32(_f32(x2 * scale) - offset) - _f32(_f32(x1 * scale) - offset))
        if not half_pixel:
            height, width = max(height, 1.0), max(width, 1.0)
        s_h, s_w = ceil(_f32(height / oh)), ceil(_f32(width / ow))
        grids.append((max(s_h, 0), max(s_w, 0)))  # a non-positive grid samples nothing
    return grids


@rule("RoiAlign")
def roi_align(node: Node) -> Cost:
    """Per RoI: setup + 6·(oh·s_h + ow·s_w) + 4·oh·ow·S; per output: 8S (avg) or
    8S − 1 (max); S = s_h·s_w sample points per bin.

    s_h = s_w = sampling_ratio when it is positive; with sampling_ratio = 0 it is
    ⌈roi_h/oh⌉ and ⌈roi_w/ow⌉ per RoI, computed when the RoIs are a constant and reported
    unresolved otherwise (the count depends on their values).
    Setup per RoI: 4 multiplies by spatial_scale, 2 extents, 2 bin sizes and 2 sample
    steps (divides) = 10, plus 4 half-pixel subtracts (half_pixel) or 2 min-size-1 maxes
    (output_half_pixel, and opset 10), plus 2 divides and 2 ceils when adaptive.
    Per sample coordinate, separable by axis (oh·s_h rows, ow·s_w columns): position
    (multiply, add), clamp at 0, floor, fraction, complement = 6. Per sample point the 4
    bilinear weights are products (4), shared by all channels.
    Per output: each sample blends 4 taps (4 multiplies, 3 adds = 7); avg adds the S
    samples (S − 1) and divides (1): 8S; max takes the max of the 4 weighted taps
    (as ONNX's reference: 4 multiplies, 3 compares) and of the S samples (S − 1): 8S − 1.
    Samples falling outside the map are zeroed by an index test, counted as any other.
    """
    x, rois, y = node.shape(0), node.shape(1), node.out_shape(0)
    oh, ow = node.attr("output_height", 1), node.attr("output_width", 1)
    if len(x) != 4 or len(rois) != 2 or rois[1] != 4 or tuple(y) != (rois[0], x[1], oh, ow):
        raise RuleError(f"RoiAlign '{node.name}': input {x}, rois {rois} and output {y} "
                        f"do not fit (rois must be (R, 4), the output (R, C, "
                        f"output_height, output_width))")
    mode = node.attr("mode", "avg")
    if mode not in ("avg", "max"):
        raise RuleError(f"RoiAlign '{node.name}': unknown mode '{mode}'")
    transform = node.attr("coordinate_transformation_mode", "output_half_pixel")
    if transform not in ("half_pixel", "output_half_pixel"):
        raise RuleError(f"RoiAlign '{node.name}': unknown coordinate_transformation_mode "
                        f"'{transform}'")
    half_pixel = transform == "half_pixel"
    adaptive = node.attr("sampling_ratio", 0) <= 0
    setup = 10 + (4 if half_pixel else 2) + (4 if adaptive else 0)
    channels, bins = x[1], oh * ow
    flops = 0
    for s_h, s_w in _roi_grids(node, rois[0], oh, ow, half_pixel):
        samples = s_h * s_w
        blend = 8 * samples if mode == "avg" else 7 * samples + max(samples - 1, 0)
        flops += setup + 6 * (oh * s_h + ow * s_w) + 4 * bins * samples
        flops += channels * bins * blend
    return Cost(flops=flops)


@rule("DeformConv", dot_product=True)
def deform_conv(node: Node) -> Cost:
    """MACs = N·oC·∏out·(C/group)·∏kernel, exactly as Conv; FLOPs = Conv's (2n − 1 per
    output, +1 with the bias B) + sampling.

    Sampling is the r-linear interpolation of the input at offset positions. Per sampling
    position, P = N·offset_group·∏kernel·∏out of them (one per offset group, kernel tap
    and output location, shared by the C/offset_group channels of the group): per axis
    the offset add, floor, fraction and complement (4r), and the 2^r·(r−1) tap-weight
    products. Per sampled value, V = N·C·∏kernel·∏out of them (per input channel, not per
    output channel: the oC/group output channels of a group reuse it): the blend,
    2^r multiplies and 2^r − 1 adds, and one multiply by the mask when the mask input is
    present. Out-of-image taps read 0 by an index test.
    """
    x, w, offset, y = node.shape(0), node.shape(1), node.shape(2), node.out_shape(0)
    group, offset_group = node.attr("group", 1), node.attr("offset_group", 1)
    r = len(x) - 2
    taps, out = prod(w[2:]), y[2:]
    if (r < 1 or len(w) != len(x) or len(y) != len(x) or x[1] != w[1] * group
            or w[0] % group or x[1] % offset_group or tuple(y[:2]) != (x[0], w[0])
            or tuple(offset) != (x[0], offset_group * taps * r, *out)):
        raise RuleError(f"DeformConv '{node.name}': input {x}, weight {w}, offset {offset} "
                        f"and output {y} do not fit group={group}, "
                        f"offset_group={offset_group}")
    masked = node.has_input(4)
    if masked and tuple(node.shape(4)) != (x[0], offset_group * taps, *out):
        raise RuleError(f"DeformConv '{node.name}': mask {node.shape(4)} does not fit "
                        f"(N, offset_group·∏kernel, *out) = {(x[0], offset_group * taps, *out)}")
    n, outputs = w[1] * taps, prod(y)
    flops = (2 * n - 1) * outputs + (outputs if node.has_input(3) else 0)
    positions = x[0] * offset_group * taps * prod(out)
    values = x[0] * x[1] * taps * prod(out)
    weights, blend = _location_and_blend("linear", r)
    flops += positions * (r + weights)               # the offset add per axis, then the weights
    flops += values * (blend + (1 if masked else 0))
    return Cost(macs=n * outputs, flops=flops)


def _fold_axis(size: int, block: int, stride: int, pad: int, dilation: int,
               blocks: int) -> tuple[int, int]:
    """(block elements landing inside the image, image positions receiving at least one)
    along one axis. Block l's tap k lands at v − pad with v = l·stride + k·dilation; write
    k·dilation = q·stride + ρ: tap k covers the run j ∈ [q, q + blocks) of the positions
    v = j·stride + ρ of residue ρ, of which j ∈ [lo_ρ, hi_ρ] lie inside the image. Landed
    elements sum the clipped runs; covered positions merge the runs of each residue."""
    landed = 0
    runs: dict[int, list[tuple[int, int]]] = {}
    for k in range(block):                                  # a loop over taps, not elements
        q, rho = divmod(k * dilation, stride)
        lo, hi = -((rho - pad) // stride), (pad + size - 1 - rho) // stride
        start, stop = max(q, lo), min(q + blocks - 1, hi)
        if start <= stop:
            landed += stop - start + 1
            runs.setdefault(rho, []).append((start, stop))
    covered = 0
    for spans in runs.values():
        end = None
        for start, stop in sorted(spans):
            if end is not None and start <= end:
                covered += max(stop - end, 0)
                end = max(end, stop)
            else:
                covered += stop - start + 1
                end = stop
    return landed, covered


def _factorisations(n: int, parts: int) -> list[tuple[int, ...]]:
    """Every ordered tuple of ``parts`` positive ints whose product is n."""
    if parts == 1:
        return [(n,)]
    small = [d for d in range(1, isqrt(n) + 1) if n % d == 0]
    divisors = sorted({*small, *(n // d for d in small)})
    return [(d, *rest) for d in divisors for rest in _factorisations(n // d, parts - 1)]


#: at most this many block shapes are tried when block_shape is not a constant
_BLOCK_CANDIDATES = 4096


@rule("Col2Im")
def col2im(node: Node) -> Cost:
    """FLOPs = N·C·(∏landed − ∏covered); 0 MACs.

    Col2Im sums overlapping blocks: an image position that receives m values costs m − 1
    adds (one value is a copy, none leaves the zero). Summed over the image, that is the
    block elements that land inside the image minus the positions they reach; elements
    that land in the padding are dropped. Blocks form the product of per-axis block
    grids, so both counts factor into per-axis counts (computed per kernel tap and
    residue class of the stride, in closed form).

    image_shape is read from its constant or the output shape. When block_shape is not a
    constant, every block shape whose product is input[1]/C and whose block grid has
    input[2] blocks is tried: the cost is reported when they all agree, and the node is
    unresolved otherwise.
    """
    x, y = node.shape(0), node.out_shape(0)
    image = tuple(node.values[1]) if 1 in node.values else tuple(y[2:])
    r = len(image)
    strides = tuple(node.attr("strides", ()) or (1,) * r)
    dilations = tuple(node.attr("dilations", ()) or (1,) * r)
    pads = tuple(node.attr("pads", ()) or (0,) * (2 * r))
    if (len(x) != 3 or len(y) != r + 2 or r < 1 or y[0] != x[0] or y[1] <= 0
            or x[1] % y[1] or tuple(y[2:]) != image or len(strides) != r
            or len(dilations) != r or len(pads) != 2 * r):
        raise RuleError(f"Col2Im '{node.name}': input {x}, image_shape {image} and output "
                        f"{y} do not fit")
    block_size = x[1] // y[1]
    if 2 in node.values:
        blocks = [tuple(node.value(2))]
        if len(blocks[0]) != r or prod(blocks[0]) != block_size:
            raise RuleError(f"Col2Im '{node.name}': block_shape {blocks[0]} does not fit "
                            f"input {x} and output {y}")
    else:
        blocks = _factorisations(block_size, r)
        if len(blocks) > _BLOCK_CANDIDATES:
            raise ValueUnknown(f"Col2Im '{node.name}': block_shape is not a constant")
    costs = set()
    for block in blocks:
        grid = [(size + pads[i] + pads[i + r] - dilations[i] * (block[i] - 1) - 1)
                // strides[i] + 1 for i, size in enumerate(image)]
        if min(grid) <= 0 or prod(grid) != x[2]:
            continue
        landed, covered = zip(*(_fold_axis(image[i], block[i], strides[i], pads[i],
                                           dilations[i], grid[i]) for i in range(r)),
                              strict=True)
        costs.add(x[0] * y[1] * (prod(landed) - prod(covered)))
    if not costs:
        raise RuleError(f"Col2Im '{node.name}': no block_shape of input {x} gives "
                        f"{x[2]} blocks on image {image} with these strides, pads, dilations")
    if len(costs) > 1:
        raise ValueUnknown(f"Col2Im '{node.name}': block_shape is not a constant and the "
                           f"shapes admit block shapes of different cost")
    return Cost(flops=costs.pop())


@rule("CenterCropPad")
def center_crop_pad(node: Node) -> Cost:
    """0 FLOPs: a centred crop and/or zero pad is data movement."""
    return Cost()
