"""Reductions and selections along axes: Reduce*, ArgMax/ArgMin, TopK, CumSum, NonZero.

The reduced extent r of a Reduce op is in_elements / out_elements, which holds with or
without ``keepdims`` and whether the axes come as an attribute or an input.
"""

from __future__ import annotations

from math import ceil, log2, prod

from flopscope.graph import Node
from flopscope.rules.registry import Cost, rule


def _reduced(node: Node) -> tuple[int, int]:
    """(r, outputs): elements folded into each output, and the output count."""
    total, outputs = prod(node.shape(0)), node.out_numel()
    return (total // outputs if outputs else 0), outputs


def _reduce(op: str, per_output: str, flops_of_r) -> None:
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


@rule("CumSum")
def cum_sum(node: Node) -> Cost:
    """Running sum along ``axis``: n−1 adds per row of n."""
    (axis,) = node.value(1)
    n = _axis_extent(node, int(axis))
    total = prod(node.shape(0))
    return Cost(flops=total - (total // n if n else 0))


@rule("NonZero")
def non_zero(node: Node) -> Cost:
    """One compare per input element."""
    return Cost(flops=prod(node.shape(0)))
