"""Backward ops: the gradients autograd computes, costed from the same one-FLOP primitives.

These are flopscope's own ops (domain ``ai.flopscope``): the PyTorch frontend records
them from the ATen ops that ``backward()`` runs (:mod:`flopscope.frontends.aten_backward`).
Products that autograd does not compute are not costed: a ``ConvGrad`` node carries the
``output_mask`` of ``convolution_backward`` (grad-input, grad-weight, grad-bias), which
is False for the grad-input of a layer whose input needs no gradient (the first layer)
and for the grad-weight of a frozen parameter. The backward products of Linear layers
and attention are plain ``mm``/``bmm`` calls, costed by the MatMul rule.

Per-element prices of pointwise gradients (``dy`` is the incoming gradient, ``y`` the
forward output, ``x`` its input), one FLOP per add, subtract, multiply, divide, exp,
erf, compare:
"""

from __future__ import annotations

from collections.abc import Mapping
from math import prod
from types import MappingProxyType

from flopscope.graph import FLOPSCOPE_DOMAIN, Node, RuleError
from flopscope.rules.registry import Cost, rule

#: FLOPs per element of the gradient each pointwise backward op writes
GRAD_FLOPS_PER_ELEMENT: Mapping[str, int] = MappingProxyType({
    "ReluGrad": 1,         # dy where x > threshold else 0: one compare (select)
    "HardtanhGrad": 2,     # dy where lo < x < hi: two compares
    "LeakyReluGrad": 2,    # compare, multiply by the slope
    "SigmoidGrad": 3,      # dy · y · (1 − y): subtract, two multiplies
    "TanhGrad": 3,         # dy · (1 − y²): square, subtract, multiply
    "SiluGrad": 9,         # s = sigmoid(x) (4); dy · s · (1 + x·(1 − s)): sub, mul, add, 2 mul
    "GeluGrad": 11,        # Φ(x) = (1 + erf(x/√2))/2 (4); φ(x) = exp(−x²/2)/√(2π) (4);
                           # dy · (Φ + x·φ): multiply, add, multiply (3)
    "GeluGrad.tanh": 17,   # u = √(2/π)(x + 0.044715x³) (4), t = tanh(u) (5);
                           # dy·(½(1+t) + ½x(1−t²)·u'), u' = √(2/π)(1 + 3·0.044715x²) (8)
    "DropoutGrad": 2,      # dy · mask · scale: two multiplies
    "SoftmaxGrad": 4,      # y · (dy − Σ dy·y): multiply and add for the sum, subtract, multiply
    "LogSoftmaxGrad": 4,   # dy − exp(y) · Σ dy: add for the sum, exp, multiply, subtract
    "MaxPoolGrad": 1,      # each dy added into the input position its max came from
    "AvgPoolGrad": 1,      # per grad-input element: its share of the window's dy, one add
    "EmbeddingGrad": 1,    # each dy row added into its token's row (scatter-add)
})


def _pointwise(op: str) -> None:
    @rule(op, domain=FLOPSCOPE_DOMAIN)
    def grad(node: Node) -> Cost:
        variant = node.attr("variant", "")
        key = f"{op}.{variant}" if variant and f"{op}.{variant}" in GRAD_FLOPS_PER_ELEMENT else op
        return Cost(flops=GRAD_FLOPS_PER_ELEMENT[key] * _written(node, op))

    grad.__doc__ = f"{op}: its price per element (see GRAD_FLOPS_PER_ELEMENT) × elements written."


def _written(node: Node, op: str) -> int:
    """Elements the gradient writes: the grad-input (output 0), except for scatter-adds
    (pooling, embedding), which do one add per incoming gradient element (input 0)."""
    if op in ("MaxPoolGrad", "EmbeddingGrad"):
        return prod(node.shape(0))
    return node.out_numel(0)


for _op in GRAD_FLOPS_PER_ELEMENT:
    if "." not in _op:
        _pointwise(_op)


def conv_forward_macs(node: Node) -> int:
    """MACs of the forward convolution a ``ConvGrad`` node differentiates.

    Inputs are (grad_output, input, weight). The weight is (Cout, Cin/groups, k...) and
    each grad-output element is a dot product of (Cin/groups)·∏k terms; transposed, the
    weight is (Cin, Cout/groups, k...) and each input element is scattered over as many.

    >>> from flopscope.graph import Tensor
    >>> t = lambda s: Tensor("t", s, "float32")
    >>> conv_forward_macs(Node("c", "ConvGrad", (t((1, 8, 4, 4)), t((1, 3, 4, 4)),
    ...                   t((8, 3, 3, 3))), ()))
    3456
    """
    dy, x, w = node.shape(0), node.shape(1), node.shape(2)
    side = x if node.attr("transposed", 0) else dy
    if side[1] != w[0]:
        raise RuleError(f"ConvGrad '{node.name}': {side[1]} channels against a weight of {w[0]} "
                        "filters")
    return prod(side) * prod(w[1:])


@rule("ConvGrad", domain=FLOPSCOPE_DOMAIN, dot_product=True)
def conv_grad(node: Node) -> Cost:
    """``convolution_backward``: each product the ``output_mask`` asks for.

    grad-input and grad-weight are each a convolution with the forward's MACs (M). Their
    FLOPs follow the dot-product convention, (2n−1) per element written: 2M − numel
    (grad-input: every input element; grad-weight: every weight element). grad-bias sums
    the grad-output over batch and space: numel(dy) − C adds.
    """
    macs = conv_forward_macs(node)
    grad_input, grad_weight, grad_bias = (tuple(node.attr("output_mask", (1, 1, 1))) + (0, 0, 0))[:3]
    dy, x, w = node.shape(0), node.shape(1), node.shape(2)
    total_macs = flops = 0
    if grad_input:
        total_macs += macs
        flops += 2 * macs - prod(x)
    if grad_weight:
        total_macs += macs
        flops += 2 * macs - prod(w)
    if grad_bias:
        flops += prod(dy) - dy[1]
    return Cost(macs=total_macs, flops=flops)


def _mask(node: Node) -> tuple[bool, bool, bool]:
    mask = [bool(m) for m in node.attr("output_mask", (1, 1, 1))] + [False, False, False]
    return mask[0], mask[1], mask[2]


@rule("BatchNormGrad", domain=FLOPSCOPE_DOMAIN)
def batch_norm_grad(node: Node) -> Cost:
    """``native_batch_norm_backward`` over x of numel E (per-channel work is left out).

    Training (batch statistics): x̂ = (x − mean)·invstd (2 per element), Σdy (1, needed by
    grad-bias and grad-input), Σdy·x̂ (2, grad-weight and grad-input), grad-input
    = w·invstd·(dy − Σdy/M − x̂·Σdy·x̂/M): subtract, multiply, subtract, multiply, plus the
    two 1/M scalings folded into one multiply (5): 10E with grad-input, 5E without.
    Eval statistics: grad-input = dy·w·invstd (1), grad-weight Σdy·x̂ (2 + 2), grad-bias Σdy (1).
    """
    elements = prod(node.shape(1))
    grad_input, grad_weight, grad_bias = _mask(node)
    if node.attr("training", 1):
        per = 10 if grad_input else (2 + 2 * grad_weight + (grad_bias or grad_weight))
        return Cost(flops=per * elements)
    per = grad_input + 4 * grad_weight + grad_bias
    return Cost(flops=per * elements)


@rule("LayerNormGrad", domain=FLOPSCOPE_DOMAIN)
def layer_norm_grad(node: Node) -> Cost:
    """``native_layer_norm_backward`` over x of numel E (per-row work left out).

    x̂ = (x − mean)·rstd (2 per element); grad-weight Σ dy·x̂ (2); grad-bias Σ dy (1);
    grad-input: g = dy·w (1), Σg (1), Σg·x̂ (2), rstd·(g − Σg/r − x̂·Σg·x̂/r): subtract,
    multiply, subtract, multiply (4), so 8.
    """
    elements = prod(node.shape(1))
    grad_input, grad_weight, grad_bias = _mask(node)
    per = 2 * (grad_input or grad_weight) + 8 * grad_input + 2 * grad_weight + grad_bias
    return Cost(flops=per * elements)


@rule("AttentionGrad", domain=FLOPSCOPE_DOMAIN, dot_product=True)
def attention_grad(node: Node) -> Cost:
    """A fused attention kernel's backward (flash, memory-efficient), which keeps no
    L×S probabilities and so recomputes them. Inputs (dO, Q, K, V): Q (B, H, L, E),
    K (B, H, S, E), V (B, H, S, Ev); n = B·H·L·S scores.

    Products: S = Q·Kᵀ again (n·E MACs), dV = Pᵀ·dO (n·Ev), dP = dO·Vᵀ (n·Ev),
    dQ = dS·K (n·E), dK = dSᵀ·Q (n·E): n·(3E + 2Ev) MACs, each written element a dot
    product ((2k−1) FLOPs). Per score: scale, subtract the log-sum-exp, exp (P: 3),
    dS = P·(dP − D)·scale (3); D = rowsum(dO ⊙ O) is 2·Ev per row.
    """
    b, h, length, e = node.shape(1)
    source, ev = node.shape(3)[2], node.shape(3)[3]
    if node.shape(2)[2] != source:
        raise RuleError(f"AttentionGrad '{node.name}': K has {node.shape(2)[2]} positions, "
                        f"V {source}")
    rows, n = b * h * length, b * h * length * source
    flops = (n * (2 * e - 1)                        # S recomputed
             + b * h * source * ev * (2 * length - 1)    # dV
             + n * (2 * ev - 1)                     # dP
             + rows * 2 * ev                        # D
             + n * 6                                # P from S, dS from dP
             + rows * e * (2 * source - 1)          # dQ
             + b * h * source * e * (2 * length - 1))   # dK
    return Cost(macs=n * (3 * e + 2 * ev), flops=flops)
