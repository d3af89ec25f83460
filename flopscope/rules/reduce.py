"""Reductions and selections along axes: Reduce*, ArgMax/ArgMin, TopK, CumSum, CumProd,
NonZero, and PyTorch's histogram (``histc``).

The reduced extent r of a Reduce op is in_elements / out_elements, which holds with or
without ``keepdims`` and whether the axes come as an attribute or an input.
"""

from __future__ import annotations

from collections.abc import Callable
from math import ceil, log2, prod

from flopscope.graph import FLOPSCOPE_DOMAIN, Node, RuleError, ValueUnknown
from flopscope.rules.registry import Cost, rule


def _reduced(node: Node) -> tuple[int, int]:
    """(r, outputs): elements folded into each output, and the output count."""
    total, outputs = prod(node.shape(0)), node.out_numel()
    return (total // outputs if outputs else 0), outputs


def _reduce(op: str, per_output: str, flops_of_r: Callable[[int], int]) -> None:
    def cost(node: Node) -> Cost:
        r, outputs = _reduced(node)
        return Cost(flops=max(flops_of_r(r), 0) * outputs if r else 0)
    cost.__name__ = cost.__qualname__ = f"reduce_{op}"
    cost.__doc__ = f"{op}: {per_output} FLOPs per output, r = elements reduced into it."
    rule(op)(cost)


_reduce("ReduceSum", "r−1 adds:", lambda r: r - 1)
_reduce("ReduceMean", "r−1 adds and a divide: r", lambda r: r)
_reduce("ReduceMax", "r−1 compares:", lambda r: r - 1)
_reduce("ReduceMin", "r−1 compares:", lambda r: r - 1)
_reduce("ReduceProd", "r−1 multiplies:", lambda r: r - 1)
_reduce("ReduceL1", "r abs and r−1 adds: 2r−1", lambda r: 2 * r - 1)
_reduce("ReduceL2", "r squares, r−1 adds, a sqrt: 2r", lambda r: 2 * r)
_reduce("ReduceSumSquare", "r squares and r−1 adds: 2r−1", lambda r: 2 * r - 1)
_reduce("ReduceLogSum", "r−1 adds and a log: r", lambda r: r)
_reduce("ReduceLogSumExp", "r exps, r−1 adds, a log: 2r", lambda r: 2 * r)
_reduce("ArgMax", "r−1 compares:", lambda r: r - 1)
_reduce("ArgMin", "r−1 compares:", lambda r: r - 1)


def _axis_extent(node: Node, axis: int) -> int:
    shape = node.shape(0)
    return shape[axis + len(shape) if axis < 0 else axis]


@rule("TopK")
def top_k(node: Node) -> Cost:
    """Selection of k of n per row with a k-heap: n·⌈log2(k+1)⌉ compares per row.

    An estimate by design (the exact count depends on the kernel); 0 when k = 0.
    """
    k = node.out_shape(0)[node.attr("axis", -1)]
    n = _axis_extent(node, node.attr("axis", -1))
    rows = prod(node.shape(0)) // n if n else 0
    return Cost(flops=rows * n * ceil(log2(k + 1)) if k else 0)


@rule("Histogram", domain=FLOPSCOPE_DOMAIN)
def histogram(node: Node) -> Cost:
    """``torch.histc``: per element, two compares (inside [min, max]), a subtract and a
    multiply (its bin, (x − min)·bins/(max − min), the scale a constant) and the count's
    add: 5 FLOPs per element."""
    return Cost(flops=5 * prod(node.shape(0)))


def _running(node: Node) -> int:
    """Operations of a running sum or product along ``axis``: per row of n, n−1; n−2
    when ``exclusive``.

    Inclusive: y₀ = x₀ (a copy), then yᵢ = yᵢ₋₁ ∘ xᵢ: n−1 operations. Exclusive: y₀ is
    the identity (a constant) and y₁ = x₀ (a copy), then yᵢ = yᵢ₋₁ ∘ xᵢ₋₁: n−2 (0 for
    n ≤ 2). ``reverse`` only runs the same recurrence from the other end. The count
    depends on the axis only through n, so an axis that is not a known constant is no
    obstacle when every dim has the same extent (a 1-D input above all).
    """
    shape = node.shape(0)
    if not shape:
        raise RuleError(f"{node.op} '{node.name}': input must have rank >= 1")
    try:
        (axis,) = node.value(1)
    except ValueUnknown:
        if len(set(shape)) != 1:
            raise
        axis = 0
    axis = int(axis)
    if not -len(shape) <= axis < len(shape):
        raise RuleError(f"{node.op} '{node.name}': axis {axis} is out of range for rank {len(shape)}")
    n = _axis_extent(node, axis)
    rows = prod(shape) // n if n else 0
    per_row = n - 2 if node.attr("exclusive", 0) else n - 1
    return rows * max(per_row, 0)


@rule("CumSum")
def cum_sum(node: Node) -> Cost:
    """Running sum along ``axis``: n−1 adds per row of n, n−2 when ``exclusive`` (see
    :func:`_running`)."""
    return Cost(flops=_running(node))


@rule("CumProd")
def cum_prod(node: Node) -> Cost:
    """Running product along ``axis``: n−1 multiplies per row of n, n−2 when
    ``exclusive`` (see :func:`_running`)."""
    return Cost(flops=_running(node))


@rule("NonZero")
def non_zero(node: Node) -> Cost:
    """One compare per input element."""
    return Cost(flops=prod(node.shape(0)))
