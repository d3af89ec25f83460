"""Activations: the softmax family, and the pointwise nonlinearities whose rule is more
than their table price per element (Swish, Gelu, Clip). Relu, Sigmoid, Tanh and the other
plain ones are priced and registered from ``rules/constants.py`` alone."""

from __future__ import annotations

from math import prod

from flopscope.graph import Node
from flopscope.rules.constants import per_element
from flopscope.rules.registry import Cost, rule


@rule("Swish")
def swish(node: Node) -> Cost:
    """x·sigmoid(alpha·x): the table's Swish per element (sigmoid, multiply by x), and
    one multiply more for alpha·x when alpha is not 1 (SiLU is alpha = 1)."""
    scaled = node.attr("alpha", 1.0) != 1.0
    return Cost(flops=(per_element("Swish") + scaled) * node.out_numel())


@rule("Gelu")
def gelu(node: Node) -> Cost:
    """Gelu: exact (erf) form or, with approximate='tanh', the tanh form; see the table."""
    key = "Gelu.tanh" if node.attr("approximate", "none") == "tanh" else "Gelu"
    return Cost(flops=per_element(key) * node.out_numel())


@rule("Clip")
def clip(node: Node) -> Cost:
    """Clip: one compare per bound per element. Before opset 11 both bounds always apply."""
    bounds = 2 if node.opset and node.opset < 11 else node.has_input(1) + node.has_input(2)
    return Cost(flops=bounds * per_element("Clip") * node.out_numel())


def softmax_rows(node: Node) -> tuple[int, int]:
    """(rows, row length) of a softmax-like op, with the opset's axis semantics.

    Before opset 13 the input is coerced to 2-D at ``axis`` (default 1); from 13 on the
    op runs along the single dimension ``axis`` (default −1).
    """
    shape = node.shape(0)
    if not shape:
        return 1, 1
    legacy = bool(node.opset) and node.opset < 13
    axis = node.attr("axis", 1 if legacy else -1)
    axis += len(shape) if axis < 0 else 0
    n = prod(shape[axis:]) if legacy else shape[axis]
    return (prod(shape) // n if n else 0), n


@rule("Softmax")
def softmax(node: Node) -> Cost:
    """Numerically stable softmax over rows of n: max (n−1 compares), subtract (n),
    exp (n), sum (n−1 adds), divide (n): 5n−2 FLOPs per row."""
    rows, n = softmax_rows(node)
    return Cost(flops=rows * max(5 * n - 2, 0))


def log_softmax_flops(rows: int, n: int) -> int:
    """max (n−1), subtract (n), exp (n), sum (n−1), log (1), subtract (n): 5n−1 per row."""
    return rows * max(5 * n - 1, 0)


@rule("LogSoftmax")
def log_softmax(node: Node) -> Cost:
    """max (n−1), subtract (n), exp (n), sum (n−1), log (1), subtract (n): 5n−1 per row."""
    return Cost(flops=log_softmax_flops(*softmax_rows(node)))


@rule("Hardmax")
def hardmax(node: Node) -> Cost:
    """Arg-max of each row: n−1 compares per row."""
    rows, n = softmax_rows(node)
    return Cost(flops=rows * max(n - 1, 0))
