"""ONNX Runtime's normalisation kernels: SkipLayerNormalization,
SkipSimplifiedLayerNormalization, SimplifiedLayerNormalization (RMSNorm, in the default
domain as ORT registers it), EmbedLayerNormalization, GroupNorm and SkipGroupNorm.

Each is the fused adds (one per element per extra term: skip, bias) followed by the
standard normalisation, costed by ``rules/norm.py``'s helpers: LayerNorm 5r+3 per row of r
and its affine step per element, RMSNorm 4r+3 per row.
"""

from __future__ import annotations

from dataclasses import replace
from math import prod

from flopscope.graph import Node, RuleError
from flopscope.rules.constants import per_element
from flopscope.rules.norm import _normalise, rms_norm
from flopscope.rules.registry import Cost, rule

MS = "com.microsoft"


def _rows(node: Node) -> tuple[int, int]:
    """(rows, hidden) of a (..., hidden) input normalised over its last dim."""
    x = node.shape(0)
    if not x:
        raise RuleError(f"{node.op} '{node.name}': scalar input")
    return prod(x[:-1]), x[-1]


@rule("SkipLayerNormalization", domain=MS)
def skip_layer_norm(node: Node) -> Cost:
    """LayerNorm(input + skip + bias) over the hidden dim, gamma (input 2), beta (input 3),
    bias (input 4): 1 add per element for skip, 1 more with bias, then 5r+3 per row and
    the affine step (scale, and shift with beta) per element."""
    rows, r = _rows(node)
    adds = (1 + node.has_input(4)) * rows * r
    return Cost(flops=adds + _normalise(rows, r, 1 + node.has_input(3)))


@rule("SkipSimplifiedLayerNormalization", domain=MS)
def skip_simplified_layer_norm(node: Node) -> Cost:
    """RMSNorm(input + skip + bias), gamma (input 2), bias (input 3): the adds per element,
    then RMSNormalization's 4r+3 per row of r."""
    rows, r = _rows(node)
    adds = (1 + node.has_input(3)) * rows * r
    return Cost(flops=adds + rms_norm(replace(node, attrs={"axis": -1})).flops)


@rule("SimplifiedLayerNormalization")
def simplified_layer_norm(node: Node) -> Cost:
    """RMSNorm over the dims from ``axis`` (default −1) on: RMSNormalization's cost."""
    return rms_norm(node)


@rule("EmbedLayerNormalization", domain=MS)
def embed_layer_norm(node: Node) -> Cost:
    """Word + position (+ segment, when input 1 is given) embeddings gathered and summed,
    then LayerNorm with gamma and beta: 1 or 2 adds per element, 5r+3 per row and 2 per
    element for the affine step. The lookups and the mask index are data movement."""
    ids = node.shape(0)
    hidden = node.out_shape(0)[-1]
    rows = prod(ids)
    adds = (1 + node.has_input(1)) * rows * hidden
    return Cost(flops=adds + _normalise(rows, hidden, 2))


def _group_norm(node: Node, adds: int) -> Cost:
    """GroupNorm on channels-last X (N, H, W, C) in ``groups`` groups, gamma and beta:
    5r+3 per (n, group) of r = H·W·C/groups, the affine step (2 per element), and
    ``activation`` = 1 adds a Swish per element."""
    x = node.shape(0)
    groups = node.attr("groups", 0)
    if len(x) < 3 or groups <= 0 or x[-1] % groups:
        raise RuleError(f"{node.op} '{node.name}': input {x} cannot be split into {groups} groups")
    elements = prod(x)
    swish = per_element("Swish") * elements if node.attr("activation", 0) else 0
    return Cost(flops=adds * elements + _normalise(x[0] * groups, elements // (x[0] * groups), 2) + swish)


@rule("GroupNorm", domain=MS)
def group_norm(node: Node) -> Cost:
    """See :func:`_group_norm`; no fused adds."""
    return _group_norm(node, 0)


@rule("SkipGroupNorm", domain=MS)
def skip_group_norm(node: Node) -> Cost:
    """GroupNorm(X + skip + bias): one add per element for skip (input 3), one more for the
    bias (input 4), then :func:`_group_norm`."""
    return _group_norm(node, 1 + node.has_input(4))
