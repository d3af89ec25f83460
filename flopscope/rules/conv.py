"""Convolutions: Conv (1/2/3-D, grouped, depthwise, dilated) and ConvTranspose."""

from __future__ import annotations

from math import prod

from flopscope.graph import Node, RuleError
from flopscope.rules.registry import Cost, rule


@rule("Conv", dot_product=True)
def conv(node: Node) -> Cost:
    """MACs = N·Cout·∏out_spatial·(Cin/groups)·∏kernel.

    Each output is a dot product of n = (Cin/groups)·∏kernel terms: n multiplies and
    n−1 adds, so 2n−1 FLOPs, plus one add when there is a bias. Depthwise is
    groups = Cin; dilation widens the receptive field but not the cost.

    >>> # 3x3 conv, 64 -> 128 channels, 112x112 output: the notes' 924,844,032 MACs
    """
    x, w, y = node.shape(0), node.shape(1), node.out_shape(0)
    group = node.attr("group", 1)
    if len(x) < 3 or len(w) != len(x) or x[1] != w[1] * group:
        raise RuleError(f"Conv '{node.name}': input {x} does not fit weight {w} "
                        f"with group={group}")
    per_output = w[1] * prod(w[2:])          # (Cin/groups)·∏kernel
    outputs = prod(y)                          # N·Cout·∏out_spatial
    flops = max(2 * per_output - 1, 0) * outputs
    if node.has_input(2):
        flops += outputs
    return Cost(macs=per_output * outputs, flops=flops)


@rule("ConvTranspose", dot_product=True)
def conv_transpose(node: Node) -> Cost:
    """MACs = N·Cin·∏in_spatial·(Cout/groups)·∏kernel; FLOPs = 2·MACs (+1 per output with bias).

    Every input element is scattered, multiplied by a (Cout/groups)·∏kernel block of the
    weight, into the output, where the products are accumulated.
    """
    x, w = node.shape(0), node.shape(1)
    if len(x) < 3 or len(w) != len(x) or x[1] != w[0]:
        raise RuleError(f"ConvTranspose '{node.name}': input {x} does not fit weight {w}")
    macs = prod(x) * prod(w[1:])              # (N·Cin·∏in)·((Cout/groups)·∏kernel)
    flops = 2 * macs
    if node.has_input(2):
        flops += node.out_numel()
    return Cost(macs=macs, flops=flops)
