"""Normalisations: batch, layer, group, instance, RMS, mean-variance, LRN, Lp.

Statistics over a group of r elements, from one-FLOP primitives:
mean = r−1 adds + 1 divide (r); variance = r subtracts, r squares, r−1 adds, 1 divide
(3r); inverse std = add eps, sqrt, reciprocal (3); normalise = r multiplies by the
inverse std (the centred values are reused). That is 5r + 3 per group, then a
multiply per element for the scale and an add per element for the bias.
"""

from __future__ import annotations

from math import prod

from flopscope.graph import Node, RuleError
from flopscope.rules.constants import per_element
from flopscope.rules.registry import Cost, rule


def _normalise(groups: int, r: int, affine_ops_per_element: int) -> int:
    return groups * (5 * r + 3 + affine_ops_per_element * r)


@rule("BatchNormalization")
def batch_norm(node: Node) -> Cost:
    """Inference: running statistics folded into a scale and a shift, 2 FLOPs per element.

    With ``training_mode=1`` the batch statistics are computed too: per channel over
    r = N·∏spatial elements, 5r+3 FLOPs, plus scale and shift (2 per element).
    """
    x = node.shape(0)
    if node.attr("training_mode", 0):
        channels = x[1] if len(x) > 1 else 1
        return Cost(flops=_normalise(channels, prod(x) // channels if channels else 0, 2))
    return Cost(flops=per_element("BatchNormalization") * prod(x))


@rule("LayerNormalization")
def layer_norm(node: Node) -> Cost:
    """Per row of r = ∏shape[axis:]: 5r+3, then scale (r) and, when given, bias (r)."""
    x = node.shape(0)
    axis = node.attr("axis", -1)
    axis += len(x) if axis < 0 else 0
    r = prod(x[axis:])
    return Cost(flops=_normalise(prod(x[:axis]), r, 1 + node.has_input(2)))


@rule("InstanceNormalization")
def instance_norm(node: Node) -> Cost:
    """Per (n, c) over r = ∏spatial: 5r+3, then scale and bias (2 per element)."""
    x = node.shape(0)
    return Cost(flops=_normalise(x[0] * x[1], prod(x[2:]), 2))


@rule("GroupNormalization")
def group_norm(node: Node) -> Cost:
    """Per (n, group) over r = (C/groups)·∏spatial: 5r+3, then scale and bias."""
    x = node.shape(0)
    groups = node.attr("num_groups")
    return Cost(flops=_normalise(x[0] * groups, prod(x[1:]) // groups, 2))


@rule("MeanVarianceNormalization")
def mean_variance_norm(node: Node) -> Cost:
    """(X − E[X]) / sqrt(E[(X − E[X])²]) over ``axes`` (default [0, 2, 3]), no scale, no bias.

    Per group of r = ∏shape[axes] elements: mean (r), variance (3r), the eps add, sqrt and
    reciprocal (3), normalise (r): 5r+3, as LayerNormalization without its affine step.
    The spec's function adds eps (1e-9) to the std rather than to the variance: the
    same count. Groups = elements / r.
    """
    x = node.shape(0)
    axes = [int(a) for a in node.attr("axes", [0, 2, 3])]
    norm = [a + len(x) if a < 0 else a for a in axes]
    if any(not 0 <= a < len(x) for a in norm) or len(set(norm)) != len(norm):
        raise RuleError(f"MeanVarianceNormalization '{node.name}': axes {axes} do not fit "
                        f"rank {len(x)} (out of range or repeated)")
    r = prod(x[a] for a in norm)
    return Cost(flops=_normalise(prod(x) // r if r else 0, r, 0))


@rule("RMSNormalization")
def rms_norm(node: Node) -> Cost:
    """Per row of r: r squares, r−1 adds, 1 divide (mean), add eps, sqrt, reciprocal,
    r multiplies (3r + 3), then r multiplies for the scale."""
    x = node.shape(0)
    axis = node.attr("axis", -1)
    axis += len(x) if axis < 0 else 0
    r = prod(x[axis:])
    return Cost(flops=prod(x[:axis]) * (4 * r + 3))


@rule("LRN")
def lrn(node: Node) -> Cost:
    """Local response normalisation across channels, exact at the borders.

    For channel c the window holds w_c channels (clipped at the edges): w_c squares and
    w_c−1 adds, then multiply alpha/size, add bias, power beta, divide: 2·w_c+3 FLOPs.
    """
    x = node.shape(0)
    size = node.attr("size")
    if size < 1:
        raise RuleError(f"LRN '{node.name}': size {size} must be >= 1")
    channels = x[1]
    lo, hi = (size - 1) // 2, (size - 1) - (size - 1) // 2
    # sum of w_c over c = sum over offsets d in [-lo, hi] of the channels c with c + d
    # in range: max(0, C - |d|). In closed form, so a huge C or size costs no time.
    windows = _offset_overlap(channels, hi) + _offset_overlap(channels, lo) - channels
    per_position = 2 * windows + 3 * channels
    return Cost(flops=per_position * (prod(x) // channels if channels else 0))


def _offset_overlap(channels: int, n: int) -> int:
    """sum of max(0, channels - d) for d in 0..n."""
    m = min(n, channels - 1)
    return (m + 1) * channels - m * (m + 1) // 2 if m >= 0 else 0


@rule("LpNormalization")
def lp_normalization(node: Node) -> Cost:
    """Per vector of r along ``axis``: L2 = r squares, r−1 adds, a sqrt, r divides
    (3r); L1 = r abs, r−1 adds, r divides (3r−1)."""
    x = node.shape(0)
    axis = node.attr("axis", -1)
    r = x[axis]
    per_vector = 3 * r if node.attr("p", 2) == 2 else 3 * r - 1
    return Cost(flops=(prod(x) // r if r else 0) * per_vector)
