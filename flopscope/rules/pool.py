"""Pooling: max, average and Lp, windowed and global."""

from __future__ import annotations

from math import prod

from flopscope.graph import Node
from flopscope.rules.registry import Cost, rule


def _window(node: Node) -> int:
    return prod(node.attr("kernel_shape", ()))


def _spatial(node: Node) -> int:
    return prod(node.shape(0)[2:])


@rule("MaxPool")
def max_pool(node: Node) -> Cost:
    """k−1 compares per output, k = ∏kernel_shape (dilation does not change k)."""
    return Cost(flops=max(_window(node) - 1, 0) * node.out_numel())


@rule("AveragePool")
def average_pool(node: Node) -> Cost:
    """k−1 adds and one divide per output: k FLOPs per output."""
    return Cost(flops=_window(node) * node.out_numel())


@rule("LpPool")
def lp_pool(node: Node) -> Cost:
    """Per output: k powers, k−1 adds, one root: 2k FLOPs."""
    return Cost(flops=2 * _window(node) * node.out_numel())


@rule("GlobalMaxPool")
def global_max_pool(node: Node) -> Cost:
    """HW−1 compares per (n, c)."""
    return Cost(flops=max(_spatial(node) - 1, 0) * node.out_numel())


@rule("GlobalAveragePool")
def global_average_pool(node: Node) -> Cost:
    """HW−1 adds and one divide per (n, c): HW FLOPs."""
    return Cost(flops=_spatial(node) * node.out_numel())


@rule("GlobalLpPool")
def global_lp_pool(node: Node) -> Cost:
    """Per (n, c): HW powers, HW−1 adds, one root: 2·HW FLOPs."""
    return Cost(flops=2 * _spatial(node) * node.out_numel())
