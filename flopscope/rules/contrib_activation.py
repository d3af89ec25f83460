"""ONNX Runtime's activation kernels (``com.microsoft``): Gelu, FastGelu, BiasGelu,
QuickGelu, BiasAdd, BiasSoftmax, BiasSplitGelu; and the experimental elementwise ops onnx
dropped that ORT still runs in the default domain: Scale, Affine, ImageScaler, ScaledTanh,
ParametricSoftplus.

Each is the standard formula priced from the table (``rules/constants.py``), plus one add
per element for a fused bias: Gelu (erf form) 5 per element, FastGelu (tanh form) 9,
QuickGelu = x·sigmoid(alpha·x) = Swish + the alpha multiply. Softmax-like rows cost 5n−2
as the standard Softmax rule derives.
"""

from __future__ import annotations

from math import prod

from flopscope.graph import Node
from flopscope.rules.constants import per_element
from flopscope.rules.registry import Cost, rule

MS = "com.microsoft"


@rule("Gelu", domain=MS)
def ms_gelu(node: Node) -> Cost:
    """0.5·x·(1 + erf(x/√2)): the table's Gelu per element."""
    return Cost(flops=per_element("Gelu") * node.out_numel())


@rule("BiasGelu", domain=MS)
def bias_gelu(node: Node) -> Cost:
    """Gelu(x + bias): one add, then the table's Gelu, per element."""
    return Cost(flops=(1 + per_element("Gelu")) * node.out_numel())


@rule("FastGelu", domain=MS)
def fast_gelu(node: Node) -> Cost:
    """The tanh approximation of Gelu (the table's Gelu.tanh) per element, plus one add per
    element when the optional bias (input 1) is fused in."""
    return Cost(flops=(per_element("Gelu.tanh") + node.has_input(1)) * node.out_numel())


@rule("QuickGelu", domain=MS)
def quick_gelu(node: Node) -> Cost:
    """x·sigmoid(alpha·x), alpha 1.702 by default: the table's Swish (sigmoid, multiply by
    x) and one multiply for alpha·x unless alpha is 1."""
    scaled = node.attr("alpha", 1.702) != 1.0
    return Cost(flops=(per_element("Swish") + scaled) * node.out_numel())


@rule("BiasAdd", domain=MS)
def bias_add(node: Node) -> Cost:
    """X + bias + skip: two adds per element."""
    return Cost(flops=2 * node.out_numel())


@rule("BiasSoftmax", domain=MS)
def bias_softmax(node: Node) -> Cost:
    """softmax(data + bias) over the dims from ``axis`` (default 1) on, flattened: one add
    per element, then 5n−2 per row of n (max, subtract, exp, sum, divide)."""
    x = node.shape(0)
    axis = node.attr("axis", 1)
    axis += len(x) if axis < 0 else 0
    n = prod(x[axis:])
    rows = prod(x) // n if n else 0
    return Cost(flops=prod(x) + rows * max(5 * n - 2, 0))


@rule("BiasSplitGelu", domain=MS)
def bias_split_gelu(node: Node) -> Cost:
    """X (N, S, D) + bias (D), split in halves a, b along D, out = a·Gelu(b) (N, S, D/2):
    D adds per row of X (2 per output), then Gelu and a multiply per output."""
    return Cost(flops=(2 + per_element("Gelu") + 1) * node.out_numel())


@rule("Scale")
def scale(node: Node) -> Cost:
    """x · scale: one multiply per element."""
    return Cost(flops=node.out_numel())


@rule("Affine", "ImageScaler")
def affine(node: Node) -> Cost:
    """alpha·x + beta (ImageScaler: scale·x + bias[c]): a multiply and an add per element."""
    return Cost(flops=2 * node.out_numel())


@rule("ScaledTanh")
def scaled_tanh(node: Node) -> Cost:
    """alpha·tanh(beta·x): the table's Tanh and two multiplies per element."""
    return Cost(flops=(per_element("Tanh") + 2) * node.out_numel())


@rule("ParametricSoftplus")
def parametric_softplus(node: Node) -> Cost:
    """alpha·ln(1 + exp(beta·x)): the table's Softplus and two multiplies per element."""
    return Cost(flops=(per_element("Softplus") + 2) * node.out_numel())
