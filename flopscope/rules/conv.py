"""Convolutions: Conv (1/2/3-D, grouped, depthwise, dilated), ConvTranspose, and the
quantised ConvInteger and QLinearConv."""

from __future__ import annotations

from math import prod

from flopscope.graph import Node, RuleError
from flopscope.rules.constants import per_element
from flopscope.rules.registry import Cost, rule


def _conv(node: Node, weight: int) -> tuple[int, int]:
    """(n, outputs) of a convolution whose weight is input ``weight``: each output is a
    dot product of n = (Cin/groups)·∏kernel terms."""
    x, w, y = node.shape(0), node.shape(weight), node.out_shape(0)
    group = node.attr("group", 1)
    if len(x) < 3 or len(w) != len(x) or x[1] != w[1] * group:
        raise RuleError(f"{node.op} '{node.name}': input {x} does not fit weight {w} "
                        f"with group={group}")
    return w[1] * prod(w[2:]), prod(y)             # (Cin/groups)·∏kernel, N·Cout·∏out


@rule("Conv", dot_product=True)
def conv(node: Node) -> Cost:
    """MACs = N·Cout·∏out_spatial·(Cin/groups)·∏kernel.

    Each output is a dot product of n = (Cin/groups)·∏kernel terms: n multiplies and
    n−1 adds, so 2n−1 FLOPs, plus one add when there is a bias. Depthwise is
    groups = Cin; dilation widens the receptive field but not the cost.

    >>> # 3x3 conv, 64 -> 128 channels, 112x112 output: the notes' 924,844,032 MACs
    """
    n, outputs = _conv(node, 1)
    flops = max(2 * n - 1, 0) * outputs
    if node.has_input(2):
        flops += outputs
    return Cost(macs=n * outputs, flops=flops)


@rule("ConvInteger", dot_product=True)
def conv_integer(node: Node) -> Cost:
    """Integer convolution (x, w, zero points): Conv's MACs; 2n−1 integer operations per
    output (the zero points are subtracted per input element by the kernel, not counted)."""
    n, outputs = _conv(node, 1)
    return Cost(macs=n * outputs, flops=max(2 * n - 1, 0) * outputs)


@rule("QLinearConv", dot_product=True)
def qlinear_conv(node: Node) -> Cost:
    """Quantised convolution (x, x_scale, x_zp, w, w_scale, w_zp, y_scale, y_zp, B):
    Conv's MACs; 2n−1 per output, 1 more with the bias, then requantisation priced as
    QuantizeLinear per output."""
    n, outputs = _conv(node, 3)
    flops = max(2 * n - 1, 0) * outputs + (outputs if node.has_input(8) else 0)
    return Cost(macs=n * outputs, flops=flops + per_element("QuantizeLinear") * outputs)


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
