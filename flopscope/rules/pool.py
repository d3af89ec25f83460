"""Pooling: max, average and Lp, windowed and global; and PyTorch's adaptive pooling,
which ONNX lacks, as flopscope's own ops (``ai.flopscope.AdaptiveAveragePool``)."""

from __future__ import annotations

from math import prod

from flopscope.graph import FLOPSCOPE_DOMAIN, Node
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


def _adaptive_window_sum(size: int, out: int) -> int:
    """Σ of PyTorch's adaptive window lengths along one axis: output i pools the input
    from ⌊i·size/out⌋ to ⌈(i+1)·size/out⌉ (windows overlap when out does not divide size)."""
    return sum(-((-(i + 1) * size) // out) - (i * size) // out for i in range(out))


def _adaptive_elements(node: Node) -> int:
    """Σ over every output of its window's size: the windows are products of per-axis
    ranges, so the sum factors into the per-axis sums (times N·C)."""
    x, y = node.shape(0), node.out_shape(0)
    windows = prod(_adaptive_window_sum(i, o) for i, o in zip(x[2:], y[2:], strict=True))
    return prod(x[:2]) * windows


@rule("AdaptiveAveragePool", domain=FLOPSCOPE_DOMAIN)
def adaptive_average_pool(node: Node) -> Cost:
    """PyTorch's adaptive average pooling where the sizes do not divide (the PyTorch
    frontend emits plain or global pooling otherwise; ONNX has no such op). Per output:
    k−1 adds and one divide over its own window of k elements: Σ k FLOPs."""
    return Cost(flops=_adaptive_elements(node))


@rule("AdaptiveMaxPool", domain=FLOPSCOPE_DOMAIN)
def adaptive_max_pool(node: Node) -> Cost:
    """As AdaptiveAveragePool, with k−1 compares per output: Σ k − outputs FLOPs."""
    return Cost(flops=_adaptive_elements(node) - node.out_numel())
